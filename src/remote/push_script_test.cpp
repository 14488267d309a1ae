// The push program, started by dash and by bash as a login shell would, run for real against a
// temporary "app server".
#include "remote/push_script.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "deploy/deploy.h"
#include "testing/fake_console.h"
#include "testing/local_remote.h"

namespace pgdeploy {
namespace {

class PushScript : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir.path() + "/etc/databases");
    std::filesystem::create_directories(dir.path() + "/home");
    std::filesystem::create_directories(dir.path() + "/bin");
    // A stand-in psql that logs its arguments, so session fencing is visible.
    write_file(dir.path() + "/bin/psql", "#!/bin/sh\nprintf '%s|' \"$@\" >> " + dir.path() +
                                             "/psql.log\necho >> " + dir.path() + "/psql.log\n");
    chmod((dir.path() + "/bin/psql").c_str(), 0755);
    // A perl that counts its starts, so the builtin-only re-run is visible.
    write_file(dir.path() + "/bin/perl", "#!/bin/sh\necho started >> " + dir.path() +
                                             "/perl.log\nexec /usr/bin/perl \"$@\"\n");
    chmod((dir.path() + "/bin/perl").c_str(), 0755);
    config.cluster = "main";
    config.include_dir = dir.path() + "/etc/databases";
    config.userlist = dir.path() + "/etc/userlist.txt";
    config.reload_command = "echo reload >> " + dir.path() + "/reloads";
  }

  Rendered files(int primary, long timeline, uint64_t generation, const std::string& db = "appdb",
                 const std::string& pgpass = "*:*:*:app:pw\n") {
    ClusterFacts facts;
    facts.databases = {db};
    facts.users = {{"app", "md5abc"}};
    facts.servers = {server};
    return render_all(facts, {"10.0.0." + std::to_string(primary), 5432},
                      {"main", primary, timeline, generation}, pgpass);
  }

  PushOutcome push(const Rendered& r, const std::string& input_suffix_cut = "") {
    LocalRemote remote(GetParam(), {"HOME=" + dir.path() + "/home", "PGDEPLOY_PSQL=" + dir.path() + "/bin/psql",
                                    "PATH=" + dir.path() + "/bin:/usr/bin:/bin"});
    PushRequest req = build_request(server, r, config);
    std::string input = push_payload(req);
    if (!input_suffix_cut.empty()) input = input.substr(0, input.size() - input_suffix_cut.size());
    Login login(server);
    ExecResult x = remote.run(login, push_command(req), input, Deadline::after(10));
    EXPECT_TRUE(x.ok) << x.error;
    last_err = x.err;
    return parse_push_output(x.exit_status, x.out, x.err);
  }

  std::string include() { return read_file(config.include_dir + "/main.ini"); }
  int reloads() {
    std::string log = read_file(dir.path() + "/reloads");
    return static_cast<int>(std::count(log.begin(), log.end(), '\n'));
  }
  std::vector<std::string> leftovers() {
    std::vector<std::string> found;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir.path()))
      if (e.path().string().find(".pgdeploy-") != std::string::npos) found.push_back(e.path());
    return found;
  }

  TempDir dir;
  DeployConfig config;
  AppServer server{1, "app1", "127.0.1.1", "postgres", "", false, ""};
  std::string last_err;
};

TEST_P(PushScript, FirstDeployWritesEveryFileAtomicallyWithMode0600AndReloads) {
  PushOutcome o = push(files(1, 1, 100));
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail << last_err;
  EXPECT_EQ(o.changed.size(), 3u);
  EXPECT_TRUE(o.reloaded);
  EXPECT_EQ(reloads(), 1);
  EXPECT_NE(include().find("appdb = host=10.0.0.1 port=5432 dbname=appdb\n"), std::string::npos);
  EXPECT_NE(read_file(config.userlist).find("\"app\" \"md5abc\""), std::string::npos);
  EXPECT_NE(read_file(dir.path() + "/home/.pgpass").find("*:*:*:app:pw"), std::string::npos);
  for (const auto& p : {config.userlist, config.include_dir + "/main.ini", dir.path() + "/home/.pgpass"}) {
    struct stat st;
    ASSERT_EQ(stat(p.c_str(), &st), 0) << p;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << p;
  }
  EXPECT_TRUE(leftovers().empty());
}

TEST_P(PushScript, ARerunWithTheSameContentWritesAndReloadsNothing) {
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  struct stat before;
  stat(config.userlist.c_str(), &before);
  std::string perl_starts = read_file(dir.path() + "/perl.log");
  EXPECT_EQ(perl_starts, "started\n");  // the first deploy ran the program once
  PushOutcome o = push(files(1, 1, 200));  // newer generation, same content
  EXPECT_EQ(o.status, PushOutcome::Status::unchanged) << o.detail;
  EXPECT_EQ(read_file(dir.path() + "/perl.log"), perl_starts) << "the re-run must start no process";
  EXPECT_TRUE(o.changed.empty());
  EXPECT_EQ(reloads(), 1);
  struct stat after;
  stat(config.userlist.c_str(), &after);
  EXPECT_EQ(before.st_ino, after.st_ino);
}

