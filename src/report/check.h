// pgdeploy check: the verdict on what every app server answered, by monitoring-plugin
// conventions (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; one status line with performance
// data, then the servers that are not OK). Pure: the facts come in, text and a code go out.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "report/report.h"

namespace pgdeploy {

enum CheckStatus { kCheckOk = 0, kCheckWarning = 1, kCheckCritical = 2, kCheckUnknown = 3 };

struct CheckThresholds {
  int warning_unreachable = 1;   // WARNING at or over this many unreachable app servers
  int critical_unreachable = 0;  // CRITICAL at or over this many; 0 = only when every one is
};

// One server, judged.
struct ServerVerdict {
  enum class State { ok, stale, wrong, unreachable };
  State state = State::ok;
  std::vector<std::string> why;       // what is not OK, for a person
  std::vector<std::string> wrong_to;  // "host:port" it routes or holds sessions to, not the primary
  bool routes_wrong = false;          // routes (not only sessions) elsewhere
  bool files_only = false;            // no admin console: routing judged from the include file
  bool clash = false;                 // another cluster on this PgBouncer has a name of ours first
};

// `listed`: the databases with a line of their own, which PgBouncer must show.
ServerVerdict judge_server(const ServerReport& server, const Endpoint& primary,
                           const std::vector<std::string>& listed);

struct CheckReport {
  RunReport run;                 // the proof, and each server's answer (servers[i].check)
  bool database_failed = false;  // the refusal is the database's (UNKNOWN), not the proof's
  bool timed_out = false;        // the run's own deadline passed (UNKNOWN)
  std::vector<std::string> listed;
  std::map<std::string, std::string> node_names;  // "host:port" -> node name, for the status line
  CheckThresholds thresholds;
  bool verbose = false;     // a line for every server, not only those that are not OK
  std::string watcher;      // what this node's watcher last saw ("" = no watcher answered)
  bool by_watcher = false;  // run by that watcher, over its warm sessions (no new SSH login)
};

int check_status(const CheckReport& report);
std::string format_check_text(const CheckReport& report);
std::string format_check_json(const CheckReport& report);

// The routes of an include file: "db" -> "host:port", from its non-comment lines.
std::map<std::string, std::string> include_routes(const std::string& include);

}  // namespace pgdeploy
