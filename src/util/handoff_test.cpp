// The hook's Unix socket to the watcher, both ends for real in one process.
#include "util/handoff.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include "testing/local_remote.h"

namespace pgdeploy {
namespace {

const HookRequest kEvent{HookRequest::Ask::event, false, "e", 0};

TEST(Handoff, AnAcceptedEventIsAnsweredWithTheWatchersReportAndCode) {
  TempDir dir;
  std::string path = handoff_socket(dir.path() + "/.pgdeploy-main.lock");
  ASSERT_EQ(path, dir.path() + "/.pgdeploy-main.lock.sock");
  HookRequest seen;
  HandoffServer server(
      [&](const HookRequest& r, HandoffServer::Reply reply) {
        seen = r;
        std::thread([reply] { reply({3, false, "app1: FAILED\n"}); }).detach();  // later, as a round
        return std::string();
      },
      [] { return std::string("30 of 30 app servers current"); });
  std::string err;
  ASSERT_TRUE(server.start(path, &err)) << err;
  HookAnswer a;
  ASSERT_EQ(hand_off(path, {HookRequest::Ask::event, true, "standby_promote on node 2:\nline two", 0},
                     Deadline::after(5), &a),
            Handoff::answered);
  EXPECT_EQ(a.code, 3);
  EXPECT_FALSE(a.to_stderr);
  EXPECT_EQ(a.text, "app1: FAILED\n");
  EXPECT_EQ(seen.ask, HookRequest::Ask::event);
  EXPECT_TRUE(seen.json);
  EXPECT_EQ(seen.line, "standby_promote on node 2: line two") << "one line";
  HookRequest status;
  status.ask = HookRequest::Ask::status;
  ASSERT_EQ(hand_off(path, status, Deadline::after(5), &a), Handoff::answered);
  EXPECT_EQ(a.text, "30 of 30 app servers current");
  HookRequest check{HookRequest::Ask::check, false, "0 1 0 identity", 0};
  ASSERT_EQ(hand_off(path, check, Deadline::after(5), &a), Handoff::answered);
  EXPECT_EQ(seen.ask, HookRequest::Ask::check);
  EXPECT_FALSE(seen.json);
  EXPECT_EQ(seen.line, "0 1 0 identity");
  check.json = true;
  ASSERT_EQ(hand_off(path, check, Deadline::after(5), &a), Handoff::answered);
  EXPECT_TRUE(seen.ask == HookRequest::Ask::check && seen.json);
}

TEST(Handoff, DeclinedNoWatcherOrGarbageMeansTheOneShot) {
  TempDir dir;
  std::string path = dir.path() + "/w.lock.sock";
  HookAnswer a;
  EXPECT_EQ(hand_off(path, kEvent, Deadline::after(1), &a), Handoff::declined) << "nobody listens";
  {
    HandoffServer server([](const HookRequest&, HandoffServer::Reply) { return std::string("standby"); },
                         [] { return std::string(); });
    std::string err;
    ASSERT_TRUE(server.start(path, &err)) << err;
    EXPECT_EQ(hand_off(path, kEvent, Deadline::after(1), &a), Handoff::declined) << "declined";
  }
  {
    HandoffServer server(
        [](const HookRequest&, HandoffServer::Reply reply) {
          reply({-1, false, ""});  // accepted, then not pushed after all
          return std::string();
        },
        [] { return std::string(); });
    std::string err;
    ASSERT_TRUE(server.start(path, &err)) << "a dead watcher's socket is replaced: " << err;
    EXPECT_EQ(hand_off(path, kEvent, Deadline::after(1), &a), Handoff::declined);
  }
}

TEST(Handoff, AListenerThatNeverAnswersCostsTheHookOnlyTheAckWait) {
  TempDir dir;
  std::string path = dir.path() + "/w.lock.sock";
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);  // a stopped watcher: the kernel accepts, nobody reads
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  path.copy(a.sun_path, path.size());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  auto start = std::chrono::steady_clock::now();
  HookAnswer answer;
  EXPECT_EQ(hand_off(path, kEvent, Deadline::after(10), &answer), Handoff::declined);
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(waited, kHandoffAck + 1.0);
  close(fd);
}

// The hook keeps a whole one-shot's time back: the watcher gets the rest, or nothing when that
// is too little to share (then no hand-over).
TEST(Handoff, TheWaitLeavesTheOneShotItsTime) {
  EXPECT_DOUBLE_EQ(handoff_wait(20, 3 * 2 + 5), 9);   // the defaults
  EXPECT_DOUBLE_EQ(handoff_wait(20, 3 * 2 + 12), 2);  // --host-timeout 12
  EXPECT_DOUBLE_EQ(handoff_wait(20, 3 * 2 + 13), kHandoffMinWait);
  EXPECT_EQ(handoff_wait(20, 3 * 2 + 13.5), 0) << "less than kHandoffMinWait to share";
  EXPECT_EQ(handoff_wait(20, 3 * 2 + 18), 0) << "the one-shot alone needs more than the deadline";
}

// A watcher that took the event and never answers costs the hook only its wait, and the hook
// learns that the watcher took it (it may have pushed), not that nothing happened.
TEST(Handoff, AnAcceptedEventUnansweredWithinTheWaitIsUnansweredNotDeclined) {
  TempDir dir;
  std::string path = dir.path() + "/w.lock.sock";
  HookRequest seen;
  std::vector<HandoffServer::Reply> kept;  // never called while the hook waits
  HandoffServer server(
      [&](const HookRequest& r, HandoffServer::Reply reply) {
        seen = r;
        kept.push_back(std::move(reply));
        return std::string();
      },
      [] { return std::string(); });
  std::string err;
  ASSERT_TRUE(server.start(path, &err)) << err;
  HookRequest event{HookRequest::Ask::event, false, "standby_promote on node 2", 1.5};
  HookAnswer a;
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(hand_off(path, event, Deadline::after(20), &a), Handoff::unanswered);
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(waited, 1.4);
  EXPECT_LT(waited, 1.5 + 1.0) << "the hook's wait, not its deadline";
  EXPECT_DOUBLE_EQ(seen.wait, 1.5) << "the watcher is told the wait, to answer within it";
}

// The round may answer (and close the connection) before the listening thread says ACCEPTED:
// ACCEPTED still comes first, and nothing is written to the closed descriptor, whose number the
// watcher may meanwhile have given to another connection (here: a socket pair).
TEST(Handoff, AnAnswerBeforeTakeReturnsIsAcceptedFirstAndNothingReachesAReusedDescriptor) {
  TempDir dir;
  std::string path = dir.path() + "/w.lock.sock";
  int reused[2] = {-1, -1};
  std::promise<void> taken;
  HandoffServer server(
      [&](const HookRequest&, HandoffServer::Reply reply) {
        reply({0, false, "2 of 2 app servers up to date\n"});  // the round ran and answered at once
        // Takes the lowest free numbers: the connection's, now closed, among them.
        EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, reused), 0);
        taken.set_value();
        return std::string();
      },
      [] { return std::string(); });
  std::string err;
  ASSERT_TRUE(server.start(path, &err)) << err;
  HookAnswer a;
  ASSERT_EQ(hand_off(path, kEvent, Deadline::after(5), &a), Handoff::answered);
  EXPECT_EQ(a.text, "2 of 2 app servers up to date\n");
  ASSERT_EQ(taken.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the listener, after take()
  ASSERT_GE(reused[0], 0);
  char buf[64];
  for (int end : {0, 1})
    EXPECT_EQ(recv(reused[end], buf, sizeof buf, MSG_DONTWAIT), -1)
        << "a stray write reached the reused descriptor";
  close(reused[0]);
  close(reused[1]);
}

