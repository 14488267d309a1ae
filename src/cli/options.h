// The command line. Compatible with the original tool: pgdeploy -c CLUSTER [-p CONNINFO] [-t S] [-P].
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "deploy/config.h"
#include "pgbouncer/routes.h"
#include "report/exit_codes.h"

namespace pgdeploy {

// --sessions: what happens to sessions on the old primary where admin_conninfo is set.
enum class Sessions {
  by_event,  // "auto": drain on a standby_switchover, cut otherwise
  cut,       // KILL, RESUME
  drain,     // PAUSE up to --pause-timeout, then cut what is left
};

// What pgdeploy runs: a deploy (a hook, a run by hand, a dry run), `pgdeploy check` or
// `pgdeploy watch`. main() dispatches on it.
enum class Command { deploy, check, watch };

// The defaults of what a deploy does are DeployConfig's (deploy/config.h), written there once.
struct Options {
  Command command = Command::deploy;
  std::string cluster;
  std::string conninfo = "host=/var/run/postgresql";
  double connect_timeout = 1.0;  // SSH TCP connect, seconds
  bool public_net = false;
  double host_timeout = DeployConfig{}.host_timeout;  // everything on one app server, seconds
  double deadline = 20.0;                             // the whole run, seconds
  double probe_timeout = 2.0;                         // asking each database node what it is
  int parallel = DeployConfig{}.parallel;
  std::string reload_command;
  std::string host_key_checking = "yes";  // yes: refuse unknown host keys; accept-new: record them
  std::string known_hosts;
  std::vector<std::string> identities;
  std::string include_dir = DeployConfig{}.include_dir;
  std::string userlist = DeployConfig{}.userlist;
  std::string lock_file;  // "" = ~/.pgdeploy-<cluster>.lock
  AuthMode auth = DeployConfig{}.auth;
  // The function auth_query calls, checked in every routed database where a server's auth mode is
  // `query` (cluster/auth_lookup); "" = not checked (auth_query reads pg_shadow itself).
  std::string auth_lookup = "pgbouncer_auth.lookup(text)";
  RouteNames routes;  // default: every database, under its own name
  bool force = false;
  bool fence_stale = false;       // raise the fence of a proven stale primary (agent/fence)
  bool fence_stop = false;        // --fence-stale=stop: and stop its postmaster
  bool require_majority = false;  // more than half the catalog's nodes must answer the proof
  Sessions sessions = Sessions::by_event;
  int pause_timeout = DeployConfig{}.pause_wait_seconds;
  bool dry_run = false;
  bool json = false;
  // pgdeploy check
  bool verbose = false;
  int warning_unreachable = 1;
  int critical_unreachable = 0;  // 0 = when every app server is unreachable
  // pgdeploy watch
  double interval = 5;         // seconds between rounds
  std::string metrics_listen;  // "host:port" for Prometheus metrics; "" = none
  // repmgr's placeholders
  std::string event;
  int node_id = 0;
  std::string success;
  std::string details;
  std::vector<std::string> events;
  double recent = 30;  // with --event: skip when this node pushed the same this recently
};

// --events by default: the promote, failover, switchover and follow events of repmgr 3, 4 and 5.
const std::vector<std::string>& default_deploy_events();

// True for names that are safe both as a schema suffix and as a file name.
bool valid_cluster_name(const std::string& name);

// Parses the command line. Returns -1 to go on; otherwise the exit code, after printing help,
// the version or the usage error.
int parse_options(int argc, const char* const argv[], Options* opts, std::ostream& out, std::ostream& err);

}  // namespace pgdeploy
