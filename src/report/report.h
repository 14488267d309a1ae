// What the operator (or a script) reads: one line per app server and a summary, or JSON.
#pragma once

#include <string>
#include <vector>

#include "cluster/facts.h"
#include "deploy/outcome.h"

namespace pgdeploy {

struct RunReport {
  std::string cluster;
  std::string refusal;      // set when the run refused to deploy: nothing was written
  std::string handed_over;  // set when this node's watcher took the event and gave no answer:
                            // a refusal then does not know that nothing was written
  std::string skipped;      // set when the event needs no deploy
  std::string event;        // "standby_promote on node 2: <details>", when repmgr said
  std::string primary;      // "name (id N)"
  Endpoint endpoint;
  long timeline = 0;
  std::vector<std::string> seen;  // one line per database node
  std::vector<std::string> warnings;
  std::vector<ServerReport> servers;
  // Stale primaries (cluster/fence), one line each: what was done about it (agent/fence).
  std::vector<std::string> stale;
  int stale_writable = 0;                    // of them, still writable by default after this run (not fenced)
  int fences_raised = 0, fences_failed = 0;  // --fence-stale in this run (either: exit 6)
  // An app server holds a newer truth than this run's proof (agent/newer): exit 5.
  std::string newer_truth;
  bool dry_run = false;  // servers were only asked (check mode): what a deploy would change
  double seconds = 0;
  double cpu_seconds = 0;  // user + system, all threads
  long max_rss_kb = 0;
};

// 0, 1, 3, 4, 5 or 6 (see ExitCode).
int exit_code(const RunReport& report);

std::string format_text(const RunReport& report);
std::string format_json(const RunReport& report);

// "name address (application_name)" for messages.
std::string server_label(const AppServer& server);

}  // namespace pgdeploy