// Only a listener of our own user is believed; a socket in a directory others may write is not
// even asked.
TEST(Handoff, AnotherUsersListenerIsNotBelieved) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root, to listen as another user";
  TempDir dir;
  std::string path = dir.path() + "/w.lock.sock";
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  path.copy(a.sun_path, path.size());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // nobody listens, as the watcher would, and forges an answer
    if (setgid(65534) != 0 || setuid(65534) != 0 || listen(fd, 4) != 0) _exit(1);
    const char forged[] = "ACCEPTED\nEXIT 0 out 7\nforged\n";
    for (;;) {
      int c = accept(fd, nullptr, nullptr);
      if (c >= 0 && write(c, forged, sizeof forged - 1) < 0) _exit(1);
      close(c);
    }
  }
  for (int i = 0; i < 200; ++i) {  // until nobody listens
    ucred peer{};
    int probe = socket(AF_UNIX, SOCK_STREAM, 0);
    socklen_t len = sizeof peer;
    bool listening = connect(probe, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                     getsockopt(probe, SOL_SOCKET, SO_PEERCRED, &peer, &len) == 0 && peer.uid == 65534;
    close(probe);
    if (listening) break;
    usleep(10000);
  }
  HookAnswer answer;
  std::string why;
  EXPECT_EQ(hand_off(path, kEvent, Deadline::after(2), &answer, &why), Handoff::declined);
  EXPECT_EQ(answer.text, "");
  EXPECT_EQ(why, path + " is served by uid 65534, not by this user (uid 0): not believed, not handed over");
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  close(fd);

  ASSERT_EQ(chmod(dir.path().c_str(), 01777), 0);
  HandoffServer server([](const HookRequest&, HandoffServer::Reply) { return std::string(); },
                       [] { return std::string(); });
  EXPECT_FALSE(server.start(dir.path() + "/x.lock.sock", &why)) << "the watcher does not listen there";
  EXPECT_NE(why.find("is writable by others (mode 1777)"), std::string::npos) << why;
  EXPECT_EQ(hand_off(dir.path() + "/x.lock.sock", {}, Deadline::after(1), &answer, &why), Handoff::declined);
  EXPECT_NE(why.find("is writable by others (mode 1777)"), std::string::npos) << why;
  chmod(dir.path().c_str(), 0700);
}

TEST(Handoff, NoSocketForAPathTooLong) {
  EXPECT_EQ(handoff_socket("/" + std::string(200, 'x') + ".lock"), "");
  HandoffServer server([](const HookRequest&, HandoffServer::Reply) { return std::string(); },
                       [] { return std::string(); });
  std::string err;
  EXPECT_FALSE(server.start("/" + std::string(200, 'x'), &err));
  EXPECT_NE(err.find("too long"), std::string::npos);
}

}  // namespace
}  // namespace pgdeploy
