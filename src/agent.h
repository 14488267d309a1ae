// The agent's one job, on one page: options -> cluster facts -> proven primary -> rendered files
// -> every app server in parallel -> report.
#pragma once

#include <functional>
#include <iosfwd>

#include "cli/options.h"
#include "cluster/primary.h"
#include "cluster/servers.h"
#include "deploy/deploy.h"
#include "remote/ssh.h"
#include "report/report.h"

namespace pgdeploy {

// Steps 3 to 5, shared by a deploy, a dry run, a check and each round of the watcher: the
// cluster facts, the proof, the files rendered once for every server.
struct Proof {
  ClusterFacts facts;
  ServerPlan plan;
  PrimaryDecision decision;  // points into facts.nodes
  Rendered files;
  bool database_failed = false;  // refused because the database could not be read
  bool self_is_primary = false;  // the proven primary is the node behind opts.conninfo
};

// Fills the report's proof (primary, timeline, endpoint, seen, warnings) or its refusal; false on
// a refusal. `meanwhile` runs after the local node is probed and before the others are: the SSH
// logins may start then, while a dead node's probe is waited out.
bool prove(const Options& opts, const Deadline& run_deadline, RunReport* report, Proof* p,
           const std::function<void(const NodeProbe& self, const ClusterFacts& facts)>& meanwhile);

DeployConfig deploy_config(const Options& opts);
SshSettings ssh_settings(const Options& opts);

// Records a push that reached every app server, for --recent: "<unix time> <fingerprint> <timeline>"
// in `path` (written atomically, never through a symlink).
void remember_push(const std::string& path, const std::string& fingerprint, long timeline,
                   std::ostream& err);

// Rows that disagree about a host: reported failed, never asked nor written.
void add_conflicts(const ServerPlan& plan, RunReport* report);

// Returns the exit code.
int run_agent(const Options& opts, std::ostream& out, std::ostream& err);

}  // namespace pgdeploy
