// Steps 4 to 6, shared by a deploy, a dry run, a check and each round of the watcher: the cluster
// facts, the proof of the primary, the files rendered once for every server; and what a run
// makes of the options for the deployment and for SSH.
#pragma once

#include <functional>

#include "cli/options.h"
#include "cluster/database.h"
#include "cluster/primary.h"
#include "cluster/servers.h"
#include "deploy/config.h"
#include "deploy/files.h"
#include "remote/ssh.h"
#include "report/report.h"
#include "util/deadline.h"

namespace pgdeploy {

// The cluster facts, the proof, the files rendered once for every server.
struct Proof {
  ClusterFacts facts;
  ServerPlan plan;
  PrimaryDecision decision;       // points into facts.nodes
  std::vector<NodeProbe> probes;  // what every node answered (witnesses: with --require-majority)
  Rendered files;
  bool database_failed = false;  // refused because the database could not be read
  bool self_is_primary = false;  // the proven primary is the node behind `db` (-p)
};

// Fills the report's proof (primary, timeline, endpoint, seen, warnings) or its refusal; false on
// a refusal. `meanwhile` runs after the local node is probed and before the others are: the SSH
// logins may start then, while a dead node's probe is waited out. `limits`: the PgBouncer limits
// of the servers whose version is known (the watcher's memory); the others get 1.18's.
bool prove(const Options& opts, Database& db, const Deadline& run_deadline, RunReport* report, Proof* p,
           const std::function<void(const NodeProbe& self, const ClusterFacts& facts)>& meanwhile,
           const ServerLimits& limits = {});

// --auth-lookup: the databases whose lookup function is checked, every routed one by its own name
// on the primary; none when no server's PgBouncer uses auth_query or the option is "".
std::vector<std::string> auth_lookup_databases(const Options& opts, const Proof& proof);
// Asks the proven primary, in each of `databases` (by its conninfo, dbname replaced), whether the
// function exists there: the warnings that says (cluster/auth_lookup); none when every one has
// it. After the push: it never delays the routes nor the fence.
std::vector<std::string> check_auth_lookup(const Options& opts, const Proof& proof,
                                           const std::vector<std::string>& databases, Database& db,
                                           const Deadline& deadline);

DeployConfig deploy_config(const Options& opts);
SshSettings ssh_settings(const Options& opts);

// Rows that disagree about a host: reported failed, never asked nor written.
void add_conflicts(const ServerPlan& plan, RunReport* report);

// What a one-shot's own timeouts allow it: the database and the catalog (2 x --probe-timeout),
// the other nodes' probes (--probe-timeout; the SSH logins overlap them), the push
// (--host-timeout). A hand-over to the watcher (a hook's, a check's) keeps this much of the
// deadline back.
double one_shot_seconds(const Options& opts);

}  // namespace pgdeploy
