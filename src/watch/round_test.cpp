// The watcher's rounds (watch/round) over a database and app servers held in memory: hooks and
// checks handed over (neither waits behind the other), back-off of a host that hangs, a
// promotion seen while a standby's pings still wait for a host, a lost session made again.
// Nothing sleeps for a result: a host that hangs waits out its own deadline, and the promotion
// test holds its ping until the test lets it go. The loop (signals, systemd) and the real SSH,
// PostgreSQL and PgBouncer are tests/integration/test_watch.py's.
#include "watch/round.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <thread>

#include "agent/check.h"
#include "pgbouncer/push.h"
#include "testing/fake_database.h"
#include "testing/fake_remote.h"
#include "testing/local_remote.h"

namespace pgdeploy {
namespace {

std::optional<std::string> S(const char* s) { return std::string(s); }

NodeProbe probe(bool writable, long timeline, const std::string& instance) {
  NodeProbe p;
  p.reachable = true;
  p.writable = writable;
  p.timeline = timeline;
  p.lsn = writable ? 100 : 0;
  p.instance = instance;
  return p;
}

bool is_ping(const std::string& input) { return input == ping_payload(); }
bool is_check(const std::string& input) { return input.find("mode 5\ncheck\n") != std::string::npos; }

ExecResult answered(const std::string& out) {
  ExecResult x;
  x.ok = true;
  x.exit_status = 0;
  x.out = out;
  return x;
}

// App servers held in memory: a ping answered as the resident program does, a check as a server
// with no admin console, a push as one that took the files; `exchange`, when set, answers first
// (nullopt: as above). Every exchange is counted by host.
struct Apps : FakeRemote {
  using Exchange = std::function<std::optional<ExecResult>(const std::string& host, const std::string& input,
                                                           const Deadline& deadline)>;
  Apps()
      : FakeRemote([this](const std::string& host, const std::string&, const std::string& input,
                          const Deadline& deadline) {
          Exchange special;
          {
            std::lock_guard<std::mutex> g(mu);
            ++asked[host];
            special = exchange;
          }
          if (special)
            if (auto x = special(host, input, deadline)) return *x;
          if (is_ping(input)) return answered(std::string(kPingAnswer));
          if (is_check(input)) return answered("CONSOLE none\nDONE ok\n");
          return answer_written();
        }) {}
  int count(const std::string& host) {
    std::lock_guard<std::mutex> g(mu);
    return asked[host];
  }
  std::mutex mu;
  std::map<std::string, int> asked;  // exchanges by host
  Exchange exchange;
};

class WatcherTest : public ::testing::Test {
 public:
  WatcherTest() : db(FakeDatabase::repmgr4()) {
    db.table("repmgr", "nodes").rows = {
        {S("1"), S("node1"), S("primary"), S("t"), S("host=10.0.0.1 port=5432")},
        {S("2"), S("node2"), S("standby"), S("t"), S("host=10.0.0.2 port=5432")}};
    db.table("repmgr", "app_servers").rows = {
        {S("1"), S("app1"), S("127.0.1.1"), S("postgres"), S(""), S("true"), S("false"), S("")},
        {S("2"), S("app2"), S("127.0.1.2"), S("postgres"), S(""), S("true"), S("false"), S("")}};
    db.table("pg_catalog", "pg_database").rows = {{S("appdb"), S("false")}};
    db.table("pg_catalog", "pg_shadow").rows = {{S("app"), S("md5abc")}};
    db.probes[1] = probe(true, 1, "sys 1");
    db.probes[2] = probe(false, 1, "sys 2");
    db.self = db.probes[1];
    opts.cluster = "main";
    opts.lock_file = dir.path() + "/lock";
    opts.interval = 60;  // no server's retry time comes within a test
  }

  Watcher& watcher() {
    if (!watcher_)
      watcher_ = std::make_unique<Watcher>(
          opts, db, [this] { return lend(apps); }, [this] { ++wakes; }, out, err);
    return *watcher_;
  }
  // A hook's event and a check, handed over as util/handoff does; `answers` gets the reply.
  std::string hook(std::vector<HookAnswer>* answers) {
    HookRequest r;
    r.line = "standby_promote on node 1";
    return watcher().take(r, [answers](const HookAnswer& a) { answers->push_back(a); });
  }
  std::string check(std::vector<HookAnswer>* answers) {
    HookRequest r;
    r.ask = HookRequest::Ask::check;
    r.line = check_handoff_line(opts);
    return watcher().take(r, [answers](const HookAnswer& a) { answers->push_back(a); });
  }
  std::string log() const { return err.str(); }

