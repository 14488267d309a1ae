#include "cluster/primary.h"

#include <algorithm>

namespace pgdeploy {
namespace {

std::string node_label(const Node& n) { return n.name + " (id " + std::to_string(n.id) + ")"; }

std::string describe(const NodeProbe& p) {
  if (!p.reachable) return "unreachable: " + p.error;
  if (p.witness) return "witness, reachable";
  return std::string(p.writable ? "writable" : "read-only") + ", timeline " + std::to_string(p.timeline) +
         (p.writable && p.read_only_default ? " (fenced: default_transaction_read_only on)" : "");
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

}  // namespace

PrimaryDecision decide_primary(const std::vector<Node>& nodes, const std::vector<NodeProbe>& probes,
                               const std::string& local_instance, bool force, bool require_majority) {
  PrimaryDecision d;
  auto node_of = [&](int id) -> const Node* {
    for (const Node& n : nodes)
      if (n.id == id) return &n;
    return nullptr;
  };
  std::vector<const Node*> catalog;
  for (const Node& n : nodes)
    if (n.active && n.type == "primary") catalog.push_back(&n);

  long newest = 0;
  std::vector<const NodeProbe*> writable;
  const NodeProbe* local = nullptr;
  size_t answered = 0;
  for (const NodeProbe& p : probes) {
    const Node* n = node_of(p.node_id);
    d.seen.push_back((n ? node_label(*n) : "node " + std::to_string(p.node_id)) + ": " + describe(p));
    if (!p.reachable) continue;
    ++answered;
    if (p.witness) continue;  // a PostgreSQL of its own: its timeline and writability mean nothing
    newest = std::max(newest, p.timeline);
    if (p.writable) writable.push_back(&p);
    if (!local_instance.empty() && p.instance == local_instance) local = &p;
  }

  if (catalog.size() != 1) {
    std::vector<std::string> names;
    for (const Node* n : catalog) names.push_back(node_label(*n));
    d.refusal = catalog.empty() ? "repmgr's catalog names no active primary"
                                : "repmgr's catalog names " + std::to_string(catalog.size()) +
                                      " active primaries: " + join(names);
    return d;
  }
  if (require_majority && !force && answered * 2 <= nodes.size()) {
    d.refusal = "--require-majority: " + std::to_string(answered) + " of the catalog's " +
                std::to_string(nodes.size()) + " nodes answer (a witness counts), and " +
                std::to_string(nodes.size() / 2 + 1) + " must";
    return d;
  }
  const Node& named = *catalog[0];
  const NodeProbe* named_probe = nullptr;
  for (const NodeProbe& p : probes)
    if (p.node_id == named.id) named_probe = &p;

  std::vector<const NodeProbe*> best;
  for (const NodeProbe* p : writable)
    if (p->timeline == newest) best.push_back(p);

  std::string refusal;
  if (writable.empty()) {
    refusal = "no node answers as writable";
  } else if (best.size() > 1) {
    std::vector<std::string> names;
    for (const NodeProbe* p : best) names.push_back(node_label(*node_of(p->node_id)));
    refusal = "split brain: " + join(names) + " are all writable on timeline " + std::to_string(newest);
  } else if (best.empty()) {
    refusal = "every writable node is on an older timeline than " + std::to_string(newest) +
              ", which another node has reached";
  } else if (best[0]->node_id != named.id) {
    refusal = "repmgr's catalog names " + node_label(named) + " as primary, but the writable node " +
              "on the newest timeline is " + node_label(*node_of(best[0]->node_id));
  }
  if (local && local->writable && local->timeline < newest) {
    refusal = "this node is a stale primary (writable on timeline " + std::to_string(local->timeline) +
              ", newest seen " + std::to_string(newest) + "); " + refusal;
  }

  if (!refusal.empty()) {
    if (!force) {
      d.refusal = refusal;
      return d;
    }
    if (!named_probe || !named_probe->reachable || !named_probe->writable) {
      d.refusal = "--force: the catalog's primary " + node_label(named) + " does not answer as writable; " +
                  refusal;
      return d;
    }
    d.warnings.push_back("--force: deploying " + node_label(named) + " although " + refusal);
  }
  for (const NodeProbe* p : writable)
    if (p->node_id != named.id)
      d.warnings.push_back(node_label(*node_of(p->node_id)) + " is writable too (timeline " +
                           std::to_string(p->timeline) + "): it is fenced off by this deploy, " +
                           "but its postmaster still runs");
  if (named_probe->read_only_default)
    d.warnings.push_back(node_label(named) + " has default_transaction_read_only on (a fence raised " +
                         "while it was a stale primary?): new transactions there are read-only until " +
                         "it is lifted (ALTER SYSTEM RESET default_transaction_read_only)");
  d.ok = true;
  d.primary = &named;
  d.timeline = named_probe->timeline;
  d.lsn = named_probe->lsn;
  return d;
}

}  // namespace pgdeploy
