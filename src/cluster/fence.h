// Which nodes are proven stale primaries (--fence-stale raises their fence: pg/pg_database's
// fence(), agent/fence). Pure logic: no I/O.
#pragma once

#include <string>
#include <vector>

#include "cluster/facts.h"
#include "cluster/primary.h"

namespace pgdeploy {

struct StaleNode {
  const Node* node = nullptr;  // points into the catalog passed in
  long timeline = 0;           // its own
  long newest = 0;             // the newest timeline a reachable node answered with
  bool fenced = false;         // default_transaction_read_only is on there already
  std::string why;             // "writable on timeline 1; node2 (id 2) is on timeline 2"
};

// The nodes proven stale by these probes: reachable, writable (not in recovery) and on an older
// timeline than another reachable node answered with. That is the only proof taken: a tie on the
// newest timeline (a split brain) proves nothing of either node, an unreachable node's
// timeline is not known, and a witness's is its own. Never the decision's primary, whatever
// --force made of it.
std::vector<StaleNode> stale_primaries(const std::vector<Node>& nodes, const std::vector<NodeProbe>& probes,
                                       const PrimaryDecision& decision);

}  // namespace pgdeploy