  TempDir dir;
  FakeDatabase db;
  Apps apps;
  Options opts;
  std::ostringstream out, err;
  std::atomic<int> wakes{0};
  std::unique_ptr<Watcher> watcher_;
};

TEST_F(WatcherTest, TheProvenPrimarysWatcherPushesToEveryServerOverOneSessionEach) {
  watcher().round();
  watcher().round();
  EXPECT_EQ(watcher().status(), "2 of 2 app servers current; primary node1 (id 1) timeline 1");
  EXPECT_EQ(apps.logins, 2) << "the second round logged in nowhere";
  EXPECT_EQ(apps.count("127.0.1.1"), 2);
  EXPECT_NE(log().find("this node is the proven primary: this watcher pushes"), std::string::npos) << log();
}

TEST_F(WatcherTest, TheLookupFunctionIsAskedOncePerTermAndWhenTheRoutedDatabasesChange) {
  opts.auth = AuthMode::query;
  watcher().round();
  watcher().round();
  EXPECT_EQ(db.function_asked.size(), 1u) << "not every round";
  EXPECT_NE(out.str().find("auth_query: pgbouncer_auth.lookup(text) does not exist in appdb"),
            std::string::npos)
      << out.str();
  db.table("pg_catalog", "pg_database").rows.push_back({S("shop"), S("false")});
  watcher().round();
  EXPECT_EQ(db.function_asked.size(), 3u) << "a new database: every one asked again";
  db.probes[1].timeline = 2;  // a new term
  db.self = db.probes[1];
  db.probes[2].timeline = 2;
  watcher().round();
  EXPECT_EQ(db.function_asked.size(), 5u);
  watcher().round();
  EXPECT_EQ(db.function_asked.size(), 5u);
}

TEST_F(WatcherTest, AHookIsNeverQueuedBehindACheckAndACheckWaitsForAWaitingHooksRound) {
  std::vector<HookAnswer> hooks, checks;
  EXPECT_NE(hook(&hooks), "") << "before its first round the watcher pushes nothing: it takes no hook";
  watcher().round();  // the proven primary: hooks are taken from now on

  // A check runs between rounds; a hook that comes while it runs would wait behind it: declined.
  ASSERT_EQ(check(&checks), "");
  EXPECT_EQ(wakes, 1) << "the loop is woken to answer the check";
  std::string during;
  db.on_probe_nodes = [&] { during = hook(&hooks); };
  EXPECT_FALSE(watcher().answer_checks()) << "no hook waits: none was queued behind the check";
  db.on_probe_nodes = nullptr;
  EXPECT_EQ(during, "this node's watcher is running a check");
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_NE(checks[0].text.find("it ran this check over its warm sessions"), std::string::npos)
      << checks[0].text;
  EXPECT_TRUE(hooks.empty());

  // A hook that waits for its round goes first: a check taken meanwhile runs after that round.
  ASSERT_EQ(hook(&hooks), "");
  ASSERT_EQ(check(&checks), "");
  EXPECT_TRUE(watcher().answer_checks()) << "a hook waits: no check runs before its round";
  EXPECT_EQ(checks.size(), 1u);
  watcher().round();
  ASSERT_EQ(hooks.size(), 1u);
  EXPECT_EQ(hooks[0].code, 0) << hooks[0].text;
  EXPECT_NE(hooks[0].text.find("standby_promote on node 1 (run by the watcher of this node)"),
            std::string::npos)
      << hooks[0].text;
  EXPECT_EQ(checks.size(), 2u) << "the check is answered right after the hook's round";
  // And a check is never taken while a round is under way (it would wait for the round).
  std::string in_round;
  db.on_probe_nodes = [&] { in_round = check(&checks); };
  watcher().round();
  EXPECT_EQ(in_round, "a round is under way");
}

TEST_F(WatcherTest, AHookWhoseTimePassedBeforeItsRoundBeganIsToldToDoTheOneShot) {
  watcher().round();
  std::vector<HookAnswer> hooks;
  HookRequest r;
  r.line = "standby_promote on node 1";
  r.wait = kHandoffAck + 0.001;  // it waits a millisecond beyond the acknowledgement
  ASSERT_EQ(watcher().take(r, [&hooks](const HookAnswer& a) { hooks.push_back(a); }), "");
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // past its time, whatever the load
  int asked = apps.count("127.0.1.1");
  watcher().round();
  ASSERT_EQ(hooks.size(), 1u);
  EXPECT_EQ(hooks[0].code, -1) << "the hook does the one-shot with the time it kept back";
  EXPECT_EQ(hooks[0].text, "");
  EXPECT_EQ(apps.count("127.0.1.1"), asked + 1) << "the round itself goes on";
}

TEST_F(WatcherTest, AHookOnAStandbyIsToldToDoTheOneShotItself) {
  db.self = db.probes[2];
  watcher().round();
  std::vector<HookAnswer> hooks;
  EXPECT_EQ(hook(&hooks),
            "this node's watcher does not push (another node is the proven primary, or none is)");
  EXPECT_EQ(watcher().status(), "standby; primary node1 (id 1) timeline 1");
}

TEST_F(WatcherTest, AHungHostIsTriedWithBackOffNotAtTheCostOfEveryRound) {
  opts.host_timeout = 1.2;  // past a second: a try that waited out a timeout (watch/fleet)
  apps.exchange = [](const std::string& host, const std::string&,
                     const Deadline& deadline) -> std::optional<ExecResult> {
    if (host != "127.0.1.2") return std::nullopt;
    std::this_thread::sleep_for(
        std::chrono::milliseconds(deadline.remaining_ms()));  // accepts, never answers
    ExecResult x;
    x.stage = "timeout";
    x.error = "no answer within the deadline";
    return x;
  };
  watcher().round();
  EXPECT_EQ(apps.count("127.0.1.2"), 1);
  EXPECT_NE(log().find("app2 127.0.1.2: unreachable: timeout: no answer within the deadline"),
            std::string::npos)
      << log();
  auto start = std::chrono::steady_clock::now();
  watcher().round();
  watcher().round();
  EXPECT_EQ(apps.count("127.0.1.2"), 1) << "asked again before its back-off (--interval) ran out";
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 1.2)
      << "a round waited for the hung host again";
  EXPECT_EQ(apps.count("127.0.1.1"), 3) << "the other server is pushed to every round";
  EXPECT_EQ(watcher().status(), "1 of 2 app servers current; primary node1 (id 1) timeline 1");
  size_t said = 0;
  for (size_t at = 0; (at = log().find("app2 127.0.1.2: unreachable", at)) != std::string::npos; ++at) ++said;
  EXPECT_EQ(said, 1u) << "said once, not every round:\n" << log();
}

TEST_F(WatcherTest, AHookArrivingDuringARoundHungOnAServerIsAnsweredWithinAOneShotsTime) {
  // The round under way waits --host-timeout for app2. The hook must not wait for it and then
  // for its own round (twice that): the round is cut, the hook's round starts at once and waits
  // for app2's lane only within its own time, and answers as a one-shot would: exit 3.
  opts.host_timeout = 2;
  std::vector<HookAnswer> hooks;
  std::atomic<bool> first{true};
  Clock::time_point taken{};
  watcher().round();  // the proven primary: it takes hooks
  apps.exchange = [&](const std::string& host, const std::string&,
                      const Deadline& deadline) -> std::optional<ExecResult> {
    if (host != "127.0.1.2") return std::nullopt;
    if (first.exchange(false)) {  // the hook comes while the round waits for app2
      taken = Clock::now();
      EXPECT_EQ(hook(&hooks), "");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(deadline.remaining_ms()));
    ExecResult x;
    x.stage = "timeout";
    x.error = "no answer within the deadline";
    return x;
  };
  db.table("pg_catalog", "pg_database").rows.push_back({S("newdb"), S("false")});  // every push is due
  watcher().round();
  EXPECT_TRUE(hooks.empty()) << "the round cut short is not the hook's";
  watcher().round();
  double waited = std::chrono::duration<double>(Clock::now() - taken).count();
  ASSERT_EQ(hooks.size(), 1u);
  EXPECT_EQ(hooks[0].code, kExitServerFailed) << hooks[0].text;
  EXPECT_NE(hooks[0].text.find("(run by the watcher of this node)"), std::string::npos) << hooks[0].text;
  EXPECT_LT(waited, 2 * opts.host_timeout) << "the hook waited for the cut round, then for its own";
  EXPECT_EQ(wakes, 1) << "the wait between rounds was ended for the hook";
}

TEST_F(WatcherTest, ALostSessionIsMadeAgainAtTheNextRound) {
  std::atomic<bool> lost{true};
  apps.exchange = [&](const std::string& host, const std::string&,
                      const Deadline&) -> std::optional<ExecResult> {
    if (host != "127.0.1.1" || !lost.exchange(false)) return std::nullopt;
    ExecResult x;
    x.stage = "output";
    x.error = "the channel closed";
    return x;
  };
  watcher().round();
  EXPECT_EQ(apps.logins, 2);
  EXPECT_EQ(apps.logouts, 1) << "the lost session is closed, never read on out of step";
  watcher().round();
  EXPECT_EQ(apps.logins, 3) << "app1's session is made again; app2's is kept";
  EXPECT_EQ(watcher().status(), "2 of 2 app servers current; primary node1 (id 1) timeline 1");
  EXPECT_NE(watcher().metrics().find("pgdeploy_watch_reconnects_total 1\n"), std::string::npos)
      << watcher().metrics();
}

TEST_F(WatcherTest, ADatabaseThatGoesAwayIsSaidOnceAndTheRoundAfterItComesBackPushes) {
  // The same Database across rounds (the real one keeps its connections: pg/pg_database); the
  // watcher asks it to connect each round, so a restart costs the rounds while it is down only.
  watcher().round();
  db.connect_error = "cannot connect to the database (host=10.0.0.1): Connection refused";
  int asked = apps.count("127.0.1.1");
  watcher().round();
  watcher().round();
  EXPECT_EQ(apps.count("127.0.1.1"), asked) << "nothing sent while the truth is uncertain";
  EXPECT_EQ(watcher().status(), "refused: " + db.connect_error);
  db.connect_error.clear();
  watcher().round();
  EXPECT_EQ(apps.count("127.0.1.1"), asked + 1);
  EXPECT_EQ(db.connects, 4) << "asked to connect every round";
  size_t said = 0;
  for (size_t at = 0; (at = log().find("database unreachable", at)) != std::string::npos; ++at) ++said;
  EXPECT_EQ(said, 1u) << log();
  EXPECT_NE(log().rfind("database reachable"), std::string::npos);
}

TEST_F(WatcherTest, SighupMakesEverySessionAgainOverANewTransport) {
  watcher().round();
  watcher().reread();
  EXPECT_EQ(apps.logouts, 2) << "every session closed";
  watcher().round();
  EXPECT_EQ(apps.logins, 4);
  EXPECT_NE(log().find("SIGHUP: SSH keys and known_hosts read again"), std::string::npos);
}

// A latch the test opens: a ping waits on it.
struct Gate {
  void wait() {
    std::unique_lock<std::mutex> g(mu);
    cv.wait_for(g, std::chrono::seconds(60), [this] { return open; });
  }
  void release() {
    {
      std::lock_guard<std::mutex> g(mu);
      open = true;
    }
    cv.notify_all();
  }
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
};

TEST_F(WatcherTest, APromotionEndsTheStandbysRoundWhileAPingStillWaitsAndTheNextRoundPushes) {
  db.self = db.probes[2];  // this node is the standby
  std::atomic<bool> promoted{false}, pinging{false};
  Gate gate;
  db.on_self_writable = [&](bool* writable, std::string*) {
    *writable = promoted.load();
    return true;
  };
  // app2's ping hangs until the test lets it go; while it hangs, this node is promoted.
  apps.exchange = [&](const std::string& host, const std::string& input,
                      const Deadline&) -> std::optional<ExecResult> {
    if (host != "127.0.1.2" || !is_ping(input)) return std::nullopt;
    pinging = true;
    promoted = true;
    gate.wait();
    return std::nullopt;
  };
  watcher().round();  // returns once the node is writable, not when the ping ends
  EXPECT_TRUE(pinging);
  EXPECT_NE(log().find("this node is writable and its watcher does not push yet"), std::string::npos)
      << log();
  EXPECT_EQ(watcher().pause(), kHurryPace) << "rounds follow at once while the catalog catches up";
  std::vector<HookAnswer> hooks;
  EXPECT_EQ(hook(&hooks), "") << "the promoted node's watcher takes the hook";

  // repmgr's catalog now names this node; the old primary is gone.
  db.probes[2] = probe(true, 2, "sys 2");
  db.probes.erase(1);
  db.self = db.probes[2];
  db.table("repmgr", "nodes").rows[0][2] = S("standby");
  db.table("repmgr", "nodes").rows[1][2] = S("primary");
  gate.release();  // app2's lane is free for the push
  watcher().round();
  ASSERT_EQ(hooks.size(), 1u);
  EXPECT_EQ(hooks[0].code, 0) << hooks[0].text;
  EXPECT_EQ(watcher().status(), "2 of 2 app servers current; primary node2 (id 2) timeline 2");
  EXPECT_EQ(apps.logins, 2) << "the push went over the sessions the standby kept warm";
}

}  // namespace
}  // namespace pgdeploy
