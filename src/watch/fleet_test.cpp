// Warm sessions: which answers keep a session, and which drop it (made again next time); and the
// lanes when a push is cut short for a hook: the round under way ends at once, and the hook's own
// push waits for a server still busy only within its own time.
#include "watch/fleet.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>

#include "testing/fake_remote.h"

namespace pgdeploy {
namespace {

const std::vector<AppServer> kServers = {{1, "app1", "10.0.1.1", "postgres", "", false, "", {}, ""}};

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
      : remote([answer](const std::string&, const std::string&, const std::string&, const Deadline&) {
          return answer();
        }) {}
  std::vector<Fleet::Result> push() {
    return fleet.push(kServers, rendered, config(), remote, Deadline::after(10), true);
  }
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
  Fixture f([] {
    return answered("ERR cannot write /etc/pgbouncer/databases/main.ini: disk full\nDONE failed\n");
  });
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

// Over one stream, a file's content travels once: after that its header line alone, until its
// digest changes or the stream is made again. A program that asks for the content gets the whole
// request again at once, in the same round.
TEST(Fleet, AFileTravelsWholeOncePerStreamAndAgainWhenTheProgramAsks) {
  std::vector<std::string> inputs;
  bool ask_for_content = false, drop = false;
  FakeRemote remote([&](const std::string&, const std::string&, const std::string& input, const Deadline&) {
    inputs.push_back(input);
    if (drop) {
      drop = false;
      ExecResult x;
      x.stage = "exec";
      x.error = "connection lost";
      return x;
    }
    if (ask_for_content && input.find("\ncontent ") == std::string::npos)
      return answered("RESEND /etc/pgbouncer/userlist.txt\nDONE ok\n");
    return answered("UNCHANGED\nDONE ok\n");
  });
  Fleet fleet{1, 5, 60};
  Rendered rendered = files();
  auto push = [&] { return fleet.push(kServers, rendered, config(), remote, Deadline::after(10), true); };
  auto bodies = [](const std::string& in) {
    size_t n = 0;
    for (size_t at = 0; (at = in.find("\ncontent ", at)) != std::string::npos; ++at) ++n;
    return n;
  };
  ASSERT_EQ(push()[0].state, ServerState::current);
  ASSERT_EQ(inputs.size(), 1u);
  size_t whole = bodies(inputs[0]);
  EXPECT_GE(whole, 2u) << inputs[0];
  push();
  ASSERT_EQ(inputs.size(), 2u);
  EXPECT_EQ(bodies(inputs[1]), 0u) << "header lines alone: " << inputs[1];
  EXPECT_LT(inputs[1].size(), inputs[0].size());
  rendered = [] {  // another generation, the same bodies: still header lines alone
    ClusterFacts facts;
    facts.servers = kServers;
    facts.databases = {"appdb"};
    facts.users = {{"app", "secret"}};
    return render_all(facts, {"10.0.0.1", 5432}, {"main", 1, 1, 999}, "");
  }();
  push();
  EXPECT_EQ(bodies(inputs[2]), 0u);
  EXPECT_NE(inputs[2].find(" generation=999 digest="), std::string::npos);
  ask_for_content = true;
  EXPECT_EQ(push()[0].state, ServerState::current);
  ASSERT_EQ(inputs.size(), 5u) << "asked for the content, sent whole at once";
  EXPECT_EQ(bodies(inputs[4]), whole);
  ask_for_content = false;
  drop = true;  // a lost stream: the next one's program has nothing
  push();
  push();
  ASSERT_EQ(inputs.size(), 7u);
  EXPECT_EQ(bodies(inputs[6]), whole) << "a new stream gets every file whole";
  EXPECT_EQ(remote.logins, 2);
}

// A host "hung" whose login waits out its whole deadline (it accepts and never speaks); every
// other host logs in and cannot start the program (a quick failure: only the timing matters).
class HangingRemote : public Remote {
 public:
  std::unique_ptr<Session> login(const Host& host, const Deadline& deadline, LoginFailure* failure) override {
    if (host.address == "hung")
      std::this_thread::sleep_for(std::chrono::milliseconds(deadline.remaining_ms()));
    failure->stage = host.address == "hung" ? "handshake" : "connect";
    failure->error = host.address == "hung" ? "timed out" : "refused";
    return nullptr;
  }
};

double since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

TEST(Fleet, APushCutForAHookEndsAtOnceAndTheHooksPushWaitsForABusyServerOnlyWithinItsTime) {
  HangingRemote remote;
  Fleet fleet(4, /*host_timeout=*/3, /*interval=*/1);
  AppServer app1, app3;
  app1.name = "app1";
  app1.address = "10.0.0.1";
  app3.name = "app3";
  app3.address = "hung";
  std::vector<AppServer> servers = {app1, app3};
  Rendered none;
  DeployConfig defaults;

  auto start = std::chrono::steady_clock::now();
  std::thread hook([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    fleet.cut();  // a hook arrives while the round waits for app3
  });
  auto round = fleet.push(servers, none, defaults, remote, Deadline::after(20));
  hook.join();
  EXPECT_LT(since(start), 1.5) << "the round under way waited for the hung host's --host-timeout";
  EXPECT_TRUE(round[0].asked);
  EXPECT_FALSE(round[1].asked);
  EXPECT_EQ(round[1].report.error, "busy: this round was cut short for a hook's round");

  // The hook's round: app1 at once; app3's lane is still held by the cut round's worker, waited
  // for only within this push's time.
  auto hooks_start = std::chrono::steady_clock::now();
  auto for_hook = fleet.push(servers, none, defaults, remote, Deadline::after(0.5), /*now=*/true);
  EXPECT_LT(since(hooks_start), 1.2);
  EXPECT_TRUE(for_hook[1].asked);
  EXPECT_EQ(for_hook[1].report.result, ServerReport::Result::failed);
  EXPECT_EQ(for_hook[1].report.error.rfind("timeout: an earlier push to it has not ended", 0), 0u)
      << for_hook[1].report.error;

  // The cut applies to the push under way only, never to a hook's: a push after the cut runs whole.
  auto whole = fleet.push({app1}, none, defaults, remote, Deadline::after(20));
  EXPECT_TRUE(whole[0].asked);
}

TEST(Fleet, ACutBeforeThePushBeginsEndsThatPushUntilTheHooksRoundBegins) {
  HangingRemote remote;
  Fleet fleet(4, 3, 1);
  AppServer app1;
  app1.name = "app1";
  app1.address = "10.0.0.1";
  Rendered none;
  DeployConfig defaults;
  fleet.cut();  // the hook came while the round proved the primary
  auto cut = fleet.push({app1}, none, defaults, remote, Deadline::after(20));
  EXPECT_FALSE(cut[0].asked);
  fleet.cut();
  fleet.uncut();  // its round began (and did not push: a standby, a refused proof)
  auto next = fleet.push({app1}, none, defaults, remote, Deadline::after(20));
  EXPECT_TRUE(next[0].asked) << "a stale cut ended a later round";
}

}  // namespace
}  // namespace pgdeploy
