// The command line. Compatible with the original tool: pgdeploy -c CLUSTER [-p CONNINFO] [-t S] [-P].
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace pgdeploy {

enum ExitCode {
  kExitOk = 0,           // every enabled app server is up to date (or the event needs nothing)
  kExitRefused = 1,      // cluster facts missing or not certain: nothing was written anywhere
  kExitUsage = 2,        // bad command line
  kExitServerFailed = 3  // at least one app server could not be updated; the others were
};
// pgdeploy check exits as a monitoring plugin does (report/check.h: 0 OK, 1 WARNING, 2 CRITICAL,
// 3 UNKNOWN): a usage error of check is UNKNOWN.
constexpr int kCheckUsage = 3;

struct Options {
  std::string cluster;
  std::string conninfo = "host=/var/run/postgresql";
  double connect_timeout = 1.0;  // SSH TCP connect, seconds
  bool public_net = false;
  double host_timeout = 5.0;     // everything on one app server, seconds
  double deadline = 20.0;        // the whole run, seconds
  double probe_timeout = 2.0;    // asking each database node what it is
  int parallel = 32;
  std::string reload_command;
  std::string host_key_checking = "yes";  // yes: refuse unknown host keys; accept-new: record them
  std::string known_hosts;
  std::vector<std::string> identities;
  std::string include_dir = "/etc/pgbouncer/databases";
  std::string userlist = "/etc/pgbouncer/userlist.txt";
  std::string lock_file;  // "" = ~/.pgdeploy-<cluster>.lock
  bool force = false;
  std::string sessions = "auto";  // auto: drain on a switchover, cut otherwise
  int pause_timeout = 2;
  bool dry_run = false;
  bool json = false;
  // pgdeploy check
  bool check = false;
  bool verbose = false;
  int warning_unreachable = 1;
  int critical_unreachable = 0;  // 0 = when every app server is unreachable
  // pgdeploy watch
  bool watch = false;
  double interval = 5;        // seconds between rounds
  std::string metrics_listen;  // "host:port" for Prometheus metrics; "" = none
  // repmgr's placeholders
  std::string event;
  int node_id = 0;
  std::string success;
  std::string details;
  std::vector<std::string> events;
  double recent = 30;  // with --event: skip when this node pushed the same this recently
};

// True for names that are safe both as a schema suffix and as a file name.
bool valid_cluster_name(const std::string& name);

// Parses the command line. Returns -1 to go on; otherwise the exit code, after printing help,
// the version or the usage error.
int parse_options(int argc, const char* const argv[], Options* opts, std::ostream& out,
                  std::ostream& err);

}  // namespace pgdeploy
