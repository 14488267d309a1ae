#include "cluster/primary.h"

#include <gtest/gtest.h>

namespace pgdeploy {
namespace {

std::vector<Node> catalog(int primary_id, int n = 3) {
  std::vector<Node> nodes;
  for (int id = 1; id <= n; ++id)
    nodes.push_back({id, "node" + std::to_string(id), id == primary_id ? "primary" : "standby", true,
                     "host=10.0.0." + std::to_string(id)});
  return nodes;
}

NodeProbe up(int id, bool writable, long timeline, uint64_t lsn = 100) {
  NodeProbe p;
  p.node_id = id;
  p.reachable = true;
  p.writable = writable;
  p.timeline = timeline;
  p.lsn = writable ? lsn : 0;
  p.instance = "sys " + std::to_string(id);
  return p;
}

NodeProbe down(int id) {
  NodeProbe p;
  p.node_id = id;
  p.error = "connection refused";
  return p;
}

TEST(Primary, TheCatalogsPrimaryProvenWritableOnTheNewestTimeline) {
  auto nodes = catalog(2);
  auto d = decide_primary(nodes, {up(1, false, 3), up(2, true, 3, 777), up(3, false, 3)}, "", false);
  ASSERT_TRUE(d.ok) << d.refusal;
  EXPECT_EQ(d.primary->id, 2);
  EXPECT_EQ(d.timeline, 3);
  EXPECT_EQ(d.lsn, 777u);
  EXPECT_EQ(d.seen.size(), 3u);
  EXPECT_TRUE(d.warnings.empty());
}

TEST(Primary, ADownStandbyDoesNotStopACertainDeploy) {
  auto nodes = catalog(1);
  auto d = decide_primary(nodes, {up(1, true, 1), down(2), up(3, false, 1)}, "", false);
  ASSERT_TRUE(d.ok) << d.refusal;
  EXPECT_NE(d.seen[1].find("unreachable"), std::string::npos);
}

TEST(Primary, NoOrTwoPrimariesInTheCatalog) {
  auto none = catalog(0);
  auto d = decide_primary(none, {up(1, true, 1)}, "", false);
  EXPECT_FALSE(d.ok);
  EXPECT_NE(d.refusal.find("no active primary"), std::string::npos);

  auto two = catalog(1);
  two[1].type = "primary";
  d = decide_primary(two, {up(1, true, 1), up(2, true, 2)}, "", true);
  EXPECT_FALSE(d.ok);
  EXPECT_NE(d.refusal.find("2 active primaries"), std::string::npos);
}

TEST(Primary, InactivePrimaryRowsDoNotCount) {
  auto nodes = catalog(2);
  nodes[0].type = "primary";
  nodes[0].active = false;  // repmgrd marks a failed primary inactive
  auto d = decide_primary(nodes, {down(1), up(2, true, 2), up(3, false, 2)}, "", false);
  ASSERT_TRUE(d.ok) << d.refusal;
  EXPECT_EQ(d.primary->id, 2);
}

TEST(Primary, OldPrimaryBackAfterFailoverRefusesOnItsOwnStaleCatalog) {
  // The agent runs on node1, which came back; its own catalog still says node1 is primary.
  auto nodes = catalog(1);
  auto d = decide_primary(nodes, {up(1, true, 1), up(2, true, 2), up(3, false, 2)}, "sys 1", false);
  EXPECT_FALSE(d.ok);
  EXPECT_NE(d.refusal.find("this node is a stale primary"), std::string::npos);
  EXPECT_NE(d.refusal.find("node2"), std::string::npos);
}

TEST(Primary, AStandbyOnANewerTimelineUnmasksAStalePrimary) {
  // The new primary is down, the old one came back: a standby that follows the new one knows.
  auto nodes = catalog(1);
  auto d = decide_primary(nodes, {up(1, true, 1), down(2), up(3, false, 2)}, "", false);
  EXPECT_FALSE(d.ok);
  EXPECT_NE(d.refusal.find("older timeline"), std::string::npos);
}

TEST(Primary, SplitBrainOnOneTimeline) {
  auto nodes = catalog(1);
  auto d = decide_primary(nodes, {up(1, true, 2), up(2, true, 2)}, "", false);
  EXPECT_FALSE(d.ok);
  EXPECT_NE(d.refusal.find("split brain"), std::string::npos);
}

TEST(Primary, CatalogAndProofDisagree) {
  auto nodes = catalog(1);
  auto d = decide_primary(nodes, {up(1, false, 2), up(2, true, 2)}, "", false);
  EXPECT_FALSE(d.ok);
  EXPECT_NE(d.refusal.find("catalog names node1"), std::string::npos);
}

TEST(Primary, NothingWritable) {
  auto nodes = catalog(1);
  auto d = decide_primary(nodes, {down(1), up(2, false, 1)}, "", false);
  EXPECT_FALSE(d.ok);
  EXPECT_NE(d.refusal.find("no node answers as writable"), std::string::npos);
}

TEST(Primary, ForceOverridesTheProofButNotADeadPrimary) {
  auto nodes = catalog(1);
  auto d = decide_primary(nodes, {up(1, true, 1), up(2, true, 2)}, "", true);
  ASSERT_TRUE(d.ok);
  EXPECT_EQ(d.primary->id, 1);
  ASSERT_FALSE(d.warnings.empty());
  EXPECT_NE(d.warnings[0].find("--force"), std::string::npos);

  d = decide_primary(nodes, {down(1), up(2, true, 2)}, "", true);
  EXPECT_FALSE(d.ok);
}

TEST(Primary, AnOlderWritableNodeIsFencedWithAWarning) {
  auto nodes = catalog(2);
  auto d = decide_primary(nodes, {up(1, true, 1), up(2, true, 2)}, "sys 2", false);
  ASSERT_TRUE(d.ok) << d.refusal;
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_NE(d.warnings[0].find("node1"), std::string::npos);
}

}  // namespace
}  // namespace pgdeploy

