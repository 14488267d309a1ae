// Evidence of a newer truth (security review 3, N8): an app server that answers NEWER to a push,
// or whose include file's header a check reads, holds the token of a newer timeline than the
// proof of this run. Then the proof is stale (a restarted old primary that cannot see the newer
// one proves itself), and nothing more is pushed from it: the run refuses for every server.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "cluster/facts.h"
#include "deploy/outcome.h"

namespace pgdeploy {

struct NewerTruth {
  long timeline = 0;   // the newest timeline an app server's header carries (0: none seen)
  int primary = 0;     // the primary that header names
  std::string server;  // the app server it was seen on
};

// Takes the newest header from these answers into `newest`: a push's NEWER line, a check's
// HEADER. A header that cannot be read is no evidence.
void learn_truth(const std::vector<ServerReport>& servers, NewerTruth* newest);

// True when `seen` is a newer truth than a proof on `timeline`. A newer generation on the same
// timeline is the same primary's later push, not a newer truth: only a newer timeline counts.
bool newer_than(const NewerTruth& seen, long timeline);

// Whether an app server's newer timeline can be evidence for these probes: only while a node of
// the catalog (not a witness) does not answer, which could be the newer primary. When every node
// answered and none is on that timeline, the header is not the truth of this cluster (forged, or
// left from an earlier cluster), and it stops nothing.
bool could_be_unseen(const std::vector<NodeProbe>& probes);

// "app1 10.0.0.1 holds the config of primary id 2 on timeline 2, newer than timeline 1 ..."
std::string newer_truth_text(const NewerTruth& seen, long timeline);

// The watcher's memory of the newest truth any answer showed (pushes and checks alike), kept
// across rounds: a round on a proof older than it pushes nothing. A server that lost its file (a
// re-provisioned one) would take the stale route in the same parallel round as the servers that
// answer NEWER, so the first round of each term (primary, timeline) asks every server first, read
// only, and pushes only if none holds a newer truth.
class TruthMemory {
 public:
  void learn(const std::vector<ServerReport>& servers) { learn_truth(servers, &newest_); }
  // True once per term: this round asks every server before it pushes.
  bool ask_first(int primary, long timeline) {
    if (asked_ == std::make_pair(primary, timeline)) return false;
    asked_ = {primary, timeline};
    return true;
  }
  // True once per term while a node is unseen: this round asks every server before it pushes.
  bool ask_first(int primary, long timeline, const std::vector<NodeProbe>& probes) {
    return could_be_unseen(probes) && ask_first(primary, timeline);
  }
  // "" when a proof on `timeline`, with these probes, may push; else why not.
  std::string refusal(long timeline, const std::vector<NodeProbe>& probes) const {
    bool stale = newer_than(newest_, timeline) && could_be_unseen(probes);
    return stale ? newer_truth_text(newest_, timeline) : "";
  }

 private:
  NewerTruth newest_;
  std::pair<int, long> asked_{0, 0};
};

// The token a header line carries ("# pgdeploy cluster=C primary=N timeline=T generation=G
// digest=D"): false when the line is not such a header.
bool parse_token_header(const std::string& line, int* primary, long* timeline);

}  // namespace pgdeploy
