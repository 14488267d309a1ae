// Several clusters behind one PgBouncer: the push program, run for real by dash and by bash
// against a temporary "app server" that two clusters, "main" and "other", deploy to. Each owns a
// block of userlist.txt and ~/.pgpass, and the first include file to route a name keeps it.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "deploy/files.h"
#include "deploy/request.h"
#include "pgbouncer/push.h"
#include "testing/local_remote.h"

namespace pgdeploy {
namespace {

struct Cluster {
  std::string name;
  std::vector<std::string> databases;
  std::vector<DbUser> users;
  std::string pgpass;
};

class SharedPgBouncer : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir.path() + "/etc/databases");
    std::filesystem::create_directories(dir.path() + "/home");
    std::filesystem::create_directories(dir.path() + "/bin");
    // A perl that counts its starts, so the builtin-only re-run is visible.
    write_file(dir.path() + "/bin/perl",
               "#!/bin/sh\necho started >> " + dir.path() + "/perl.log\nexec /usr/bin/perl \"$@\"\n");
    chmod((dir.path() + "/bin/perl").c_str(), 0755);
  }

  PushRequest request(const Cluster& c, uint64_t generation,
                      PushRequest::Mode mode = PushRequest::Mode::push) {
    ClusterFacts facts;
    facts.databases = c.databases;
    facts.users = c.users;
    facts.servers = {server};
    Rendered r = render_all(facts, {"10.0.0.1", 5432}, {c.name, 1, 1, generation}, c.pgpass);
    DeployConfig config;
    config.cluster = c.name;
    config.include_dir = dir.path() + "/etc/databases";
    config.userlist = userlist();
    config.reload_command = "echo reload >> " + dir.path() + "/reloads";
    config.mode = mode;
    PushRequest req;
    std::string err;
    EXPECT_TRUE(build_request(server, r, config, &req, &err)) << err;
    req.budget_ms = 4000;
    return req;
  }

  ExecResult run(const PushRequest& req, const std::string& fault = "") {
    std::vector<std::string> env = {"HOME=" + dir.path() + "/home",
                                    "PATH=" + dir.path() + "/bin:/usr/bin:/bin"};
    if (!fault.empty()) env.push_back("PGDEPLOY_FAULT=" + fault);
    LocalRemote remote(GetParam(), env);
    ExecResult x = remote.run(push_command(req), push_payload(req), Deadline::after(10));
    EXPECT_TRUE(x.ok) << x.error;
    return x;
  }
  PushOutcome push(const Cluster& c, uint64_t generation) {
    ExecResult x = run(request(c, generation));
    return parse_push_output(x.exit_status, x.out, x.err);
  }
  CheckAnswer check(const Cluster& c, uint64_t generation) {
    ExecResult x = run(request(c, generation, PushRequest::Mode::check));
    return parse_check_output(x.exit_status, x.out, x.err);
  }

  std::string userlist() { return dir.path() + "/etc/userlist.txt"; }
  std::string pgpass() { return dir.path() + "/home/.pgpass"; }
  std::string include(const std::string& cluster) {
    return read_file(dir.path() + "/etc/databases/" + cluster + ".ini");
  }
  int count(const std::string& file) {
    std::string log = read_file(dir.path() + "/" + file);
    return static_cast<int>(std::count(log.begin(), log.end(), '\n'));
  }
  // The lines of a file that are neither a header nor an end line of a block.
  static std::vector<std::string> entries(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
      if (line.find(" pgdeploy cluster=") == std::string::npos) out.push_back(line);
    return out;
  }

  TempDir dir;
  AppServer server{1, "app1", "127.0.1.1", "postgres", "", false, "", {}, ""};
  Cluster main{"main", {"maindb"}, {{"app", "md5main"}, {"shared", "md5same"}}, "*:*:*:app:mainpw\n"};
  Cluster other{
      "other", {"otherdb"}, {{"worker", "md5other"}, {"shared", "md5same"}}, "*:*:*:worker:otherpw\n"};
};

TEST_P(SharedPgBouncer, EachClusterKeepsItsOwnBlockOfUserlistAndPgpass) {
  ASSERT_EQ(push(main, 1).status, PushOutcome::Status::written);
  // One cluster alone writes the file whole, as earlier versions did.
  EXPECT_EQ(read_file(userlist()), request(main, 1).files[1].content);
  PushOutcome o = push(other, 1);
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  std::string users = read_file(userlist());
  EXPECT_EQ(entries(users), (std::vector<std::string>{"\"app\" \"md5main\"", "\"shared\" \"md5same\"",
                                                      "\"worker\" \"md5other\"", "\"shared\" \"md5same\""}));
  EXPECT_NE(users.find("; pgdeploy cluster=main end\n; pgdeploy cluster=other "), std::string::npos) << users;
  EXPECT_EQ(entries(read_file(pgpass())),
            (std::vector<std::string>{"*:*:*:app:mainpw", "*:*:*:worker:otherpw"}));
  // A change of one cluster's roles replaces its block only, where it stands.
  main.users.push_back({"late", "md5late"});
  ASSERT_EQ(push(main, 2).status, PushOutcome::Status::written);
  EXPECT_EQ(entries(read_file(userlist())),
            (std::vector<std::string>{"\"app\" \"md5main\"", "\"shared\" \"md5same\"", "\"late\" \"md5late\"",
                                      "\"worker\" \"md5other\"", "\"shared\" \"md5same\""}));
}

