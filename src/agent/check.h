// pgdeploy check: the proof as a deploy makes it, then every app server asked read only; and the
// line on which a check is handed to this node's watcher (util/handoff).
#pragma once

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "cli/options.h"
#include "cluster/database.h"
#include "cluster/facts.h"
#include "deploy/config.h"
#include "deploy/files.h"
#include "remote/remote.h"
#include "report/check.h"
#include "report/report.h"
#include "util/deadline.h"

namespace pgdeploy {

// pgdeploy check, up to its report: the proof as a deploy makes it, then every server asked read
// only through `asker`: `meet` when the servers are known (the one-shot starts its logins then,
// while the other nodes are probed), `ask` once the primary is proven. The one-shot asks over
// new SSH logins, a watcher over its warm sessions. The one-shot's `run_deadline` covers the
// handoff it tried first too.
struct CheckAsker {
  std::function<void(const std::vector<AppServer>& servers, const Deadline& deadline)> meet =
      [](const std::vector<AppServer>&, const Deadline&) {};
  std::function<std::vector<ServerReport>(const std::vector<AppServer>& servers, const Rendered& files,
                                          const DeployConfig& config, const Deadline& deadline)>
      ask;
};
CheckReport check_cluster(const Options& opts, Database& db, const CheckAsker& asker,
                          const Deadline& run_deadline);

// A check handed to this node's watcher (util/handoff): the line carries --verbose, -w and -c,
// and a digest of the options that shape the facts (cluster, connection, files, deadlines,
// SSH). The watcher takes the check (its own options with the check's -w, -c, --verbose) only
// when that digest is its own: false with the reason otherwise.
std::string check_handoff_line(const Options& opts);
bool check_options_from(const std::string& line, const Options& own, Options* check, std::string* why);

// pgdeploy check, the command: run by this node's watcher over its warm sessions when one runs
// with the same options and answers at once; else check_cluster() over new logins through
// `remote`. Prints the plugin's status line (or JSON) to `out`; returns the plugin's exit code.
// Takes no lock, here or there: a check never holds up a deploy.
int run_check(const Options& opts, Database& db, Remote& remote, std::ostream& out);

}  // namespace pgdeploy
