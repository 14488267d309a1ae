// Deploy orchestration: render every server's files once, push them to all app servers in
// parallel (a bounded worker pool), one server's trouble never holding up another.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "cluster/conninfo.h"
#include "cluster/facts.h"
#include "remote/push_script.h"
#include "remote/remote.h"
#include "render/token.h"
#include "util/deadline.h"

namespace pgdeploy {

struct DeployConfig {
  std::string cluster;
  std::string include_dir = "/etc/pgbouncer/databases";  // <cluster>.ini is written here
  std::string userlist = "/etc/pgbouncer/userlist.txt";
  std::string pgpass = "~/.pgpass";   // on the app server
  std::string reload_command;         // "" = by user: root runs service, others sudo -n service
  bool force = false;
  bool drain_sessions = false;  // PAUSE (bounded) instead of KILL when the primary moved
  int pause_wait_seconds = 2;
  int parallel = 32;
  double host_timeout = 5.0;
};

// The files for every server, rendered once: they differ only by application_name.
struct Rendered {
  Token token;
  std::map<std::string, TokenedFile> includes;  // application_name -> include file
  TokenedFile userlist;
  TokenedFile pgpass;                            // empty content: no local ~/.pgpass
  std::vector<std::string> databases;           // every database routed (for KILL/RESUME)
  std::vector<std::string> skipped;             // names no file format can carry
};

Rendered render_all(const ClusterFacts& facts, const Endpoint& primary, const Token& token,
                    const std::string& local_pgpass);

// The request one server gets.
PushRequest build_request(const AppServer& server, const Rendered& files, const DeployConfig& config);

struct ServerReport {
  AppServer server;
  enum class Result { updated, unchanged, skipped_newer, failed };
  Result result = Result::failed;
  std::vector<std::string> changed;  // paths replaced
  bool reloaded = false;
  std::string sessions;  // "cut" / "not cut: why" / "" (primary unchanged)
  std::string error;     // "stage: detail" when failed; the newer header when skipped
  std::string note;
  double seconds = 0;
};

// What every server would get, in one digest: the primary, the timeline, each file's content, the
// servers and how they are reached and reloaded. Not the generation: a later run that would push
// the same has the same fingerprint.
std::string deploy_fingerprint(const std::vector<AppServer>& servers, const Rendered& files,
                               const DeployConfig& config);

// Pushes to every server; reports come back in the order of `servers`.
std::vector<ServerReport> deploy_all(const std::vector<AppServer>& servers, const Rendered& files,
                                     const DeployConfig& config, Remote& remote,
                                     const Deadline& run_deadline);

}  // namespace pgdeploy