TEST_P(PushScript, OnlyChangedFilesAreReplaced) {
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  PushOutcome o = push(files(1, 1, 200, "otherdb"));
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  ASSERT_EQ(o.changed.size(), 1u);
  EXPECT_EQ(o.changed[0], config.include_dir + "/main.ini");
  EXPECT_EQ(reloads(), 2);
  EXPECT_NE(include().find("otherdb ="), std::string::npos);
}

TEST_P(PushScript, AnOlderTruthNeverReplacesANewerOne) {
  ASSERT_EQ(push(files(2, 2, 50)).status, PushOutcome::Status::written);
  std::string newer = include();
  PushOutcome o = push(files(1, 1, 900));  // older timeline, however high its generation
  EXPECT_EQ(o.status, PushOutcome::Status::skipped_newer);
  EXPECT_NE(o.detail.find("timeline=2"), std::string::npos);
  EXPECT_EQ(include(), newer);
  o = push(files(1, 2, 40));  // same timeline, older generation
  EXPECT_EQ(o.status, PushOutcome::Status::skipped_newer);
  EXPECT_EQ(include(), newer);
  EXPECT_EQ(reloads(), 1);
  EXPECT_TRUE(leftovers().empty());
}

TEST_P(PushScript, ForceWritesOverANewerToken) {
  ASSERT_EQ(push(files(2, 2, 50)).status, PushOutcome::Status::written);
  config.force = true;
  PushOutcome o = push(files(1, 1, 1));
  EXPECT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_NE(include().find("host=10.0.0.1"), std::string::npos);
}

TEST_P(PushScript, ACutShortRequestReplacesNothing) {
  PushOutcome o = push(files(1, 1, 100), "x\ndone\n");
  EXPECT_EQ(o.status, PushOutcome::Status::failed);
  EXPECT_NE(o.detail.find("cut short"), std::string::npos) << o.detail;
  EXPECT_FALSE(std::filesystem::exists(config.include_dir + "/main.ini"));
  EXPECT_EQ(reloads(), 0);
  EXPECT_TRUE(leftovers().empty());
}

TEST_P(PushScript, AnUnwritableDirectoryIsNamed) {
  config.userlist = dir.path() + "/missing/userlist.txt";
  PushOutcome o = push(files(1, 1, 100));
  EXPECT_EQ(o.status, PushOutcome::Status::failed);
  EXPECT_NE(o.detail.find("cannot write " + dir.path() + "/missing/"), std::string::npos) << o.detail;
  EXPECT_EQ(reloads(), 0);
  EXPECT_TRUE(leftovers().empty());
}

TEST_P(PushScript, AFailedReloadIsReportedWithItsOutput) {
  config.reload_command = "echo 'sudo: a password is required' >&2; exit 1";
  PushOutcome o = push(files(1, 1, 100));
  EXPECT_EQ(o.status, PushOutcome::Status::failed);
  EXPECT_TRUE(o.reload_failed);
  EXPECT_NE(o.detail.find("sudo: a password is required"), std::string::npos) << o.detail;
}

TEST_P(PushScript, APlainReloadCommandStartsWithoutAShell) {
  // What started the reload command: the push program itself (perl), not a shell.
  write_file(dir.path() + "/bin/reloader", "#!/bin/sh\necho \"$*\" > " + dir.path() +
                                               "/reloader.log\ncat /proc/$PPID/comm >> " +
                                               dir.path() + "/reloader.log\n");
  chmod((dir.path() + "/bin/reloader").c_str(), 0755);
  config.reload_command = "reloader -n pgbouncer reload";
  PushOutcome o = push(files(1, 1, 100));
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_TRUE(o.reloaded);
  EXPECT_EQ(read_file(dir.path() + "/reloader.log"), "-n pgbouncer reload\nperl\n");
  config.reload_command = "reloader-that-is-not-there reload";
  o = push(files(2, 2, 10));
  EXPECT_TRUE(o.reload_failed);
  EXPECT_NE(o.detail.find("cannot run reloader-that-is-not-there"), std::string::npos) << o.detail;
}

