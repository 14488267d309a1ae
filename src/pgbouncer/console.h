// PgBouncer's admin console and its reload, as the push request asks for them: which console
// login the program can make itself, how a server reloads without one, how long a drain may
// pause. Pure: the connection string arrives parsed (pg/conninfo, libpq's parser).
#pragma once

#include <map>
#include <string>

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

// The reload command when none is given: "" (RELOAD on the console) with an admin console, else
// `service` as root and `sudo -n service` as anyone else (the sudoers line of setup step 4,
// docs/setup.md).
std::string default_reload_command(const std::string& ssh_user, bool console);

// How long a drain may PAUSE: what was asked, at least 1 s and at most half the host's time, so
// that the reload and RESUME still fit in it.
int pause_seconds(int wanted, double host_timeout);

}  // namespace pgdeploy
