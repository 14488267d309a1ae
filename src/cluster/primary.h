// Decides which node is the primary, from repmgr's catalog and from what the nodes say of
// themselves. Pure logic: no I/O.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cluster/facts.h"

namespace pgdeploy {

struct PrimaryDecision {
  bool ok = false;
  const Node* primary = nullptr;  // points into the catalog passed in
  long timeline = 0;
  uint64_t lsn = 0;
  std::string refusal;                // why not, when !ok
  std::vector<std::string> warnings;  // deploying anyway, but a human should know
  std::vector<std::string> seen;      // one line per node: what the probe saw
};

// Deploys only to the node that the catalog names as the active primary AND that is the one
// writable node on the newest timeline any reachable node knows. `local_instance` is the probe
// identity of the node the agent runs on ("" if unknown); `force` accepts the catalog's primary
// whenever it answers as writable. `require_majority` (--require-majority): more than half of the
// catalog's nodes, every row whatever its type or state (a witness counts), must answer before
// any node is called primary; a witness's probe counts for that and for nothing else.
PrimaryDecision decide_primary(const std::vector<Node>& nodes, const std::vector<NodeProbe>& probes,
                               const std::string& local_instance, bool force, bool require_majority = false);

}  // namespace pgdeploy
