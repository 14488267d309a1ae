// What the agent sends to an app server: the push program, one small Perl program
// (src/pgbouncer/push.pl, built into the binary), run as the SSH command, and one request on its
// standard input carrying every file.
// One connection, one channel, one round trip for all the work: the program compares, writes
// atomically, reloads PgBouncer and cuts sessions. The request and the answer are specified in
// src/README.md; this file holds the agent's end of both.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pgbouncer/version.h"

namespace pgdeploy {

struct RemoteFile {
  std::string path;     // absolute, or "~/name" in the remote user's home
  std::string content;  // the whole file, header line included
  std::string digest;   // of the body, as the header line ends with it
  bool reload = false;  // PgBouncer reads it: a change needs a reload
  bool fence = false;   // carries the fencing token checked before anything is written
  // Shared by the clusters behind one PgBouncer (userlist.txt, ~/.pgpass): the content is this
  // cluster's block, merged there with the other clusters' blocks and hand-written lines.
  bool shared = false;
  // The header line alone ("head"): content is that line, and the resident program it goes to
  // holds the body (see push_payload; built so by deploy/request build_request, read so by
  // parse_push_payload).
  bool head_only = false;
};

struct PushRequest {
  // push: compare, write, reload, cut. check: only say what is there and where PgBouncer routes
  // (no lock, no write, no reload), answered by parse_check_output.
  enum class Mode { push, check };
  Mode mode = Mode::push;
  std::vector<RemoteFile> files;
  std::string lock_path;       // "<dir>/.<cluster>.lock"; the marker is "<dir>/.<cluster>.pending"
  long budget_ms = 5000;       // what the program may spend waiting (lock, console): the host's
                               // deadline, less a margin for the answer to travel back
  std::string reload_command;  // run by the app server; "" = RELOAD on the admin console
  long timeline = 0;           // our fencing token
  uint64_t generation = 0;
  int primary_id = 0;
  bool force = false;       // write even over a newer token
  std::string target_host;  // where the include file routes: what PgBouncer must show after
  int target_port = 0;      // the reload (SHOW DATABASES, SHOW SERVERS)
  // PgBouncer's admin console. psql reaches it with console_env ("PGHOST=...", from
  // admin_conninfo: never on a command line); where socket_path is set the program logs in to
  // the socket itself (psql only if that login asks for a password).
  bool console = false;
  std::vector<std::string> console_env;
  std::string socket_path, socket_user, socket_db;
  // Several PgBouncer processes on the host (so_reuseport; the row's admin_sockets): the socket
  // directory of each. Every one is reloaded, confirmed and cut, through the login above with
  // that directory as its host. Empty: the one console above.
  std::vector<std::string> console_dirs;
  // Every database the include file routes: with a line of its own (PgBouncer must list it after
  // the reload) or through the "*" fallback (listed once a client asked for it).
  std::vector<std::string> listed_databases, auto_databases;
  // Session fencing when PgBouncer routes elsewhere: KILL + RESUME per database cuts sessions at
  // once. With drain (a planned switchover), PAUSE first lets them finish for up to
  // pause_seconds, then reload and RESUME; a pause that does not finish in time falls back to
  // the cut.
  bool drain = false;
  int pause_seconds = 2;
};

// The push program's parts (push.pl, "Parts"): perl compiles all it is sent on every push, so a
// request gets only the parts it can reach. The core (outside every part) is always sent.
enum ProgramPart : unsigned {
  kConsolePart = 1,   // the admin console: routes, RELOAD on the console, the cut and the drain
  kCheckPart = 2,     // mode check
  kResidentPart = 4,  // the resident mode (serve)
  kAllParts = 7,
};
// The parts a request needs: console with the admin console, check in mode check.
unsigned program_parts(const PushRequest& request);
// The push program with those parts, as sent (comment lines dropped).
const std::string& push_program(unsigned parts = kAllParts);

// The SSH command for one request: shell builtins that answer "UNCHANGED" when every file's
// header carries its digest, no reload is pending and no temporary file is left over; else
// exec perl /dev/fd/3 with the program (the parts the request needs) as a here-document on
// fd 3 (a check: exec perl -e '<program>').
std::string push_command(const PushRequest& request);

// The SSH command that starts the program, every part, in its resident mode (`pgdeploy watch`): it reads one
// request after another and answers each in one frame (remote/frame.h) holding what the
// one-request program would answer.
std::string serve_command();
// A request with no field: the resident program answers kPingAnswer at once (keeps a warm
// session warm and proves it alive; touches nothing).
inline std::string ping_payload() { return "PGDEPLOY2\nend 0\n\n"; }
inline constexpr std::string_view kPingAnswer = "DONE ok\n";

// What is wrong with a request by the protocol's rules ("" = nothing); the program checks the
// same rules again on its side.
std::string check_request(const PushRequest& request);

// The request for the program's standard input: length-prefixed fields. A file head_only (the
// watcher's warm session, whose resident program already got its content: deploy/request
// build_request) travels as its header line alone, which carries the digest (and the token,
// which moves with every proof), and the program rebuilds the content.
std::string push_payload(const PushRequest& request);

// The resident program does not hold the content a header line named (a new program, an answer
// lost): "RESEND <path>" lines and DONE ok, nothing done. The request goes again, whole.
bool asks_for_content(const std::string& answer);

// The reverse of push_payload, by the program's rules: the protocol's reference reader (tests and
// the fuzzer hold the two ends against each other). False with the reason.
bool parse_push_request(const std::string& bytes, PushRequest* out, std::string* err);

// What the program answered.
struct PushOutcome {
  enum class Status { written, unchanged, skipped_newer, failed };
  Status status = Status::failed;
  std::vector<std::string> changed;  // paths replaced
  bool reloaded = false;
  bool reload_failed = false;
  bool confirmed = false;          // PgBouncer's SHOW DATABASES shows the new routes
  std::string sessions;            // "cut", "drained (PAUSE, RESUME)", "not cut: <why>", "" (not moved)
  std::vector<std::string> notes;  // worth saying, not failures
  std::string detail;              // failed: why
  std::string newer;               // skipped_newer: the header of the newer config there
  // VERSION: SHOW VERSION, asked in the push's console logins (the oldest of several processes).
  // Unknown: not said (no console, nothing to do), or not one version (garbage, several lines).
  PgBouncerVersion pgbouncer_version;
};

// Never throws; any byte sequence gives an outcome (garbage: failed, with what was seen).
PushOutcome parse_push_output(int exit_status, const std::string& out, const std::string& err);

// What the program answered in check mode: the facts, judged by report/check.
struct CheckAnswer {
  bool ok = false;    // a whole, well-formed answer ending in DONE ok
  std::string error;  // else why not
  struct File {
    std::string path;
    std::string state;  // current, stale (our header, other content), missing, foreign (no header)
  };
  std::vector<File> files;
  bool has_header = false;  // the include file's header, when it has one
  int header_primary = 0;
  long header_timeline = 0;
  uint64_t header_generation = 0;
  std::string pending;  // the marker's text: a reload a deploy still owes ("" = none)
  std::string console;  // "ok", "none" (no admin_conninfo), "failed: <why>"
  struct Route {
    std::string database, address;  // address "host:port"
  };
  // With several processes (the request's console_dirs), each one's socket directory, console
  // ("ok" or "failed: <why>"), routes and servers (then `routes` and `servers` below stay empty,
  // and `console` is "ok" only when every process answered).
  struct Process {
    std::string dir, console;
    std::vector<Route> routes, servers;
  };
  std::vector<Process> processes;
  // PgBouncer processes on the host that no console of the row reached ("pid N (command)"): a
  // hint from /proc, not proof (see push.pl unlisted()).
  std::vector<std::string> unlisted;
  std::vector<Route> routes;   // SHOW DATABASES, our databases
  std::vector<Route> servers;  // SHOW SERVERS, connections to anything but the target
  bool has_include = false;
  std::string include;                                                 // the include file as it is there
  std::vector<std::string> users_added, users_removed, users_changed;  // names only
  // What this cluster leaves out because another cluster on the same PgBouncer has it first: a
  // database name (or "*") its include file routes, a role it defines with another secret.
  struct Clash {
    std::string kind;  // "database" or "role"
    std::string cluster, name;
  };
  std::vector<Clash> clashes;
  std::vector<std::string> notes;
  PgBouncerVersion pgbouncer_version;  // VERSION: SHOW VERSION, else `pgbouncer --version` (unknown: neither)
};

// Never throws; any byte sequence gives an answer (garbage: not ok, with what was seen).
CheckAnswer parse_check_output(int exit_status, const std::string& out, const std::string& err);

// The app server's perl lacks a module the program loads: perl's own words for it ("Can't locate
// IO/Handle.pm in @INC ...") anywhere in `text` (an ERR line, the program's standard error) become
// what to install there ("the app server's perl lacks IO::Handle: install ..."); "" when `text`
// says no such thing.
std::string missing_perl_module(const std::string& text);

// Quotes a string for a POSIX shell command line.
std::string shell_quote(const std::string& s);

}  // namespace pgdeploy
