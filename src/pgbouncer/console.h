// PgBouncer's admin console and its reload, as the push request asks for them: which console
// login the program can make itself, how a server reloads without one, how long a drain may
// pause. Pure: the connection string arrives parsed (pg/conninfo, libpq's parser).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace pgdeploy {

// An admin console that the push program can log in to itself, without starting psql: the unix
// socket's path ("<dir>/.s.PGSQL.<port>"), the user and the database.
struct SocketLogin {
  std::string path, user, dbname;
};

// True when `options` (admin_conninfo, keyword -> value, only those set) sets exactly host (one
// socket directory), port, user and dbname and nothing else: a password, TLS or any other keyword
// is left to psql, which knows them all.
bool socket_login_of(const std::map<std::string, std::string>& options, SocketLogin* out);

// The most PgBouncer processes one app_servers row may list (admin_sockets).
inline constexpr size_t kMaxProcesses = 64;

// The row's admin_sockets: absolute socket directories, one per PgBouncer process on the host,
// separated by commas or white space (e.g. "/run/pgbouncer-1, /run/pgbouncer-2"). False with why
// for a value that cannot name processes: a relative path, "." or ".." in one, a control
// character, a directory named twice, more than kMaxProcesses, or a directory too long for
// "<dir>/.s.PGSQL.<port>" to fit in a unix socket's address. An empty value gives no directory.
bool socket_dirs_of(const std::string& text, std::vector<std::string>* out, std::string* err);

// The reload command when none is given: "" (RELOAD on the console) with an admin console, else
// `service` as root and `sudo -n service` as anyone else (the sudoers line of setup step 4,
// docs/setup.md).
std::string default_reload_command(const std::string& ssh_user, bool console);

// How long a drain may PAUSE: what was asked, at least 1 s and at most half the host's time, so
// that the reload and RESUME still fit in it.
int pause_seconds(int wanted, double host_timeout);

}  // namespace pgdeploy
