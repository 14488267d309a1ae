// Warm sessions: which answers keep a session, and which drop it (made again next time).
#include "watch/fleet.h"

#include <gtest/gtest.h>

#include <functional>

#include "testing/fake_remote.h"

namespace pgdeploy {
namespace {

const std::vector<AppServer> kServers = {{1, "app1", "10.0.1.1", "postgres", "", false, ""}};

Rendered files() {
  ClusterFacts facts;
  facts.servers = kServers;
  facts.databases = {"appdb"};
  facts.users = {{"app", "secret"}};
  return render_all(facts, {"10.0.0.1", 5432}, {"main", 1, 1, 1}, "");
}

DeployConfig config() {
  DeployConfig c;
  c.cluster = "main";
  return c;
}

ExecResult answered(const std::string& out) {
  ExecResult x;
  x.ok = true;
  x.exit_status = 0;
  x.out = out;
  return x;
}

// Every exchange answered as `answer` says.
struct Fixture {
  explicit Fixture(std::function<ExecResult()> answer)
      : remote([answer](const std::string&, const std::string&, const std::string&, const Deadline&) { return answer(); }) {}
  std::vector<Fleet::Result> push() { return fleet.push(kServers, rendered, config(), remote, Deadline::after(10), true); }
  FakeRemote remote;
  Fleet fleet{1, 5, 60};
  Rendered rendered = files();
};

TEST(Fleet, AGarbledAnswerDropsTheSessionThoughTheServerCountsAsReached) {
  Fixture f([] {
    ExecResult x;
    x.stage = "output";
    x.error = "garbled answer: bytes after the end of the answer";
    return x;
  });
  auto results = f.push();
  EXPECT_EQ(results[0].state, ServerState::failed) << results[0].report.error;
  EXPECT_EQ(f.fleet.sessions(), 0u) << "nothing more on that stream can be read in step";
  EXPECT_EQ(f.remote.logouts, 1);
  f.push();
  EXPECT_EQ(f.remote.logins, 2) << "a new session for the next push";
}

TEST(Fleet, AnAnswerThatSaysItFailedKeepsTheSession) {
  // A whole frame saying the push failed: the stream is still in step.
  Fixture f([] { return answered("ERR cannot write /etc/pgbouncer/databases/main.ini: disk full\nDONE failed\n"); });
  auto results = f.push();
  EXPECT_EQ(results[0].state, ServerState::failed);
  EXPECT_EQ(f.fleet.sessions(), 1u);
  f.push();
  EXPECT_EQ(f.remote.logins, 1);
}

TEST(Fleet, APingAnsweredWithAnythingButItsAnswerDropsTheSession) {
  Fixture f([] { return answered("UNCHANGED\nDONE ok\n"); });
  auto results = f.fleet.keep_warm(kServers, f.remote, Deadline::after(10));
  EXPECT_EQ(results[0].report.error, "exec: the ping was answered with garbage");
  EXPECT_EQ(f.fleet.sessions(), 0u);
  Fixture pinged([] { return answered("DONE ok\n"); });
  results = pinged.fleet.keep_warm(kServers, pinged.remote, Deadline::after(10));
  EXPECT_EQ(results[0].state, ServerState::current);
  EXPECT_EQ(pinged.fleet.sessions(), 1u);
}

}  // namespace
}  // namespace pgdeploy
