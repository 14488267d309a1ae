#include "agent/newer.h"

#include <gtest/gtest.h>

namespace pgdeploy {
namespace {

ServerReport newer_answer(const std::string& name, const std::string& header) {
  ServerReport s;
  s.server.name = name;
  s.server.address = "10.0.0.1";
  s.result = ServerReport::Result::skipped_newer;
  s.newer = header;
  return s;
}

TEST(NewerTruth, ANewerAnswersHeaderIsANewerTimeline) {
  std::vector<ServerReport> servers = {
      newer_answer("app1", "; pgdeploy cluster=main primary=2 timeline=2 generation=50331648 digest=ab"),
      newer_answer("app2", "; pgdeploy cluster=main primary=2 timeline=3 generation=1 digest=ab")};
  ServerReport updated;
  updated.result = ServerReport::Result::updated;
  servers.push_back(updated);
  NewerTruth seen;
  learn_truth(servers, &seen);
  EXPECT_EQ(seen.timeline, 3);
  EXPECT_EQ(seen.primary, 2);
  EXPECT_EQ(seen.server, "app2 10.0.0.1");
  EXPECT_TRUE(newer_than(seen, 1));
  EXPECT_TRUE(newer_than(seen, 2));
  EXPECT_FALSE(newer_than(seen, 3));
  EXPECT_EQ(newer_truth_text(seen, 1),
            "app2 10.0.0.1 holds the config of primary id 2 on timeline 3, newer than this node's "
            "proof (timeline 1): a node this one cannot see was promoted, and this proof is stale");
}

TEST(NewerTruth, TheNewestIsKeptAcrossRoundsAndAnOlderOneChangesNothing) {
  NewerTruth seen;
  learn_truth({newer_answer("app1", "; pgdeploy cluster=main primary=2 timeline=4 generation=1 digest=x")},
              &seen);
  learn_truth({newer_answer("app2", "; pgdeploy cluster=main primary=3 timeline=2 generation=9 digest=x")},
              &seen);
  EXPECT_EQ(seen.timeline, 4);
  EXPECT_EQ(seen.server, "app1 10.0.0.1");
}

TEST(NewerTruth, ACheckAnswersHeaderCountsToo) {
  ServerReport s;
  s.server.name = "app3";
  s.result = ServerReport::Result::unchanged;
  s.check.ok = true;
  s.check.has_header = true;
  s.check.header_primary = 2;
  s.check.header_timeline = 2;
  NewerTruth seen;
  learn_truth({s}, &seen);
  EXPECT_EQ(seen.timeline, 2);
  s.check.ok = false;  // an answer that could not be read is no evidence
  NewerTruth none;
  learn_truth({s}, &none);
  EXPECT_EQ(none.timeline, 0);
  EXPECT_FALSE(newer_than(none, 0));
}

TEST(NewerTruth, AHeaderThatCannotBeReadIsNoEvidence) {
  for (const char* bad :
       {"", "garbage", "; pgdeploy cluster=main primary=2 generation=1",
        "; pgdeploy cluster=main primary=x timeline=9", "; pgdeploy cluster=main primary=2 timeline=-9",
        "; pgdeploy cluster=main primary=2 timeline=99999999999999999999999",
        "; other cluster=main primary=2 timeline=9"}) {
    NewerTruth seen;
    learn_truth({newer_answer("app1", bad)}, &seen);
    EXPECT_EQ(seen.timeline, 0) << bad;
  }
  int primary = 0;
  long timeline = 0;
  EXPECT_TRUE(parse_token_header("# pgdeploy cluster=c primary=7 timeline=12 generation=3 digest=d", &primary,
                                 &timeline));
  EXPECT_EQ(primary, 7);
  EXPECT_EQ(timeline, 12);
}

}  // namespace
}  // namespace pgdeploy

namespace pgdeploy {
namespace {

TEST(TruthMemory, AsksOncePerTermAndRefusesAnOlderProofUntilItCatchesUp) {
  NodeProbe self, unseen;
  self.node_id = 1;
  self.reachable = true;
  unseen.node_id = 2;  // node2 does not answer: it may be the newer primary
  std::vector<NodeProbe> probes = {self, unseen};
  TruthMemory memory;
  EXPECT_TRUE(memory.ask_first(1, 1, probes));
  EXPECT_FALSE(memory.ask_first(1, 1, probes));
  EXPECT_EQ(memory.refusal(1, probes), "");
  // The check before the first push: app1 holds node2's timeline 2; app3 lost its file.
  ServerReport app3;
  app3.server.name = "app3";
  app3.check.ok = true;  // no header
  memory.learn(
      {newer_answer("app1", "; pgdeploy cluster=main primary=2 timeline=2 generation=1 digest=x"), app3});
  EXPECT_NE(memory.refusal(1, probes).find("app1 10.0.0.1 holds the config of primary id 2 on timeline 2"),
            std::string::npos);
  EXPECT_NE(memory.refusal(1, probes), "");  // every later round of this term, too
  // Rejoined and promoted again on timeline 3: a new term, asked again, and free to push.
  EXPECT_TRUE(memory.ask_first(1, 3, probes));
  EXPECT_EQ(memory.refusal(3, probes), "");
  EXPECT_EQ(memory.refusal(2, probes), "");
}

TEST(TruthMemory, WhenEveryNodeAnswersANewerHeaderIsNoEvidenceAndNothingIsAskedFirst) {
  NodeProbe one, two, witness;
  one.node_id = 1;
  one.reachable = true;
  two = one;
  two.node_id = 2;
  witness.node_id = 3;  // a witness that does not answer cannot be the newer primary
  witness.witness = true;
  std::vector<NodeProbe> seen = {one, two, witness};
  EXPECT_FALSE(could_be_unseen(seen));
  TruthMemory memory;
  EXPECT_FALSE(memory.ask_first(2, 2, seen));
  memory.learn({newer_answer("app1", "; pgdeploy cluster=main primary=2 timeline=99 generation=1 digest=x")});
  EXPECT_EQ(memory.refusal(2, seen), "") << "a forged timeline 99 stops nothing while every node answers";
  two.reachable = false;
  EXPECT_NE(memory.refusal(2, {one, two, witness}), "");
}

}  // namespace
}  // namespace pgdeploy
