#include "agent/fence.h"

#include <gtest/gtest.h>

#include "report/exit_codes.h"
#include "testing/fake_database.h"

namespace pgdeploy {
namespace {

NodeProbe up(int id, bool writable, long timeline) {
  NodeProbe p;
  p.node_id = id;
  p.reachable = true;
  p.writable = writable;
  p.timeline = timeline;
  return p;
}

// node2 was promoted (timeline 2), node1 came back writable on timeline 1.
Proof stale_node1(const FakeDatabase& db) {
  Proof p;
  p.facts.nodes = {{1, "node1", "standby", false, "host=a"}, {2, "node2", "primary", true, "host=b"}};
  for (int id : {1, 2}) p.probes.push_back(db.probes.at(id));
  p.decision = decide_primary(p.facts.nodes, p.probes, "", false);
  return p;
}

TEST(FenceStale, RaisesTheFenceOfAStalePrimaryOnceAndSaysSo) {
  FakeDatabase db;
  db.probes = {{1, up(1, true, 1)}, {2, up(2, true, 2)}};
  RunReport report;
  fence_stale(stale_node1(db), true, false, db, Deadline::after(1), &report);
  EXPECT_EQ(db.fenced, std::vector<int>{1});
  ASSERT_EQ(report.stale.size(), 1u);
  EXPECT_NE(report.stale[0].find("node1 (id 1): writable on timeline 1; node2 (id 2) is on timeline 2: "
                                 "FENCE RAISED: default_transaction_read_only on, 2 client sessions ended"),
            std::string::npos)
      << report.stale[0];
  EXPECT_EQ(report.stale_writable, 0);
  EXPECT_EQ(exit_code(report), kExitFenced);

  // The next run sees the fence (the probe says so): nothing more is done, exit 0.
  RunReport again;
  fence_stale(stale_node1(db), true, false, db, Deadline::after(1), &again);
  EXPECT_EQ(db.fenced, std::vector<int>{1});
  ASSERT_EQ(again.stale.size(), 1u);
  EXPECT_NE(again.stale[0].find(": fenced (default_transaction_read_only on)"), std::string::npos);
  EXPECT_EQ(exit_code(again), kExitOk);
}

TEST(FenceStale, OffItOnlyNamesTheStalePrimary) {
  FakeDatabase db;
  db.probes = {{1, up(1, true, 1)}, {2, up(2, true, 2)}};
  RunReport report;
  fence_stale(stale_node1(db), false, false, db, Deadline::after(1), &report);
  EXPECT_TRUE(db.fenced.empty());
  ASSERT_EQ(report.stale.size(), 1u);
  EXPECT_NE(report.stale[0].find("NOT FENCED, it accepts writes (--fence-stale is off)"), std::string::npos);
  EXPECT_EQ(report.stale_writable, 1);
  EXPECT_EQ(exit_code(report), kExitOk);
}

TEST(FenceStale, AFenceThatFailsIsReportedAndStillAcceptsWrites) {
  FakeDatabase db;
  db.probes = {{1, up(1, true, 1)}, {2, up(2, true, 2)}};
  db.fence_error = "ALTER SYSTEM: permission denied";
  RunReport report;
  fence_stale(stale_node1(db), true, false, db, Deadline::after(1), &report);
  ASSERT_EQ(report.stale.size(), 1u);
  EXPECT_NE(report.stale[0].find("FENCE FAILED, it accepts writes: ALTER SYSTEM: permission denied"),
            std::string::npos);
  EXPECT_EQ(report.stale_writable, 1);
  EXPECT_EQ(exit_code(report), kExitFenced);
  // A failed server still wins: the push is what repmgr's hook is for.
  ServerReport failed;
  report.servers.push_back(failed);
  EXPECT_EQ(exit_code(report), kExitServerFailed);
}

TEST(FenceStale, NothingWithoutProofNorWithoutTheDatabase) {
  FakeDatabase db;
  db.probes = {{1, up(1, true, 1)}, {2, up(2, true, 1)}};  // a split brain: no proof of either
  RunReport report;
  fence_stale(stale_node1(db), true, false, db, Deadline::after(1), &report);
  EXPECT_TRUE(db.fenced.empty());
  EXPECT_TRUE(report.stale.empty());

  db.probes = {{1, up(1, true, 1)}, {2, up(2, true, 2)}};
  Proof unread = stale_node1(db);
  unread.database_failed = true;
  fence_stale(unread, true, false, db, Deadline::after(1), &report);
  EXPECT_TRUE(db.fenced.empty());
}

}  // namespace
}  // namespace pgdeploy

namespace pgdeploy {
namespace {

TEST(FenceStale, StopAlsoStopsAFencedNodeThatStillRuns) {
  FakeDatabase db;
  db.probes = {{1, up(1, true, 1)}, {2, up(2, true, 2)}};
  db.probes[1].read_only_default = true;  // fenced by an earlier run without stop
  RunReport report;
  fence_stale(stale_node1(db), true, true, db, Deadline::after(1), &report);
  EXPECT_EQ(db.stopped, std::vector<int>{1});
  ASSERT_EQ(report.stale.size(), 1u);
  EXPECT_NE(report.stale[0].find("postmaster told to stop (fast shutdown)"), std::string::npos);
  EXPECT_EQ(exit_code(report), kExitFenced);
  // Stopped, it no longer answers: no proof, nothing more.
  db.probes[1] = NodeProbe{};
  db.probes[1].node_id = 1;
  RunReport again;
  fence_stale(stale_node1(db), true, true, db, Deadline::after(1), &again);
  EXPECT_EQ(db.stopped, std::vector<int>{1});
  EXPECT_TRUE(again.stale.empty());
}

}  // namespace
}  // namespace pgdeploy
