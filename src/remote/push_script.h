// What the agent sends to an app server: one small Perl program, run as the SSH command, and one
// request on its standard input carrying every file. One connection, one channel, one round trip
// for all the work: the program compares, writes atomically, reloads PgBouncer and cuts sessions.
#pragma once

#include <string>
#include <vector>

namespace pgdeploy {

struct RemoteFile {
  std::string path;     // absolute, or "~/name" in the remote user's home
  std::string content;  // the whole file, header line included
  std::string digest;   // of the body, as the header line ends with it
  bool reload = false;  // PgBouncer reads it: a change needs a reload
  bool fence = false;   // carries the fencing token checked before anything is written
};

struct PushRequest {
  std::vector<RemoteFile> files;
  std::string lock_path;       // serialises agents that write to the same server
  int lock_wait_seconds = 5;
  std::string reload_command;  // run by /bin/sh on the app server; $psql names the psql binary
  bool console_reload = false; // instead: RELOAD on PgBouncer's admin console
  long timeline = 0;           // our fencing token
  unsigned long long generation = 0;
  int primary_id = 0;
  bool force = false;          // write even over a newer token
  // PgBouncer's admin console ("" = not configured) as psql arguments, and where the program can
  // log in to it itself, without starting psql: "<socket path>\t<user>\t<dbname>" ("" = psql
  // only; psql is also used when that login asks for a password).
  std::string admin_psql;
  std::string admin_socket;
  // Session fencing when the primary changed: KILL + RESUME per database cuts sessions at once.
  // With drain (a planned switchover), PAUSE first lets them finish for up to pause_wait_seconds,
  // then reload and RESUME; a pause that does not finish in time falls back to the cut.
  std::vector<std::string> console_names;  // each routed database, quoted for the console
  bool drain = false;
  int pause_wait_seconds = 2;
};

// The program; constant, so that every server runs the same, reviewable code.
const std::string& push_script();

// The SSH command for one request: shell builtins that answer "UNCHANGED" when every file is
// current and nothing is pending, else exec perl -e '<program>'.
std::string push_command(const PushRequest& request);

// The request for the script's standard input.
std::string push_payload(const PushRequest& request);

// What the script reported.
struct PushOutcome {
  enum class Status { written, unchanged, skipped_newer, failed };
  Status status = Status::failed;
  std::vector<std::string> changed;  // paths replaced
  bool reloaded = false;
  bool reload_failed = false;
  std::string sessions;  // "cut", "drained ...", "not cut: <why>", or "" (primary unchanged)
  std::string detail;    // the error, or the newer header that made us skip
};

PushOutcome parse_push_output(int exit_status, const std::string& out, const std::string& err);

// Quotes a string for a POSIX shell command line.
std::string shell_quote(const std::string& s);

}  // namespace pgdeploy
