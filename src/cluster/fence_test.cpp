#include "cluster/fence.h"

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

NodeProbe up(int id, bool writable, long timeline) {
  NodeProbe p;
  p.node_id = id;
  p.reachable = true;
  p.writable = writable;
  p.timeline = timeline;
  p.instance = "sys " + std::to_string(id);
  return p;
}

NodeProbe down(int id) {
  NodeProbe p;
  p.node_id = id;
  p.error = "connection refused";
  return p;
}

std::vector<int> ids(const std::vector<StaleNode>& stale) {
  std::vector<int> out;
  for (const auto& s : stale) out.push_back(s.node->id);
  return out;
}

TEST(StalePrimaries, AnOldPrimaryRestartedWritableBesideTheNewOne) {
  auto nodes = catalog(2);
  std::vector<NodeProbe> probes = {up(1, true, 1), up(2, true, 2), up(3, false, 2)};
  auto d = decide_primary(nodes, probes, "", false);
  ASSERT_TRUE(d.ok) << d.refusal;
  auto stale = stale_primaries(nodes, probes, d);
  ASSERT_EQ(ids(stale), std::vector<int>{1});
  EXPECT_EQ(stale[0].timeline, 1);
  EXPECT_EQ(stale[0].newest, 2);
  EXPECT_FALSE(stale[0].fenced);
  EXPECT_EQ(stale[0].why, "writable on timeline 1; node2 (id 2) is on timeline 2");
}

TEST(StalePrimaries, AStandbyOnANewerTimelineIsProofEnoughWithoutAProvenPrimary) {
  // node2 (promoted) is down; node3 follows it on timeline 2; node1 came back writable on 1.
  auto nodes = catalog(1);
  std::vector<NodeProbe> probes = {up(1, true, 1), down(2), up(3, false, 2)};
  auto d = decide_primary(nodes, probes, "", false);
  EXPECT_FALSE(d.ok);
  EXPECT_EQ(ids(stale_primaries(nodes, probes, d)), std::vector<int>{1});
}

TEST(StalePrimaries, NoProofNoStaleNode) {
  auto nodes = catalog(1);
  // The newer node cannot be seen (security review 3, N8): node1 is the proven primary.
  std::vector<NodeProbe> probes = {up(1, true, 1), down(2), up(3, false, 1)};
  auto d = decide_primary(nodes, probes, "", false);
  ASSERT_TRUE(d.ok);
  EXPECT_TRUE(stale_primaries(nodes, probes, d).empty());
  // Nothing reachable, or only standbys.
  EXPECT_TRUE(stale_primaries(nodes, {down(1), down(2), down(3)}, d).empty());
  EXPECT_TRUE(stale_primaries(nodes, {up(1, false, 2), up(2, false, 3)}, d).empty());
  EXPECT_TRUE(stale_primaries(nodes, {}, d).empty());
}

TEST(StalePrimaries, ATieOnTheNewestTimelineProvesNeither) {
  auto nodes = catalog(1);
  std::vector<NodeProbe> probes = {up(1, true, 2), up(2, true, 2), up(3, false, 2)};
  auto d = decide_primary(nodes, probes, "", false);
  EXPECT_FALSE(d.ok);  // split brain
  EXPECT_TRUE(stale_primaries(nodes, probes, d).empty());
  // Two on the older timeline are both stale: a third node is on the newer one.
  probes = {up(1, true, 1), up(2, true, 1), up(3, false, 2)};
  EXPECT_EQ(ids(stale_primaries(nodes, probes, decide_primary(nodes, probes, "", false))),
            (std::vector<int>{1, 2}));
}

TEST(StalePrimaries, NeverTheDecisionsPrimaryEvenForced) {
  // --force deploys the catalog's node1 although node2 is on a newer timeline: node1 is not
  // fenced by the run that deploys it.
  auto nodes = catalog(1);
  std::vector<NodeProbe> probes = {up(1, true, 1), up(2, false, 2)};
  auto d = decide_primary(nodes, probes, "", true);
  ASSERT_TRUE(d.ok) << d.refusal;
  EXPECT_TRUE(stale_primaries(nodes, probes, d).empty());
}

TEST(StalePrimaries, AWitnessIsNeitherStaleNorTheNewest) {
  auto nodes = catalog(2);
  nodes.push_back({9, "witness", "witness", true, "host=10.0.0.9"});
  NodeProbe witness = up(9, true, 5);
  witness.witness = true;
  std::vector<NodeProbe> probes = {up(1, false, 2), up(2, true, 2), witness};
  auto d = decide_primary(nodes, probes, "", false);
  ASSERT_TRUE(d.ok) << d.refusal;
  EXPECT_TRUE(stale_primaries(nodes, probes, d).empty());
  witness.timeline = 1;  // older than the primary: still not a stale primary
  probes = {up(1, false, 2), up(2, true, 2), witness};
  EXPECT_TRUE(stale_primaries(nodes, probes, d).empty());
}

TEST(StalePrimaries, ANodeFencedAlreadyIsSaidSo) {
  auto nodes = catalog(2);
  NodeProbe old = up(1, true, 1);
  old.read_only_default = true;
  std::vector<NodeProbe> probes = {old, up(2, true, 2)};
  auto stale = stale_primaries(nodes, probes, decide_primary(nodes, probes, "", false));
  ASSERT_EQ(stale.size(), 1u);
  EXPECT_TRUE(stale[0].fenced);
}

TEST(StalePrimaries, AProbeOfANodeNotInTheCatalogIsNoProof) {
  auto nodes = catalog(1, 2);
  std::vector<NodeProbe> probes = {up(1, true, 1), up(7, false, 4)};
  EXPECT_TRUE(stale_primaries(nodes, probes, decide_primary(nodes, probes, "", false)).empty());
}

}  // namespace
}  // namespace pgdeploy