TEST_P(PushScript, AFailedReloadIsRedoneByTheNextRunWithTheSessionCut) {
  server.admin_conninfo = "host=/run/pgb port=6432 dbname=pgbouncer";
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  config.reload_command = "exit 1";
  EXPECT_EQ(push(files(2, 2, 10)).status, PushOutcome::Status::failed);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/psql.log"));
  config.reload_command = "echo reload >> " + dir.path() + "/reloads";
  PushOutcome o = push(files(2, 2, 20));  // same files: only the reload and the cut are due
  EXPECT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_TRUE(o.changed.empty());
  EXPECT_TRUE(o.reloaded);
  EXPECT_EQ(o.sessions, "cut");
  EXPECT_EQ(push(files(2, 2, 30)).status, PushOutcome::Status::unchanged);
}

TEST_P(PushScript, ADrainNeverLeavesADatabasePausedWhenTheReloadFails) {
  server.admin_conninfo = "host=/run/pgb port=6432 dbname=pgbouncer";
  config.drain_sessions = true;
  config.pause_wait_seconds = 1;
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  write_file(dir.path() + "/bin/psql", "#!/bin/sh\nprintf '%s|' \"$@\" >> " + dir.path() +
                                           "/psql.log\ncase \"$*\" in *PAUSE*) exec sleep 30;; esac\n");
  config.reload_command = "exit 1";
  EXPECT_EQ(push(files(2, 2, 10)).status, PushOutcome::Status::failed);
  std::string log = read_file(dir.path() + "/psql.log");
  auto pause = log.find("PAUSE \"appdb\""), resume = log.find("RESUME \"appdb\"");
  ASSERT_NE(pause, std::string::npos) << log;
  ASSERT_NE(resume, std::string::npos) << log;
  EXPECT_LT(pause, resume);
}

TEST_P(PushScript, ANewPrimaryCutsSessionsThroughTheAdminConsole) {
  server.admin_conninfo = "host=/run/pgb port=6432 dbname=pgbouncer";
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/psql.log"));  // first deploy: no old primary
  PushOutcome o = push(files(2, 2, 10));
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_EQ(o.sessions, "cut");
  std::string log = read_file(dir.path() + "/psql.log");
  EXPECT_NE(log.find("host=/run/pgb port=6432 dbname=pgbouncer|"), std::string::npos) << log;
  EXPECT_NE(log.find("-c|KILL \"appdb\"|-c|RESUME \"appdb\"|"), std::string::npos) << log;
}

TEST_P(PushScript, ASwitchoverDrainsSessionsWithABoundedPause) {
  server.admin_conninfo = "host=/run/pgb port=6432 dbname=pgbouncer";
  config.drain_sessions = true;
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  PushOutcome o = push(files(2, 2, 10));
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_EQ(o.sessions, "drained (PAUSE, RESUME)");
  std::string log = read_file(dir.path() + "/psql.log");
  auto pause = log.find("-c|PAUSE \"appdb\"|"), resume = log.find("-c|RESUME \"appdb\"|");
  ASSERT_NE(pause, std::string::npos) << log;
  ASSERT_NE(resume, std::string::npos) << log;
  EXPECT_LT(pause, resume);
  EXPECT_EQ(log.find("KILL"), std::string::npos) << log;
}

TEST_P(PushScript, APauseThatDoesNotFinishFallsBackToTheCut) {
  server.admin_conninfo = "host=/run/pgb port=6432 dbname=pgbouncer";
  config.drain_sessions = true;
  config.pause_wait_seconds = 1;
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  // A psql that hangs on PAUSE, as PgBouncer does while session clients stay connected.
  write_file(dir.path() + "/bin/psql", "#!/bin/sh\ncase \"$*\" in *PAUSE*) exec sleep 30;; esac\n"
                                       "printf '%s|' \"$@\" >> " + dir.path() + "/psql.log\n");
  auto start = Clock::now();
  PushOutcome o = push(files(2, 2, 10));
  EXPECT_LT(seconds_since(start), 5.0);
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_EQ(o.sessions, "cut");
  EXPECT_NE(read_file(dir.path() + "/psql.log").find("-c|KILL \"appdb\"|"), std::string::npos);
}

TEST_P(PushScript, AdminConsoleErrorsAreReportedButUnknownDatabasesAreNot) {
  server.admin_conninfo = "host=/run/pgb port=6432 dbname=pgbouncer";
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  write_file(dir.path() + "/bin/psql", "#!/bin/sh\necho 'ERROR:  no such database: appdb' >&2\n");
  PushOutcome o = push(files(2, 2, 10));
  EXPECT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_EQ(o.sessions, "cut");
  write_file(dir.path() + "/bin/psql", "#!/bin/sh\necho 'ERROR:  admin access needed' >&2\n");
  o = push(files(3, 3, 10));
  EXPECT_EQ(o.status, PushOutcome::Status::failed);
  EXPECT_NE(o.detail.find("admin access needed"), std::string::npos) << o.detail;
}

TEST_P(PushScript, WithoutAnAdminConsoleTheReportSaysSessionsWereNotCut) {
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  PushOutcome o = push(files(2, 2, 10));
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_NE(o.sessions.find("not cut"), std::string::npos) << o.sessions;
}

