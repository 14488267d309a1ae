#include "agent/fence.h"

#include "cluster/fence.h"

namespace pgdeploy {

void fence_stale(const Proof& proof, bool act, bool stop, Database& db, const Deadline& deadline,
                 RunReport* report) {
  if (proof.database_failed) return;
  for (const StaleNode& s : stale_primaries(proof.facts.nodes, proof.probes, proof.decision)) {
    std::string head = s.node->name + " (id " + std::to_string(s.node->id) + "): " + s.why + ": ";
    if (s.fenced && !(act && stop)) {
      report->stale.push_back(head +
                              "fenced (default_transaction_read_only on); rejoin it "
                              "(docs/fencing.md)");
      continue;
    }
    if (!act) {
      ++report->stale_writable;
      report->stale.push_back(head +
                              "NOT FENCED, it accepts writes (--fence-stale is off): stop "
                              "it or rejoin it (docs/fencing.md)");
      continue;
    }
    int ended = 0;
    std::string why;
    if (db.fence(*s.node, stop, deadline, &ended, &why)) {
      ++report->fences_raised;
      report->stale.push_back(head + "FENCE RAISED: default_transaction_read_only on, " +
                              std::to_string(ended) + " client sessions ended" +
                              (stop ? ", postmaster told to stop (fast shutdown)" : "") +
                              "; rejoin it (docs/fencing.md)");
    } else {
      ++report->fences_failed;
      ++report->stale_writable;
      report->stale.push_back(head + "FENCE FAILED, it accepts writes: " + why);
    }
  }
}

}  // namespace pgdeploy
