#include "cluster/fence.h"

namespace pgdeploy {

std::vector<StaleNode> stale_primaries(const std::vector<Node>& nodes, const std::vector<NodeProbe>& probes,
                                       const PrimaryDecision& decision) {
  auto node_of = [&](int id) -> const Node* {
    for (const Node& n : nodes)
      if (n.id == id) return &n;
    return nullptr;
  };
  auto counts = [&](const NodeProbe& p) {
    const Node* n = node_of(p.node_id);
    return p.reachable && !p.witness && n && n->type != "witness" && p.timeline > 0;
  };
  const NodeProbe* newest = nullptr;
  for (const NodeProbe& p : probes)
    if (counts(p) && (!newest || p.timeline > newest->timeline)) newest = &p;
  std::vector<StaleNode> stale;
  if (!newest) return stale;
  int primary = decision.ok && decision.primary ? decision.primary->id : 0;
  for (const NodeProbe& p : probes) {
    if (!counts(p) || !p.writable || p.timeline >= newest->timeline || p.node_id == primary) continue;
    const Node& by = *node_of(newest->node_id);
    StaleNode s{node_of(p.node_id), p.timeline, newest->timeline, p.read_only_default, ""};
    s.why = "writable on timeline " + std::to_string(p.timeline) + "; " + by.name + " (id " +
            std::to_string(by.id) + ") is on timeline " + std::to_string(newest->timeline);
    stale.push_back(s);
  }
  return stale;
}

}  // namespace pgdeploy