TEST_P(SharedPgBouncer, IdleRoundsOfBothClustersStartNoProgramWriteNothingAndReloadNothing) {
  ASSERT_EQ(push(main, 1).status, PushOutcome::Status::written);
  ASSERT_EQ(push(other, 1).status, PushOutcome::Status::written);
  int reloads = count("reloads"), starts = count("perl.log");
  struct stat before;
  ASSERT_EQ(stat(userlist().c_str(), &before), 0);
  for (uint64_t generation = 2; generation < 12; ++generation) {
    EXPECT_EQ(push(main, generation).status, PushOutcome::Status::unchanged);
    EXPECT_EQ(push(other, generation).status, PushOutcome::Status::unchanged);
  }
  EXPECT_EQ(count("reloads"), reloads);
  EXPECT_EQ(count("perl.log"), starts) << "the shell's fast path finds each cluster's block";
  struct stat after;
  ASSERT_EQ(stat(userlist().c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
}

// The other cluster's push killed at each step (push.pl's step names): main's block is never
// touched, and the next push of the other finishes.
TEST_P(SharedPgBouncer, APushKilledAtAnyStepLeavesTheOtherClustersBlockByteForByte) {
  ASSERT_EQ(push(main, 1).status, PushOutcome::Status::written);
  std::string mains = read_file(userlist());
  for (const char* step : {"locked", "written", "marked", "renamed1", "renamed2", "renamed3", "synced"}) {
    SCOPED_TRACE(step);
    other.users.push_back({std::string("u_") + step, "md5x"});  // a change each time
    run(request(other, 2), std::string(step) + ":KILL");
    EXPECT_EQ(read_file(userlist()).substr(0, mains.size()), mains) << "main's lines first, as they were";
    ASSERT_EQ(push(other, 3).status, PushOutcome::Status::written);
    EXPECT_EQ(read_file(userlist()).substr(0, mains.size()), mains);
    EXPECT_NE(read_file(userlist()).find(std::string("\"u_") + step + "\""), std::string::npos);
    EXPECT_EQ(push(main, 3).status, PushOutcome::Status::unchanged);
  }
}

TEST_P(SharedPgBouncer, HandWrittenLinesAreKeptByteForByte) {
  std::string hand = "\"pgbouncer\" \"plain secret\"\n;; written by hand\n";
  write_file(userlist(), hand);
  ASSERT_EQ(push(main, 1).status, PushOutcome::Status::written);
  ASSERT_EQ(push(other, 1).status, PushOutcome::Status::written);
  std::string users = read_file(userlist());
  EXPECT_EQ(users.substr(0, hand.size()), hand);
  main.users.pop_back();
  ASSERT_EQ(push(main, 2).status, PushOutcome::Status::written);
  EXPECT_EQ(read_file(userlist()).substr(0, hand.size()), hand);
}

// One cluster's block alone (with or without its end line) is judged and written without
// splitting the file into lines (push.pl plan()'s short cut, for the common shape); anything more
// in the file goes through the blocks: lines after the block's end line are kept byte for byte.
TEST_P(SharedPgBouncer, ABlockAloneIsWrittenWholeAndLinesAfterItsEndAreKept) {
  ASSERT_EQ(push(main, 1).status, PushOutcome::Status::written);
  std::string end = "; pgdeploy cluster=main end\n";
  write_file(userlist(), read_file(userlist()) + end);  // as if another cluster's block had gone
  main.users.push_back({"late", "md5late"});
  ASSERT_EQ(push(main, 2).status, PushOutcome::Status::written);
  EXPECT_EQ(read_file(userlist()), request(main, 2).files[1].content) << "ours alone: written whole";
  std::string hand = ";; written by hand\n\"pgbouncer\" \"plain secret\"\n";
  write_file(userlist(), read_file(userlist()) + end + hand);
  main.users.push_back({"later", "md5later"});
  ASSERT_EQ(push(main, 3).status, PushOutcome::Status::written);
  EXPECT_EQ(read_file(userlist()), request(main, 3).files[1].content + end + hand);
  EXPECT_EQ(push(main, 4).status, PushOutcome::Status::unchanged);
}

TEST_P(SharedPgBouncer, AFileAnEarlierVersionWroteWholeBecomesTheBlockOfTheClusterItNames) {
  std::string whole = request(main, 1).files[1].content;  // no end line: as earlier versions wrote it
  write_file(userlist(), whole);
  ASSERT_EQ(push(other, 1).status, PushOutcome::Status::written);
  std::string users = read_file(userlist());
  std::string end = "; pgdeploy cluster=main end\n";
  EXPECT_EQ(users.substr(0, whole.size() + end.size()), whole + end);
  PushOutcome o = push(main, 2);
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_EQ(std::count(o.changed.begin(), o.changed.end(), userlist()), 0) << "main's block is where it was";
}

TEST_P(SharedPgBouncer, ARoleTwoClustersDefineWithDifferentSecretsIsRefusedNamingBoth) {
  ASSERT_EQ(push(main, 1).status, PushOutcome::Status::written);
  other.users.push_back({"app", "md5different"});
  PushOutcome o = push(other, 1);
  ASSERT_EQ(o.status, PushOutcome::Status::failed);
  EXPECT_NE(o.detail.find("role app: clusters main and other define it with different secrets"),
            std::string::npos)
      << o.detail;
  EXPECT_EQ(o.detail.find("md5"), std::string::npos) << "never a secret";
  std::string users = read_file(userlist());
  EXPECT_NE(users.find("\"app\" \"md5main\""), std::string::npos);
  EXPECT_EQ(users.find("md5different"), std::string::npos) << "the first cluster's secret stays";
  EXPECT_NE(users.find("\"worker\" \"md5other\""), std::string::npos) << "the rest of the block is written";
  EXPECT_NE(include("other").find("otherdb ="), std::string::npos) << "and the routes";
  // Every run says it again, and writes and reloads nothing for it.
  int reloads = count("reloads");
  o = push(other, 2);
  EXPECT_EQ(o.status, PushOutcome::Status::failed);
  EXPECT_TRUE(o.changed.empty());
  EXPECT_EQ(count("reloads"), reloads);
  CheckAnswer a = check(other, 2);
  ASSERT_TRUE(a.ok) << a.error;
  ASSERT_EQ(a.clashes.size(), 1u);
  EXPECT_EQ(a.clashes[0].kind + " " + a.clashes[0].cluster + " " + a.clashes[0].name, "role main app");
}

TEST_P(SharedPgBouncer, ADatabaseAnotherClustersIncludeRoutesIsNeverTakenOver) {
  main.databases = {"postgres", "repmgr", "maindb"};
  other.databases = {"postgres", "repmgr", "otherdb", "maindb"};
  ASSERT_EQ(push(main, 1).status, PushOutcome::Status::written);
  PushOutcome o = push(other, 1);
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  std::string mine = include("other");
  EXPECT_NE(mine.find("otherdb = "), std::string::npos) << mine;
  for (const char* taken : {"postgres = ", "repmgr = ", "maindb = "})
    EXPECT_EQ(mine.find(taken), std::string::npos) << taken << " is main's";
  EXPECT_NE(include("main").find("maindb = "), std::string::npos) << "the first one stays";
  ASSERT_EQ(o.notes.size(), 1u);
  EXPECT_EQ(o.notes[0],
            "left out postgres, repmgr, maindb: cluster main's include file beside ours routes them");
  EXPECT_EQ(push(other, 2).status, PushOutcome::Status::unchanged);
  EXPECT_EQ(push(main, 2).status, PushOutcome::Status::unchanged) << "main keeps its routes";
  CheckAnswer a = check(other, 2);
  ASSERT_TRUE(a.ok) << a.error;
  ASSERT_EQ(a.clashes.size(), 3u);
  EXPECT_EQ(a.clashes[2].kind + " " + a.clashes[2].cluster + " " + a.clashes[2].name, "database main maindb");
  EXPECT_EQ(a.files[0].state, "current");
}

TEST_P(SharedPgBouncer, TheFallbackOfAnotherClusterIsNotTakenOverEither) {
  main.databases = {"maindb", "Odd Name"};  // routed through "*"
  other.databases = {"otherdb", "Weird Name"};
  ASSERT_EQ(push(main, 1).status, PushOutcome::Status::written);
  ASSERT_NE(include("main").find("* = "), std::string::npos);
  PushOutcome o = push(other, 1);
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_EQ(include("other").find("* = "), std::string::npos);
  ASSERT_EQ(o.notes.size(), 1u);
  EXPECT_EQ(o.notes[0], "left out *, Weird Name: cluster main's include file beside ours routes them");
}

INSTANTIATE_TEST_SUITE_P(Shells, SharedPgBouncer, ::testing::Values("/bin/sh", "/bin/bash"));

TEST(CheckOutput, ReadsWhatAnotherClusterHasFirst) {
  CheckAnswer a = parse_check_output(0,
                                     "CLASH database main my db\nCLASH role main app\nCONSOLE none\n"
                                     "DONE ok\n",
                                     "");
  ASSERT_TRUE(a.ok) << a.error;
  ASSERT_EQ(a.clashes.size(), 2u);
  EXPECT_EQ(a.clashes[0].name, "my db");
  EXPECT_EQ(a.clashes[1].kind, "role");
  for (const char* bad : {"CLASH table main x\n", "CLASH role main\n", "CLASH role\n"})
    EXPECT_FALSE(parse_check_output(0, std::string(bad) + "CONSOLE none\nDONE ok\n", "").ok) << bad;
}

}  // namespace
}  // namespace pgdeploy
