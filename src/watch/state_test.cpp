#include "watch/state.h"

#include <gtest/gtest.h>

#include <cstring>

#include "watch/metrics.h"

namespace pgdeploy {
namespace {

ServerReport failed(const std::string& error) {
  ServerReport r;
  r.result = ServerReport::Result::failed;
  r.error = error;
  return r;
}

TEST(WatchState, RemembersEachServersLastVersionAndNothingForAnAnswerThatSaysNone) {
  auto said = [](const std::string& address, PgBouncerVersion v) {
    ServerReport r;
    r.server.address = address;
    r.pgbouncer_version = v;
    return r;
  };
  VersionMemory memory;
  EXPECT_TRUE(memory.limits().empty()) << "none known: 1.18's limits for every server";
  memory.learn({said("a", {1, 25, 2}), said("b", {})});
  ServerLimits l = memory.limits();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_TRUE(l.at("a").reload_reports_errors) << "limits_of the version said";
  memory.learn({said("a", {}), said("b", {1, 18, 0})});  // an unchanged push asks nothing
  l = memory.limits();
  EXPECT_TRUE(l.at("a").reload_reports_errors);
  EXPECT_FALSE(l.at("b").reload_reports_errors);
  memory.learn({said("a", {1, 18, 0})});  // a downgrade is a version too
  EXPECT_FALSE(memory.limits().at("a").reload_reports_errors);
}

TEST(WatchState, FromTheRoundsReport) {
  ServerReport r;
  r.result = ServerReport::Result::unchanged;
  EXPECT_EQ(state_of(r), ServerState::current);
  r.result = ServerReport::Result::updated;
  EXPECT_EQ(state_of(r), ServerState::updated);
  r.result = ServerReport::Result::skipped_newer;
  EXPECT_EQ(state_of(r), ServerState::newer);
  EXPECT_EQ(state_of(failed("connect: cannot connect to 127.0.1.1:22: refused")), ServerState::unreachable);
  EXPECT_EQ(state_of(failed("timeout: no answer")), ServerState::unreachable);
  EXPECT_EQ(state_of(failed("host key: changed")), ServerState::refused);
  EXPECT_EQ(state_of(failed("auth: public key rejected")), ServerState::refused);
  EXPECT_EQ(state_of(failed("remote: reload failed")), ServerState::failed);
  EXPECT_EQ(state_of(failed("config: ip_addr is empty")), ServerState::failed);
  EXPECT_EQ(state_of(failed("")), ServerState::failed);
}

TEST(WatchState, RetriesUnreachableEveryRoundFailuresLessOftenRefusalsSlowly) {
  EXPECT_EQ(retry_delay(0, ServerState::failed, 5), 0);
  EXPECT_EQ(retry_delay(1, ServerState::failed, 5), 0);
  EXPECT_EQ(retry_delay(2, ServerState::failed, 5), 0);
  EXPECT_EQ(retry_delay(3, ServerState::failed, 5), 10);
  EXPECT_EQ(retry_delay(4, ServerState::failed, 5), 20);
  EXPECT_EQ(retry_delay(50, ServerState::failed, 5), 60);
  EXPECT_EQ(retry_delay(50, ServerState::unreachable, 5), 0) << "back within an interval";
  EXPECT_EQ(retry_delay(1, ServerState::refused, 5), 60);
  EXPECT_EQ(retry_delay(2, ServerState::refused, 5), 120);
  EXPECT_EQ(retry_delay(60, ServerState::refused, 5), 600);
}

TEST(WatchState, BacksOffATryThatWaitedOutATimeoutFromTheFirst) {
  EXPECT_EQ(retry_delay(1, ServerState::unreachable, 5, true), 5);
  EXPECT_EQ(retry_delay(2, ServerState::unreachable, 5, true), 10);
  EXPECT_EQ(retry_delay(3, ServerState::unreachable, 5, true), 20);
  EXPECT_EQ(retry_delay(50, ServerState::unreachable, 5, true), 60);
  EXPECT_EQ(retry_delay(1, ServerState::failed, 5, true), 5);
  EXPECT_EQ(retry_delay(0, ServerState::unreachable, 5, true), 0) << "no failure, no wait";
  EXPECT_EQ(retry_delay(1, ServerState::refused, 5, true), 60) << "refusals keep their own schedule";
  EXPECT_EQ(retry_delay(3, ServerState::unreachable, 5, false), 0) << "a fast failure: the next round";
}

TEST(WatchState, SaysAChangeOnceNotEveryRound) {
  Changes c;
  EXPECT_TRUE(c.changed("database", "unreachable: x"));
  EXPECT_FALSE(c.changed("database", "unreachable: x"));
  EXPECT_TRUE(c.changed("database", "up"));
  EXPECT_TRUE(c.changed("app1", "current"));
  EXPECT_FALSE(c.changed("database", "up"));
  c.forget("app1");
  EXPECT_TRUE(c.changed("app1", "current"));
}

TEST(WatchState, PrintsAWarningWhenItAppearsNotInEveryReport) {
  std::set<std::string> said;
  EXPECT_EQ(fresh_warnings({"a", "b"}, &said), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(fresh_warnings({"a", "b"}, &said), std::vector<std::string>{});
  EXPECT_EQ(fresh_warnings({"b", "c"}, &said), std::vector<std::string>{"c"});
  EXPECT_EQ(fresh_warnings({"a", "b", "c"}, &said), std::vector<std::string>{"a"})
      << "gone, then back: said again";
}

TEST(WatchState, AChangeOfUsersAloneReachesAServerAtMostOncePerPeriod) {
  EXPECT_EQ(users_every(0.5), 10);
  EXPECT_EQ(users_every(30), 30);
  UsersPace p;
  EXPECT_EQ(p.wait("r1", "u1", 0, 10), 0) << "the first push of a watcher";
  p.sent("r1", "u1", 0, true);
  EXPECT_EQ(p.wait("r1", "u1", 1, 10), 0) << "nothing new: asked every round";
  EXPECT_EQ(p.wait("r1", "u2", 1, 10), 0) << "the first change of users after a quiet time: at once";
  p.sent("r1", "u2", 1, true);
  EXPECT_EQ(p.wait("r1", "u3", 2, 10), 9) << "the next one within the period: held back";
  EXPECT_EQ(p.wait("r1", "u4", 6, 10), 5) << "the latest users, still held";
  EXPECT_EQ(p.wait("r2", "u4", 6, 10), 0) << "a change of routes is never held, and takes the users along";
  EXPECT_EQ(p.wait("r1", "u4", 11, 10), 0) << "the period is over: the latest users go";
  p.sent("r1", "u4", 11, true);
  EXPECT_EQ(p.wait("r1", "u5", 12, 10), 9) << "and the next period begins";
}

TEST(WatchState, OnlyAChangeOfUsersThatReloadedStartsThePeriod) {
  UsersPace p;
  p.sent("r1", "u1", 0, true);
  p.sent("r2", "u2", 1, true);  // a new primary, with the users of the moment
  EXPECT_EQ(p.wait("r2", "u3", 2, 10), 0) << "a route change does not hold the users back";
  p.sent("r2", "u3", 2, false);  // already there (a one-shot run pushed them): no reload
  EXPECT_EQ(p.wait("r2", "u4", 3, 10), 0);
}

TEST(WatchMetrics, PrometheusTextWithEveryStateAndACumulativeHistogram) {
  WatchMetrics m;
  m.servers[ServerState::current] = 29;
  m.servers[ServerState::unreachable] = 1;
  m.database_up = true;
  m.timeline = 3;
  m.observe_round(0.02);
  m.observe_round(0.3);
  m.observe_round(30);
  m.pushes_updated = 4;
  m.bytes_sent = 905;
  m.bytes_received = 28;
  std::string t = metrics_text(m);
  EXPECT_NE(t.find("# TYPE pgdeploy_watch_ssh_bytes_total counter\n"
                   "pgdeploy_watch_ssh_bytes_total{direction=\"sent\"} 905\n"
                   "pgdeploy_watch_ssh_bytes_total{direction=\"received\"} 28\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("pgdeploy_watch_app_servers{state=\"current\"} 29\n"), std::string::npos) << t;
  EXPECT_NE(t.find("pgdeploy_watch_app_servers{state=\"refused\"} 0\n"), std::string::npos);
  EXPECT_NE(t.find("# TYPE pgdeploy_watch_round_duration_seconds histogram\n"), std::string::npos);
  EXPECT_NE(t.find("pgdeploy_watch_round_duration_seconds_bucket{le=\"0.025\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("pgdeploy_watch_round_duration_seconds_bucket{le=\"0.5\"} 2\n"), std::string::npos);
  EXPECT_NE(t.find("pgdeploy_watch_round_duration_seconds_bucket{le=\"10\"} 2\n"), std::string::npos);
  EXPECT_NE(t.find("pgdeploy_watch_round_duration_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(t.find("pgdeploy_watch_round_duration_seconds_count 3\n"), std::string::npos);
  EXPECT_NE(t.find("pgdeploy_watch_pushes_total{result=\"updated\"} 4\n"), std::string::npos);
  EXPECT_NE(t.find("pgdeploy_watch_primary_timeline 3\n"), std::string::npos);
  EXPECT_EQ(t.find("process_open_fds"), std::string::npos) << "not known: not exposed";
  m.open_fds = 1006;
  m.max_fds = 65536;
  t = metrics_text(m);
  EXPECT_NE(t.find("# TYPE process_open_fds gauge\nprocess_open_fds 1006\n"), std::string::npos) << t;
  EXPECT_NE(t.find("# TYPE process_max_fds gauge\nprocess_max_fds 65536\n"), std::string::npos) << t;
  // Every sample belongs to a family declared before it.
  for (size_t pos = 0; pos < t.size();) {
    size_t end = t.find('\n', pos);
    std::string line = t.substr(pos, end - pos);
    pos = end + 1;
    if (line[0] == '#') continue;
    std::string name = line.substr(0, line.find_first_of("{ "));
    for (const char* suffix : {"_bucket", "_sum", "_count"})
      if (name.size() > strlen(suffix) &&
          name.compare(name.size() - strlen(suffix), std::string::npos, suffix) == 0 &&
          t.find("# TYPE " + name.substr(0, name.size() - strlen(suffix)) + " histogram") !=
              std::string::npos)
        name = name.substr(0, name.size() - strlen(suffix));
    EXPECT_LT(t.find("# TYPE " + name + " "), t.find("\n" + line + "\n")) << line;
  }
}

}  // namespace
}  // namespace pgdeploy

namespace pgdeploy {
namespace {

TEST(WatchMetrics, StalePrimariesFencesAndANewerTruth) {
  WatchMetrics m;
  m.stale_writable = 1;
  m.fences_raised = 2;
  m.fences_failed = 1;
  m.newer_truth = true;
  m.newer_truth_refusals = 7;
  std::string t = metrics_text(m);
  EXPECT_NE(t.find("# TYPE pgdeploy_watch_stale_primaries gauge\n"), std::string::npos) << t;
  EXPECT_NE(t.find("pgdeploy_watch_stale_primaries{state=\"writable\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("pgdeploy_watch_stale_primaries{state=\"fenced\"} 0\n"), std::string::npos);
  EXPECT_NE(t.find("# TYPE pgdeploy_watch_fences_total counter\n"), std::string::npos);
  EXPECT_NE(t.find("pgdeploy_watch_fences_total{result=\"raised\"} 2\n"), std::string::npos);
  EXPECT_NE(t.find("pgdeploy_watch_fences_total{result=\"failed\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("pgdeploy_watch_newer_truth 1\n"), std::string::npos);
  EXPECT_NE(t.find("pgdeploy_watch_newer_truth_refusals_total 7\n"), std::string::npos);
}

}  // namespace
}  // namespace pgdeploy