namespace pgdeploy {
namespace {

TEST(PrimaryMajority, AMajorityOfTheCatalogMustAnswerAWitnessCounting) {
  std::vector<Node> nodes = {{1, "node1", "primary", true, "host=a"},
                             {2, "node2", "standby", true, "host=b"},
                             {3, "witness", "witness", true, "host=w"}};
  NodeProbe one;
  one.node_id = 1;
  one.reachable = true;
  one.writable = true;
  one.timeline = 1;
  NodeProbe two = one;
  two.node_id = 2;
  two.reachable = false;
  NodeProbe witness = one;
  witness.node_id = 3;
  witness.witness = true;
  witness.timeline = 9;  // its own: neither the newest timeline nor a second writable node
  auto d = decide_primary(nodes, {one, two, witness}, "", false, true);
  ASSERT_TRUE(d.ok) << d.refusal;
  EXPECT_EQ(d.primary->id, 1);
  EXPECT_TRUE(d.warnings.empty());
  EXPECT_NE(d.seen[2].find("witness, reachable"), std::string::npos);

  witness.reachable = false;  // 1 of 3
  d = decide_primary(nodes, {one, two, witness}, "", false, true);
  EXPECT_FALSE(d.ok);
  EXPECT_EQ(d.refusal,
            "--require-majority: 1 of the catalog's 3 nodes answer (a witness counts), and 2 must");
  // Without the option, the same answers prove node1.
  EXPECT_TRUE(decide_primary(nodes, {one, two, witness}, "", false, false).ok);
}

TEST(PrimaryMajority, ATwoNodeClusterWithOneDownCannotCallAPrimary) {
  std::vector<Node> nodes = {{1, "node1", "standby", false, "host=a"},
                             {2, "node2", "primary", true, "host=b"}};
  NodeProbe promoted;
  promoted.node_id = 2;
  promoted.reachable = true;
  promoted.writable = true;
  promoted.timeline = 2;
  NodeProbe dead;
  dead.node_id = 1;
  auto d = decide_primary(nodes, {dead, promoted}, "", false, true);
  EXPECT_FALSE(d.ok);
  EXPECT_NE(d.refusal.find("1 of the catalog's 2 nodes"), std::string::npos);
  // A human who knows better still can.
  EXPECT_TRUE(decide_primary(nodes, {dead, promoted}, "", true, true).ok);
}

TEST(PrimaryMajority, AFencedPrimaryIsProvenWithAWarning) {
  std::vector<Node> nodes = {{1, "node1", "primary", true, "host=a"}};
  NodeProbe p;
  p.node_id = 1;
  p.reachable = true;
  p.writable = true;
  p.timeline = 3;
  p.read_only_default = true;
  auto d = decide_primary(nodes, {p}, "", false);
  ASSERT_TRUE(d.ok);
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_NE(d.warnings[0].find("default_transaction_read_only on"), std::string::npos);
}

}  // namespace
}  // namespace pgdeploy