// The admin console through its socket, by the program itself: no psql process on the app server.
TEST_P(PushScript, TheAdminConsoleSocketIsUsedWithoutStartingPsql) {
  std::filesystem::create_directories(dir.path() + "/pgb");
  FakeConsole console(dir.path() + "/pgb/.s.PGSQL.6432");
  server.admin_conninfo = "host=" + dir.path() + "/pgb port=6432 dbname=pgbouncer user=pgbouncer";
  config.reload_command = "";  // RELOAD on the console
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  PushOutcome o = push(files(2, 2, 10));
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_TRUE(o.reloaded);
  EXPECT_EQ(o.sessions, "cut");
  EXPECT_EQ(console.queries(), (std::vector<std::string>{"RELOAD", "RELOAD", "KILL \"appdb\"",
                                                         "RESUME \"appdb\""}));
  EXPECT_EQ(console.logins(), std::vector<std::string>(3, "pgbouncer/pgbouncer"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/psql.log"));
  EXPECT_EQ(push(files(2, 2, 20)).status, PushOutcome::Status::unchanged);
}

TEST_P(PushScript, AnAdminConsoleThatAsksForAPasswordIsLeftToPsql) {
  std::filesystem::create_directories(dir.path() + "/pgb");
  FakeConsole console(dir.path() + "/pgb/.s.PGSQL.6432", true);
  server.admin_conninfo = "host=" + dir.path() + "/pgb port=6432 dbname=pgbouncer user=admin";
  config.reload_command = "";
  PushOutcome o = push(files(1, 1, 100));
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_EQ(console.logins(), std::vector<std::string>{"admin/pgbouncer"});
  EXPECT_NE(read_file(dir.path() + "/psql.log").find("user=admin|-X|-q|-A|-t|-c|RELOAD|"),
            std::string::npos);
}

TEST_P(PushScript, ErrorsFromTheAdminConsoleSocketAreReported) {
  std::filesystem::create_directories(dir.path() + "/pgb");
  server.admin_conninfo = "host=" + dir.path() + "/pgb port=6432 dbname=pgbouncer user=pgbouncer";
  config.reload_command = "";
  {
    FakeConsole console(dir.path() + "/pgb/.s.PGSQL.6432");
    console.fail("RELOAD", "admin access needed");
    PushOutcome o = push(files(1, 1, 100));
    EXPECT_EQ(o.status, PushOutcome::Status::failed);
    EXPECT_TRUE(o.reload_failed);
    EXPECT_NE(o.detail.find("admin access needed"), std::string::npos) << o.detail;
  }
  {
    FakeConsole console(dir.path() + "/pgb/.s.PGSQL.6432");
    console.fail("KILL", "no such database: appdb");  // no pool yet: nothing to cut there
    PushOutcome o = push(files(2, 2, 10));
    EXPECT_EQ(o.status, PushOutcome::Status::written) << o.detail;
    EXPECT_EQ(o.sessions, "cut");
  }
  {
    FakeConsole console(dir.path() + "/pgb/.s.PGSQL.6432");
    console.fail("RESUME", "not paused");
    PushOutcome o = push(files(3, 3, 10));
    EXPECT_EQ(o.status, PushOutcome::Status::failed);
    EXPECT_NE(o.detail.find("not paused"), std::string::npos) << o.detail;
  }
}

INSTANTIATE_TEST_SUITE_P(Shells, PushScript, ::testing::Values("/bin/sh", "/bin/bash"));

TEST(PushOutput, ParsesEachOutcome) {
  EXPECT_EQ(parse_push_output(0, "UNCHANGED\n", "").status, PushOutcome::Status::unchanged);
  auto o = parse_push_output(0, "CHANGED /a\nCHANGED /b\nRELOADED\n", "");
  EXPECT_EQ(o.status, PushOutcome::Status::written);
  EXPECT_EQ(o.changed, (std::vector<std::string>{"/a", "/b"}));
  EXPECT_TRUE(o.reloaded);
  o = parse_push_output(1, "ERR cannot write /x\n", "sh: 1: cannot create /x: Permission denied\n");
  EXPECT_EQ(o.status, PushOutcome::Status::failed);
  EXPECT_EQ(o.detail, "cannot write /x (sh: 1: cannot create /x: Permission denied)");
  o = parse_push_output(127, "", "bash: flock: command not found\n");
  EXPECT_EQ(o.status, PushOutcome::Status::failed);
  EXPECT_NE(o.detail.find("flock: command not found"), std::string::npos);
}

TEST(ShellQuote, SurvivesQuotes) {
  EXPECT_EQ(shell_quote("a'b"), "'a'\\''b'");
}

}  // namespace
}  // namespace pgdeploy
