// The agent's one job, on one page: options -> cluster facts -> proven primary -> rendered files
// -> every app server in parallel -> report.
#pragma once

#include <functional>
#include <iosfwd>

#include "cli/options.h"
#include "cluster/database.h"
#include "cluster/primary.h"
#include "cluster/servers.h"
#include "deploy/config.h"
#include "deploy/files.h"
#include "remote/remote.h"
#include "remote/ssh.h"
#include "report/check.h"
#include "report/report.h"

namespace pgdeploy {

// Steps 4 to 6, shared by a deploy, a dry run, a check and each round of the watcher: the
// cluster facts, the proof, the files rendered once for every server.
struct Proof {
  ClusterFacts facts;
  ServerPlan plan;
  PrimaryDecision decision;  // points into facts.nodes
  Rendered files;
  bool database_failed = false;  // refused because the database could not be read
  bool self_is_primary = false;  // the proven primary is the node behind `db` (-p)
};

// Fills the report's proof (primary, timeline, endpoint, seen, warnings) or its refusal; false on
// a refusal. `meanwhile` runs after the local node is probed and before the others are: the SSH
// logins may start then, while a dead node's probe is waited out.
bool prove(const Options& opts, Database& db, const Deadline& run_deadline, RunReport* report, Proof* p,
           const std::function<void(const NodeProbe& self, const ClusterFacts& facts)>& meanwhile);

DeployConfig deploy_config(const Options& opts);
SshSettings ssh_settings(const Options& opts);

// Rows that disagree about a host: reported failed, never asked nor written.
void add_conflicts(const ServerPlan& plan, RunReport* report);

// Records a push that reached every app server, for --recent: "<unix time> <fingerprint>
// <timeline>" in `path` (atomically, never through a symlink).
void remember_push(const std::string& path, const std::string& fingerprint, long timeline,
                   std::ostream& err);

// pgdeploy check, up to its report: the proof as a deploy makes it, then every server asked read
// only through `asker`: `meet` when the servers are known (the one-shot starts its logins then,
// while the other nodes are probed), `ask` once the primary is proven. The one-shot asks over
// new SSH logins, a watcher over its warm sessions. The one-shot's `run_deadline` covers the
// handoff it tried first too.
struct CheckAsker {
  std::function<void(const std::vector<AppServer>& servers, const Deadline& deadline)> meet =
      [](const std::vector<AppServer>&, const Deadline&) {};
  std::function<std::vector<ServerReport>(const std::vector<AppServer>& servers, const Rendered& files,
                                          const DeployConfig& config, const Deadline& deadline)> ask;
};
CheckReport check_cluster(const Options& opts, Database& db, const CheckAsker& asker,
                          const Deadline& run_deadline);

// A check handed to this node's watcher (util/handoff): the line carries --verbose, -w and -c,
// and a digest of the options that shape the facts (cluster, connection, files, deadlines,
// SSH). The watcher takes the check (its own options with the check's -w, -c, --verbose) only
// when that digest is its own: false with the reason otherwise.
std::string check_handoff_line(const Options& opts);
bool check_options_from(const std::string& line, const Options& own, Options* check, std::string* why);

// Returns the exit code. `db` is the agent's own node and how the others are asked; `remote`
// reaches the app servers (main: PgDatabase and SshRemote; tests: fakes).
int run_agent(const Options& opts, Database& db, Remote& remote, std::ostream& out,
              std::ostream& err);

}  // namespace pgdeploy
