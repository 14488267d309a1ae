// The hook's Unix socket to the watcher, both ends for real in one process.
#include "util/handoff.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "testing/local_remote.h"

namespace pgdeploy {
namespace {

TEST(Handoff, AnAcceptedEventIsAnsweredWithTheWatchersReportAndCode) {
  TempDir dir;
  std::string path = handoff_socket(dir.path() + "/.pgdeploy-main.lock");
  ASSERT_EQ(path, dir.path() + "/.pgdeploy-main.lock.sock");
  HookRequest seen;
  HandoffServer server([&](const HookRequest& r, HandoffServer::Reply reply) {
    seen = r;
    std::thread([reply] { reply({3, false, "app1: FAILED\n"}); }).detach();  // later, as a round
    return std::string();
  }, [] { return std::string("30 of 30 app servers current"); });
  std::string err;
  ASSERT_TRUE(server.start(path, &err)) << err;
  HookAnswer a;
  ASSERT_TRUE(hand_off(path, {true, false, "standby_promote on node 2:\nline two"}, Deadline::after(5), &a));
  EXPECT_EQ(a.code, 3);
  EXPECT_FALSE(a.to_stderr);
  EXPECT_EQ(a.text, "app1: FAILED\n");
  EXPECT_TRUE(seen.json);
  EXPECT_EQ(seen.event, "standby_promote on node 2: line two") << "one line";
  HookRequest status;
  status.status = true;
  ASSERT_TRUE(hand_off(path, status, Deadline::after(5), &a));
  EXPECT_EQ(a.text, "30 of 30 app servers current");
  HookRequest check{false, false, "0 1 0 identity", true};
  ASSERT_TRUE(hand_off(path, check, Deadline::after(5), &a));
  EXPECT_TRUE(seen.check);
  EXPECT_FALSE(seen.json);
  EXPECT_EQ(seen.event, "0 1 0 identity");
  check.json = true;
  ASSERT_TRUE(hand_off(path, check, Deadline::after(5), &a));
  EXPECT_TRUE(seen.check && seen.json);
}

TEST(Handoff, DeclinedNoWatcherOrGarbageMeansTheOneShot) {
  TempDir dir;
  std::string path = dir.path() + "/w.lock.sock";
  HookAnswer a;
  EXPECT_FALSE(hand_off(path, {false, false, "e"}, Deadline::after(1), &a)) << "nobody listens";
  {
    HandoffServer server([](const HookRequest&, HandoffServer::Reply) { return std::string("standby"); },
                         [] { return std::string(); });
    std::string err;
    ASSERT_TRUE(server.start(path, &err)) << err;
    EXPECT_FALSE(hand_off(path, {false, false, "e"}, Deadline::after(1), &a)) << "declined";
  }
  {
    HandoffServer server([](const HookRequest&, HandoffServer::Reply reply) {
      reply({-1, false, ""});  // accepted, then not pushed after all
      return std::string();
    }, [] { return std::string(); });
    std::string err;
    ASSERT_TRUE(server.start(path, &err)) << "a dead watcher's socket is replaced: " << err;
    EXPECT_FALSE(hand_off(path, {false, false, "e"}, Deadline::after(1), &a));
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
  EXPECT_FALSE(hand_off(path, {false, false, "e"}, Deadline::after(10), &answer));
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(waited, kHandoffAck + 1.0);
  close(fd);
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
