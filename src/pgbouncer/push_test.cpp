// The push program, started by dash and by bash as a login shell would, run for real against a
// temporary "app server".
#include "pgbouncer/push.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <set>
#include <thread>

#include "deploy/deployment.h"
#include "deploy/fingerprint.h"
#include "deploy/request.h"
#include "testing/fake_console.h"
#include "testing/local_remote.h"

namespace pgdeploy {
namespace {

class PushProgram : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir.path() + "/etc/databases");
    std::filesystem::create_directories(dir.path() + "/home");
    std::filesystem::create_directories(dir.path() + "/bin");
    std::filesystem::create_directories(dir.path() + "/pgb");
    std::filesystem::create_directories(dir.path() + "/proc");  // no PgBouncer but those asked
    // A stand-in psql: logs its PG* environment and its standard input, and answers SHOW
    // DATABASES from the include file as if PgBouncer had just read it; "psql.hang" makes a
    // PAUSE hang, "psql.error" is printed as its error output.
    write_file(dir.path() + "/bin/psql",
               "#!/usr/bin/perl\n"
               "my $d = '" +
                   dir.path() +
                   "';\n"
                   R"PL(
my $in = do { local $/; <STDIN> };
open(my $log, '>>', "$d/psql.log");
print $log map({ "$_=$ENV{$_}\n" } sort grep { /^PG[A-Z]/ && !/^PGDEPLOY/ } keys %ENV), "args=@ARGV\n", $in, "---\n";
close $log;
sleep 30 if $in =~ /^PAUSE/ && -e "$d/psql.hang";
if (open(my $e, '<', "$d/psql.error")) { print STDERR <$e> }
if ($in =~ /^SHOW DATABASES/) {
  print "name\x1fhost\x1fport\x1e\n";
  open(my $f, '<', "$d/etc/databases/main.ini");
  while (<$f>) { print "$1\x1f$2\x1f$3\x1e\n" if /^(\S+) = host=(\S+) port=(\d+)/ && $1 ne '*' }
} elsif ($in =~ /^SHOW SERVERS/) {
  print "database\x1faddr\x1fport\x1e\n";
}
)PL");
    chmod((dir.path() + "/bin/psql").c_str(), 0755);
    // A perl that counts its starts, so the builtin-only re-run is visible.
    write_file(dir.path() + "/bin/perl",
               "#!/bin/sh\necho started >> " + dir.path() + "/perl.log\nexec /usr/bin/perl \"$@\"\n");
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

  PushRequest request(const Rendered& r) {
    PushRequest req;
    std::string err;
    EXPECT_TRUE(build_request(server, r, config, &req, &err)) << err;
    req.budget_ms = 4000;
    return req;
  }

  ExecResult run(const std::string& command, const std::string& input,
                 const std::vector<std::string>& extra_env = {}) {
    std::vector<std::string> env = {"HOME=" + dir.path() + "/home", "PGDEPLOY_PROC=" + dir.path() + "/proc",
                                    "PGDEPLOY_PSQL=" + dir.path() + "/bin/psql",
                                    "PATH=" + dir.path() + "/bin:/usr/bin:/bin"};
    env.insert(env.end(), extra_env.begin(), extra_env.end());
    LocalRemote remote(GetParam(), env);
    ExecResult x = remote.run(command, input, Deadline::after(10));
    EXPECT_TRUE(x.ok) << x.error;
    last_err = x.err;
    return x;
  }

  PushOutcome push(const Rendered& r, const std::string& input_suffix_cut = "",
                   const std::vector<std::string>& extra_env = {}) {
    PushRequest req = request(r);
    std::string input = push_payload(req);
    if (!input_suffix_cut.empty()) input = input.substr(0, input.size() - input_suffix_cut.size());
    ExecResult x = run(push_command(req), input, extra_env);
    return parse_push_output(x.exit_status, x.out, x.err);
  }

  // The admin console: the stand-in psql (a conninfo psql needs), or a FakeConsole on a socket.
  void use_psql_console() {
    server.admin_conninfo = "host=" + dir.path() +
                            "/pgb port=6432 dbname=pgbouncer user=admin password=secret";
  }
  void use_socket_console() {
    server.admin_conninfo = "host=" + dir.path() + "/pgb port=6432 dbname=pgbouncer user=pgbouncer";
    config.reload_command = "";  // RELOAD on the console
  }
  std::string socket() { return dir.path() + "/pgb/.s.PGSQL.6432"; }

  std::string include() { return read_file(config.include_dir + "/main.ini"); }
  std::string psql_log() { return read_file(dir.path() + "/psql.log"); }
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
  // The guardian RESUMEs after the program has ended: wait a little for it.
  bool eventually(const std::function<bool()>& what) {
    for (int i = 0; i < 100 && !what(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return what();
  }

  // The resident program (serve) on this "app server"; `fault`: its PGDEPLOY_FAULT.
  std::unique_ptr<Stream> serve(const std::string& fault = "") {
    std::vector<std::string> env = {"HOME=" + dir.path() + "/home",
                                    "PATH=" + dir.path() + "/bin:/usr/bin:/bin"};
    if (!fault.empty()) env.push_back("PGDEPLOY_FAULT=" + fault);
    resident = std::make_unique<LocalRemote>(GetParam(), env);
    ExecResult failed;
    auto stream = resident->start(serve_command(), Deadline::after(10), &failed);
    EXPECT_TRUE(stream) << failed.error;
    return stream;
  }

  TempDir dir;
  DeployConfig config;
  AppServer server{1, "app1", "127.0.1.1", "postgres", "", false, "", {}, ""};
  std::string last_err;
  std::unique_ptr<LocalRemote> resident;  // serve()'s
};

TEST_P(PushProgram, FirstDeployWritesEveryFileAtomicallyWithMode0600AndReloads) {
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

TEST_P(PushProgram, ARerunWithTheSameContentWritesAndReloadsNothing) {
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  struct stat before;
  stat(config.userlist.c_str(), &before);
  std::string perl_starts = read_file(dir.path() + "/perl.log");
  EXPECT_EQ(perl_starts, "started\n");     // the first deploy ran the program once
  PushOutcome o = push(files(1, 1, 200));  // newer generation, same content
  EXPECT_EQ(o.status, PushOutcome::Status::unchanged) << o.detail;
  EXPECT_EQ(read_file(dir.path() + "/perl.log"), perl_starts) << "the re-run must start no process";
  EXPECT_TRUE(o.changed.empty());
  EXPECT_EQ(reloads(), 1);
  struct stat after;
  stat(config.userlist.c_str(), &after);
  EXPECT_EQ(before.st_ino, after.st_ino);
}

TEST_P(PushProgram, OnlyChangedFilesAreReplaced) {
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  PushOutcome o = push(files(1, 1, 200, "otherdb"));
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  ASSERT_EQ(o.changed.size(), 1u);
  EXPECT_EQ(o.changed[0], config.include_dir + "/main.ini");
  EXPECT_EQ(reloads(), 2);
  EXPECT_NE(include().find("otherdb ="), std::string::npos);
}

TEST_P(PushProgram, AnOlderTruthNeverReplacesANewerOne) {
  ASSERT_EQ(push(files(2, 2, 50)).status, PushOutcome::Status::written);
  std::string newer = include();
  PushOutcome o = push(files(1, 1, 900));  // older timeline, however high its generation
  EXPECT_EQ(o.status, PushOutcome::Status::skipped_newer);
  EXPECT_NE(o.newer.find("timeline=2"), std::string::npos);
  EXPECT_EQ(include(), newer);
  o = push(files(1, 2, 40));  // same timeline, older generation
  EXPECT_EQ(o.status, PushOutcome::Status::skipped_newer);
  EXPECT_EQ(include(), newer);
  EXPECT_EQ(reloads(), 1);
  EXPECT_TRUE(leftovers().empty());
}

TEST_P(PushProgram, ForceWritesOverANewerToken) {
  ASSERT_EQ(push(files(2, 2, 50)).status, PushOutcome::Status::written);
  config.force = true;
  PushOutcome o = push(files(1, 1, 1));
  EXPECT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_NE(include().find("host=10.0.0.1"), std::string::npos);
}

TEST_P(PushProgram, ACutShortRequestReplacesNothing) {
  PushOutcome o = push(files(1, 1, 100), "x\ndone\n");
  EXPECT_EQ(o.status, PushOutcome::Status::failed);
  EXPECT_NE(o.detail.find("cut short"), std::string::npos) << o.detail;
  EXPECT_FALSE(std::filesystem::exists(config.include_dir + "/main.ini"));
  EXPECT_EQ(reloads(), 0);
  EXPECT_TRUE(leftovers().empty());
}

TEST_P(PushProgram, AnUnwritableDirectoryIsNamed) {
  config.userlist = dir.path() + "/missing/userlist.txt";
  PushOutcome o = push(files(1, 1, 100));
  EXPECT_EQ(o.status, PushOutcome::Status::failed);
  EXPECT_NE(o.detail.find("cannot write " + dir.path() + "/missing/"), std::string::npos) << o.detail;
  EXPECT_EQ(reloads(), 0);
  EXPECT_TRUE(leftovers().empty());
}

TEST_P(PushProgram, AFailedReloadIsReportedWithItsOutput) {
  config.reload_command = "echo 'sudo: a password is required' >&2; exit 1";
  PushOutcome o = push(files(1, 1, 100));
  EXPECT_EQ(o.status, PushOutcome::Status::failed);
  EXPECT_TRUE(o.reload_failed);
  EXPECT_NE(o.detail.find("sudo: a password is required"), std::string::npos) << o.detail;
}

TEST_P(PushProgram, APlainReloadCommandStartsWithoutAShell) {
  // What started the reload command: the push program itself (perl), not a shell.
  write_file(dir.path() + "/bin/reloader", "#!/bin/sh\necho \"$*\" > " + dir.path() +
                                               "/reloader.log\ncat /proc/$PPID/comm >> " + dir.path() +
                                               "/reloader.log\n");
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

TEST_P(PushProgram, AFailedReloadIsRedoneByTheNextRunWithTheSessionCut) {
  FakeConsole console(socket());
  console.route_from(config.include_dir + "/main.ini");
  use_socket_console();
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  console.fail("RELOAD", "boom");
  EXPECT_EQ(push(files(2, 2, 10)).status, PushOutcome::Status::failed);
  EXPECT_EQ(console.route("appdb").first, "10.0.0.1");
  console.clear_failures();
  PushOutcome o = push(files(2, 2, 20));  // same files: only the reload and the cut are due
  EXPECT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_TRUE(o.changed.empty());
  EXPECT_TRUE(o.reloaded);
  EXPECT_TRUE(o.confirmed);
  EXPECT_EQ(o.sessions, "cut");
  EXPECT_EQ(console.route("appdb").first, "10.0.0.2");
  EXPECT_EQ(push(files(2, 2, 30)).status, PushOutcome::Status::unchanged);
}

// Finding 9 and "confirm": PgBouncer 1.18 answers RELOAD with OK when it rejects the file.
TEST_P(PushProgram, AReloadPgBouncerRejectedIsReportedAsFailedAndRedone) {
  FakeConsole console(socket());
  console.route_from(config.include_dir + "/main.ini");
  use_socket_console();
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  console.reject_reloads();
  PushOutcome o = push(files(2, 2, 10));
  EXPECT_EQ(o.status, PushOutcome::Status::failed);
  EXPECT_TRUE(o.reload_failed);
  EXPECT_NE(o.detail.find("kept its old routes"), std::string::npos) << o.detail;
  EXPECT_NE(o.detail.find("appdb -> 10.0.0.1:5432"), std::string::npos) << o.detail;
  EXPECT_EQ(o.sessions, "");  // cutting would only reconnect them to the old primary
  EXPECT_TRUE(std::filesystem::exists(config.include_dir + "/.main.pending"));
}

TEST_P(PushProgram, ADrainNeverLeavesADatabasePausedWhenTheReloadFails) {
  use_psql_console();
  config.drain_sessions = true;
  config.pause_wait_seconds = 1;
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  write_file(dir.path() + "/psql.hang", "");
  config.reload_command = "exit 1";
  EXPECT_EQ(push(files(2, 2, 10)).status, PushOutcome::Status::failed);
  ASSERT_TRUE(eventually([&] { return psql_log().find("RESUME appdb") != std::string::npos; })) << psql_log();
  EXPECT_LT(psql_log().find("PAUSE appdb"), psql_log().find("RESUME appdb"));
}

TEST_P(PushProgram, ANewPrimaryCutsSessionsThroughPsqlWithTheConninfoInItsEnvironment) {
  use_psql_console();
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  EXPECT_EQ(psql_log().find("KILL"), std::string::npos);  // first deploy: no old primary
  PushOutcome o = push(files(2, 2, 10));
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_TRUE(o.confirmed);
  EXPECT_EQ(o.sessions, "cut");
  std::string log = psql_log();
  EXPECT_NE(log.find("PGHOST=" + dir.path() + "/pgb\nPGPASSWORD=secret\nPGPORT=6432\nPGUSER=admin\n"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("secret", log.find("args=")), log.find("PGPASSWORD=secret", log.find("args=")) + 11)
      << "the password is never on psql's command line";
  EXPECT_NE(log.find("KILL appdb;\n---"), std::string::npos) << log;
  EXPECT_LT(log.find("KILL appdb"), log.find("RESUME appdb"));
}

TEST_P(PushProgram, ASwitchoverDrainsSessionsWithABoundedPause) {
  use_psql_console();
  config.drain_sessions = true;
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  PushOutcome o = push(files(2, 2, 10));
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_EQ(o.sessions, "drained (PAUSE, RESUME)");
  std::string log = psql_log();
  ASSERT_NE(log.find("PAUSE appdb;"), std::string::npos) << log;
  EXPECT_LT(log.find("PAUSE appdb;"), log.find("RESUME appdb;"));
  EXPECT_EQ(log.find("KILL"), std::string::npos) << log;
}

TEST_P(PushProgram, APauseThatDoesNotFinishFallsBackToTheCut) {
  use_psql_console();
  config.drain_sessions = true;
  config.pause_wait_seconds = 1;
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  write_file(dir.path() + "/psql.hang", "");  // as PgBouncer does while session clients stay
  auto start = Clock::now();
  PushOutcome o = push(files(2, 2, 10));
  EXPECT_LT(seconds_since(start), 5.0);
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_EQ(o.sessions, "cut");
  EXPECT_NE(psql_log().find("KILL appdb;"), std::string::npos);
}

TEST_P(PushProgram, AdminConsoleErrorsAreReportedButUnknownDatabasesAreNot) {
  FakeConsole console(socket());
  console.route_from(config.include_dir + "/main.ini");
  use_socket_console();
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  console.fail("KILL", "no such database: appdb");  // no pool yet: nothing to cut there
  PushOutcome o = push(files(2, 2, 10));
  EXPECT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_EQ(o.sessions, "cut");
  console.clear_failures();
  console.fail("RESUME", "admin access needed");
  o = push(files(3, 3, 10));
  EXPECT_EQ(o.status, PushOutcome::Status::failed);
  EXPECT_NE(o.detail.find("admin access needed"), std::string::npos) << o.detail;
}

TEST_P(PushProgram, WithoutAnAdminConsoleTheReportSaysSessionsWereNotCut) {
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  PushOutcome o = push(files(2, 2, 10));
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_EQ(o.sessions, "not cut: no PgBouncer admin console configured");
}

// "Also seen": an include written by hand or by the original tool has no header naming the old
// primary; PgBouncer itself tells where it routes.
TEST_P(PushProgram, SessionsAreCutWhenPgBouncerRoutesElsewhereHeaderOrNot) {
  FakeConsole console(socket());
  write_file(config.include_dir + "/main.ini", "appdb = host=10.0.0.1 port=5432 dbname=appdb user=repmgr\n");
  console.route_from(config.include_dir + "/main.ini");
  use_socket_console();
  PushOutcome o = push(files(2, 2, 10));
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_EQ(o.sessions, "cut");
  // Without a console the report says what it cannot know.
  server.admin_conninfo = "";
  config.reload_command = "echo reload >> " + dir.path() + "/reloads";
  write_file(config.include_dir + "/main.ini", "appdb = host=10.0.0.1 port=5432 dbname=appdb\n");
  o = push(files(3, 3, 10));
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_NE(o.sessions.find("not cut: the old routes are unknown"), std::string::npos) << o.sessions;
}

TEST_P(PushProgram, ServerConnectionsStillOnTheOldPrimaryAreCutAlthoughTheRoutesAreRight) {
  FakeConsole console(socket());
  console.route_from(config.include_dir + "/main.ini");
  use_socket_console();
  ASSERT_EQ(push(files(2, 2, 10)).status, PushOutcome::Status::written);
  console.set_servers({{"appdb", "10.0.0.1", "5432"}});  // a session-pooled client from before
  write_file(config.include_dir + "/.main.pending", "pending 1 sessions\n");
  PushOutcome o = push(files(2, 2, 20));
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_FALSE(o.reloaded);
  EXPECT_EQ(o.sessions, "cut");
  EXPECT_EQ(console.server_count(), 0u);
}

// The admin console through its socket, by the program itself: no psql process on the app server.
TEST_P(PushProgram, TheAdminConsoleSocketIsUsedWithoutStartingPsql) {
  FakeConsole console(socket());
  console.route_from(config.include_dir + "/main.ini");
  use_socket_console();
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  size_t logins = console.logins().size();
  PushOutcome o = push(files(2, 2, 10));
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_TRUE(o.reloaded);
  EXPECT_TRUE(o.confirmed);
  EXPECT_EQ(o.sessions, "cut");
  // Three logins for a cut: where it routes; RELOAD and the confirm; KILL and RESUME.
  EXPECT_EQ(console.logins().size() - logins, 3u);
  std::vector<std::string> commands;
  for (const auto& q : console.queries())
    if (q.rfind("SHOW ", 0) != 0) commands.push_back(q);
  EXPECT_EQ(commands, (std::vector<std::string>{"RELOAD", "RELOAD", "KILL appdb", "RESUME appdb"}));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/psql.log"));
  EXPECT_EQ(push(files(2, 2, 20)).status, PushOutcome::Status::unchanged);
}

// Several PgBouncer processes on one port (so_reuseport), each its own socket directory: the
// row's admin_sockets lists them, and every one is reloaded, confirmed and cut.
TEST_P(PushProgram, EveryListedProcessIsReloadedConfirmedAndCut) {
  std::filesystem::create_directories(dir.path() + "/pgb2");
  FakeConsole one(socket()), two(dir.path() + "/pgb2/.s.PGSQL.6432");
  one.route_from(config.include_dir + "/main.ini");
  two.route_from(config.include_dir + "/main.ini");
  use_socket_console();
  server.admin_sockets = dir.path() + "/pgb, " + dir.path() + "/pgb2";
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  two.set_servers({{"appdb", "10.0.0.1", "5432"}});  // a client held on the second process
  PushOutcome o = push(files(2, 2, 10));
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_TRUE(o.confirmed);
  EXPECT_EQ(o.sessions, "cut");
  for (FakeConsole* c : {&one, &two}) {
    std::vector<std::string> commands;
    for (const auto& q : c->queries())
      if (q.rfind("SHOW ", 0) != 0) commands.push_back(q);
    EXPECT_EQ(commands, (std::vector<std::string>{"RELOAD", "RELOAD", "KILL appdb", "RESUME appdb"}));
    EXPECT_EQ(c->route("appdb").first, "10.0.0.2");
  }
  EXPECT_EQ(two.server_count(), 0u);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/psql.log"));
}

TEST_P(PushProgram, AProcessThatCannotBeAskedFailsTheServerByNameAndTheOthersAreStillUpdated) {
  std::filesystem::create_directories(dir.path() + "/pgb2");
  FakeConsole one(socket());
  auto two = std::make_unique<FakeConsole>(dir.path() + "/pgb2/.s.PGSQL.6432");
  one.route_from(config.include_dir + "/main.ini");
  two->route_from(config.include_dir + "/main.ini");
  use_socket_console();
  server.admin_sockets = dir.path() + "/pgb " + dir.path() + "/pgb2";
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  two.reset();  // the second process is stopped; psql cannot reach it either
  write_file(dir.path() + "/psql.error",
             "psql: error: connection to server failed: No such file or directory\n");
  PushOutcome o = push(files(2, 2, 10));
  EXPECT_EQ(o.status, PushOutcome::Status::failed);
  EXPECT_NE(o.detail.find("PgBouncer at " + dir.path() + "/pgb2: "), std::string::npos) << o.detail;
  EXPECT_EQ(o.detail.find("PgBouncer at " + dir.path() + "/pgb:"), std::string::npos) << o.detail;
  EXPECT_TRUE(o.confirmed) << "the first process took the new routes";
  EXPECT_EQ(o.sessions, "cut");
  EXPECT_EQ(one.route("appdb").first, "10.0.0.2");
  EXPECT_NE(psql_log().find("PGHOST=" + dir.path() + "/pgb2\n"), std::string::npos) << psql_log();
  // The marker stays: the next run reloads and cuts again, and succeeds once the process is back.
  EXPECT_TRUE(std::filesystem::exists(config.include_dir + "/.main.pending"));
  std::filesystem::remove(dir.path() + "/psql.error");
  FakeConsole back(dir.path() + "/pgb2/.s.PGSQL.6432");
  back.route_from(config.include_dir + "/main.ini");
  o = push(files(2, 2, 20));
  EXPECT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_FALSE(std::filesystem::exists(config.include_dir + "/.main.pending"));
}

TEST_P(PushProgram, ACheckAsksEveryProcessAndSaysWhichRoutesWhere) {
  std::filesystem::create_directories(dir.path() + "/pgb2");
  write_file(config.include_dir + "/main.ini", "appdb = host=10.0.0.2 port=5432 dbname=appdb\n");
  write_file(dir.path() + "/by-hand.ini", "appdb = host=10.0.0.1 port=5432 dbname=appdb\n");
  FakeConsole one(socket()), two(dir.path() + "/pgb2/.s.PGSQL.6432");
  one.route_from(config.include_dir + "/main.ini");
  two.route_from(dir.path() + "/by-hand.ini");  // pointed back at the old node by hand
  use_socket_console();
  server.admin_sockets = dir.path() + "/pgb," + dir.path() + "/pgb2," + dir.path() + "/gone";
  write_file(dir.path() + "/psql.error", "psql: error: connection to server failed\n");
  PushRequest req = request(files(2, 2, 10));
  req.mode = PushRequest::Mode::check;
  ExecResult x = run(push_command(req), push_payload(req));
  CheckAnswer a = parse_check_output(x.exit_status, x.out, x.err);
  ASSERT_TRUE(a.ok) << a.error << x.out;
  ASSERT_EQ(a.processes.size(), 3u) << x.out;
  EXPECT_EQ(a.processes[0].dir, dir.path() + "/pgb");
  EXPECT_EQ(a.processes[0].console, "ok");
  ASSERT_EQ(a.processes[0].routes.size(), 1u);
  EXPECT_EQ(a.processes[0].routes[0].address, "10.0.0.2:5432");
  ASSERT_EQ(a.processes[1].routes.size(), 1u);
  EXPECT_EQ(a.processes[1].routes[0].address, "10.0.0.1:5432");
  EXPECT_EQ(a.processes[2].console.rfind("failed: ", 0), 0u) << a.processes[2].console;
  EXPECT_EQ(a.console.rfind("failed: PgBouncer at " + dir.path() + "/gone: ", 0), 0u) << a.console;
  EXPECT_TRUE(a.routes.empty());
}

// A PgBouncer process of this host that the row does not list (one more on the same port) is
// named: after a push in a note where the row lists processes (admin_sockets), in a check as
// UNLISTED always. Those a console reached, and those of another mount namespace (another host,
// in the test rig), are not.
TEST_P(PushProgram, APgBouncerProcessNoConsoleReachedIsNamed) {
  FakeConsole console(socket());  // in this process: its pid is what SO_PEERCRED tells
  console.route_from(config.include_dir + "/main.ini");
  use_socket_console();
  server.admin_sockets = dir.path() + "/pgb";
  std::string proc = dir.path() + "/proc";
  auto process = [&](const std::string& pid, const std::string& comm, const std::string& ns) {
    std::filesystem::create_directories(proc + "/" + pid + "/ns");
    write_file(proc + "/" + pid + "/comm", comm + "\n");
    write_file(proc + "/" + pid + "/cmdline",
               std::string("/usr/sbin/pgbouncer") + '\0' + "/etc/pgbouncer/p-" + pid + ".ini" + '\0');
    std::filesystem::create_symlink(ns, proc + "/" + pid + "/ns/mnt");
  };
  std::filesystem::create_directories(proc + "/self/ns");
  std::filesystem::create_symlink("mnt:[1]", proc + "/self/ns/mnt");
  process(std::to_string(getpid()), "pgbouncer", "mnt:[1]");  // the one the console reached
  process("999991", "pgbouncer", "mnt:[1]");                  // one more, not listed
  process("999992", "pgbouncer", "mnt:[2]");                  // another host's
  process("999993", "postgres", "mnt:[1]");
  PushOutcome o = push(files(1, 1, 100));
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  std::string notes;
  for (const auto& n : o.notes) notes += n + "\n";
  EXPECT_NE(notes.find("no console of this row reached, so neither reloaded nor asked: pid 999991 "
                       "(/usr/sbin/pgbouncer /etc/pgbouncer/p-999991.ini)"),
            std::string::npos)
      << notes;
  EXPECT_EQ(notes.find("999992"), std::string::npos) << notes;
  EXPECT_EQ(notes.find(std::to_string(getpid())), std::string::npos) << notes;
  PushRequest req = request(files(1, 1, 100));
  req.mode = PushRequest::Mode::check;
  ExecResult x = run(push_command(req), push_payload(req));
  CheckAnswer a = parse_check_output(x.exit_status, x.out, x.err);
  ASSERT_TRUE(a.ok) << a.error;
  EXPECT_EQ(a.unlisted,
            std::vector<std::string>{"pid 999991 (/usr/sbin/pgbouncer /etc/pgbouncer/p-999991.ini)"});

  // A row that lists no process: a push does not scan /proc (its note would need it), a check does.
  server.admin_sockets = "";
  PushOutcome again = push(files(2, 1, 200));
  ASSERT_EQ(again.status, PushOutcome::Status::written) << again.detail;
  for (const auto& n : again.notes)
    EXPECT_EQ(n.find("no console of this row reached"), std::string::npos) << n;
  req = request(files(2, 1, 200));
  req.mode = PushRequest::Mode::check;
  x = run(push_command(req), push_payload(req));
  a = parse_check_output(x.exit_status, x.out, x.err);
  ASSERT_TRUE(a.ok) << a.error;
  EXPECT_EQ(a.unlisted,
            std::vector<std::string>{"pid 999991 (/usr/sbin/pgbouncer /etc/pgbouncer/p-999991.ini)"});
}

TEST_P(PushProgram, AnAdminConsoleThatAsksForAPasswordIsLeftToPsql) {
  FakeConsole console(socket(), true);
  use_socket_console();
  server.admin_conninfo = "host=" + dir.path() + "/pgb port=6432 dbname=pgbouncer user=admin";
  PushOutcome o = push(files(1, 1, 100));
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_EQ(console.logins()[0], "admin/pgbouncer");
  EXPECT_NE(psql_log().find("PGUSER=admin\nargs=-X -q -A -t -f -\nRELOAD;\n"), std::string::npos)
      << psql_log();
  EXPECT_EQ(psql_log().find("VERSION"), std::string::npos)
      << "through psql the version is a process of its own";
  EXPECT_FALSE(o.pgbouncer_version.known());
}

// The render follows the version each server's PgBouncer runs (docs/pgbouncer-versions.md): a
// push reads it in the console login it makes anyway, and only where it makes one.
TEST_P(PushProgram, APushReadsThePgBouncerVersionInTheLoginItMakesAnyway) {
  FakeConsole console(socket());
  console.route_from(config.include_dir + "/main.ini");
  console.set_version("PgBouncer 1.18.0");
  use_socket_console();
  PushOutcome o = push(files(1, 1, 100));
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_EQ(o.pgbouncer_version.text(), "1.18.0");
  // One login more than a push without the version? None: it rides on the look at the routes.
  std::vector<std::string> q = console.queries();
  auto at = std::find(q.begin(), q.end(), "SHOW VERSION");
  ASSERT_NE(at, q.end());
  EXPECT_EQ(*(at - 1), "SHOW SERVERS");
  EXPECT_EQ(std::count(q.begin(), q.end(), "SHOW VERSION"), 1) << "asked once a push";
  size_t logins = console.logins().size();
  console.set_version("");
  push(files(2, 2, 10));
  size_t without = console.logins().size() - logins;
  console.set_version("PgBouncer 1.18.0");
  push(files(1, 3, 10));
  EXPECT_EQ(console.logins().size() - logins - without, without);
  // Nothing to do: no login, no version (the watcher keeps the one it knows).
  size_t before = console.logins().size();
  o = push(files(1, 3, 20));
  EXPECT_EQ(o.status, PushOutcome::Status::unchanged);
  EXPECT_FALSE(o.pgbouncer_version.known());
  EXPECT_EQ(console.logins().size(), before);
}

// Every byte from an app server is hostile: a version that is not one changes nothing else.
TEST_P(PushProgram, AVersionThatIsNotOneIsNotBelievedAndChangesNothingElse) {
  FakeConsole console(socket());
  console.route_from(config.include_dir + "/main.ini");
  use_socket_console();
  int n = 0;
  // A line break cannot smuggle a second line in: the row's start is read, as PgBouncer's own.
  for (const auto& [said, read] : std::vector<std::pair<std::string, std::string>>{
           {"PgBouncer x.y", "unknown"},
           {"pgbouncer 1.18.0", "unknown"},
           {"PgBouncer 1.18.0" + std::string(100000, '9'), "unknown"},
           {"PgBouncer 99999.1.1", "unknown"},
           {"PgBouncer 1.18.0\nVERSION PgBouncer 1.25.0", "1.18.0"}}) {
    SCOPED_TRACE(said.substr(0, 40));
    console.set_version(said);
    ++n;
    PushOutcome o = push(files(n % 2 + 1, n, 10));
    EXPECT_EQ(o.status, PushOutcome::Status::written) << o.detail;
    EXPECT_EQ(o.pgbouncer_version.text(), read);
    EXPECT_EQ(o.sessions, n == 1 ? "" : "cut");
    EXPECT_EQ(console.route("appdb").first, "10.0.0." + std::to_string(n % 2 + 1));
  }
}

// Finding 10: a planted symlink at a predictable temporary name once redirected a root push.
TEST_P(PushProgram, PlantedSymlinksAreNeverFollowed) {
  std::string victim = dir.path() + "/victim";
  write_file(victim, "precious\n");
  for (int pid = 1; pid < 40000; pid += 997)  // the old predictable names, some of them
    std::filesystem::create_symlink(victim,
                                    config.include_dir + "/.main.ini.pgdeploy-" + std::to_string(pid));
  std::filesystem::create_symlink(victim, config.userlist);
  std::filesystem::create_symlink(victim, config.include_dir + "/.main.lock");
  PushOutcome o = push(files(1, 1, 100));
  EXPECT_EQ(o.status, PushOutcome::Status::failed);  // the lock is a symlink: refused
  EXPECT_NE(o.detail.find("cannot open lock file"), std::string::npos) << o.detail;
  std::filesystem::remove(config.include_dir + "/.main.lock");
  o = push(files(1, 1, 100));
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_EQ(read_file(victim), "precious\n");
  EXPECT_FALSE(std::filesystem::is_symlink(config.userlist));  // replaced by a file of its own
  EXPECT_NE(read_file(config.userlist).find("\"app\""), std::string::npos);
  EXPECT_TRUE(leftovers().empty()) << "a dead run's names are removed under the lock";
}

// Low finding: a root push once left userlist.txt 0600 root, unreadable to PgBouncer.
TEST_P(PushProgram, AReplacedFileKeepsItsOwnerModeAndGroup) {
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  chmod((config.include_dir + "/main.ini").c_str(), 0640);
  bool root = geteuid() == 0;
  if (root) {
    ASSERT_EQ(chown((config.include_dir + "/main.ini").c_str(), 65534, 65534), 0);
  }
  ASSERT_EQ(push(files(2, 2, 10, "appdb", "*:*:*:app:pw2\n")).status, PushOutcome::Status::written);
  EXPECT_EQ(read_file(dir.path() + "/perl.log"), "started\nstarted\n");  // rewritten, not skipped
  struct stat st;
  ASSERT_EQ(stat((config.include_dir + "/main.ini").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  if (root) {
    EXPECT_EQ(std::make_pair(st.st_uid, st.st_gid), std::make_pair(65534u, 65534u));
  }
}

TEST_P(PushProgram, AFileChangedByHandIsRewrittenWhenTheProgramRuns) {
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  std::string text = include();
  write_file(config.include_dir + "/main.ini", text + "evil = host=10.6.6.6 port=5432\n");
  write_file(config.include_dir + "/.main.pending", "pending 1 routes\n");  // makes the program run
  PushOutcome o = push(files(1, 1, 200));
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_EQ(include(), files(1, 1, 200).includes.at("").content);
  EXPECT_EQ(include().find("evil"), std::string::npos);
}

// Finding 1: the request is length-prefixed and every field checked; bad bytes change nothing.
TEST_P(PushProgram, AMalformedRequestIsRefusedAndChangesNothing) {
  PushRequest req = request(files(1, 1, 100));
  std::string good = push_payload(req);
  std::string cmd = push_command(req);
  auto refused = [&](const std::string& input, const std::string& why) {
    ExecResult x = run(cmd, input);
    PushOutcome o = parse_push_output(x.exit_status, x.out, x.err);
    EXPECT_EQ(o.status, PushOutcome::Status::failed) << input.substr(0, 200);
    EXPECT_NE(o.detail.find(why), std::string::npos) << o.detail;
  };
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  refused("", "no PGDEPLOY2 header");
  refused(good.substr(0, good.size() - 3), "cut short");
  refused(good + "x", "bytes after the end");
  refused(replaced("pause_s 1\n2\n", "pause_s 1\nx\n"), "pause_s is not a number");
  refused(replaced("pause_s 1\n2\n", "pause_s 2\n2\n\n"), "pause_s is not a number");
  refused(replaced("pause_s 1\n2\n", "pause_s 3\n2\n\n"), "not terminated");
  refused(replaced("force 1\n0\n", "force 2\n0\n"), "not terminated");
  refused(replaced("force 1\n0\n", "force 1\n0\nforce 1\n0\n"), "force twice");
  refused(replaced("force 1\n0\n", "evil 1\n0\n"), "unknown field evil");
  refused(replaced("socket_db 0\n\n", "env 9\nPGX=1\n;id\n"), "malformed request");
  EXPECT_FALSE(std::filesystem::exists(config.include_dir + "/main.ini"));
  EXPECT_EQ(reloads(), 0);
  EXPECT_TRUE(leftovers().empty());
}

// Finding 11: with about 3,000 databases the psql command line once exceeded the kernel's limit.
TEST_P(PushProgram, ThousandsOfDatabasesGoToPsqlOnItsStandardInput) {
  use_psql_console();
  ClusterFacts facts;
  for (int i = 0; i < 5000; ++i) {
    std::string n = std::to_string(i);
    facts.databases.push_back("db_" + std::string(56 - n.size(), '0') + n);  // 59 bytes each
  }
  facts.users = {{"app", "md5abc"}};
  facts.servers = {server};
  auto render = [&](int primary) {
    return render_all(facts, {"10.0.0." + std::to_string(primary), 5432}, {"main", primary, primary, 1}, "");
  };
  ASSERT_EQ(push(render(1)).status, PushOutcome::Status::written);
  PushOutcome o = push(render(2));
  ASSERT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_EQ(o.sessions, "cut");
  std::string log = psql_log();
  EXPECT_NE(log.find("KILL " + facts.databases.back() + ";\n"), std::string::npos);
  EXPECT_NE(log.find("RESUME " + facts.databases.back() + ";\n"), std::string::npos);
}

// pgdeploy check and --dry-run: the same program, asked only. It always runs (no fast path),
// takes no lock, writes nothing, and says by content what a deploy would change.
TEST_P(PushProgram, ACheckSaysWhatIsThereAndWritesNothing) {
  PushRequest req = request(files(1, 1, 100));
  req.mode = PushRequest::Mode::check;
  ExecResult x = run(push_command(req), push_payload(req));
  CheckAnswer a = parse_check_output(x.exit_status, x.out, x.err);
  ASSERT_TRUE(a.ok) << a.error;
  ASSERT_EQ(a.files.size(), 3u);
  for (const auto& f : a.files) EXPECT_EQ(f.state, "missing") << f.path;
  EXPECT_FALSE(a.has_header);
  EXPECT_FALSE(a.has_include);
  EXPECT_EQ(a.console, "none");
  EXPECT_EQ(a.users_added, std::vector<std::string>{"app"});
  EXPECT_TRUE(std::filesystem::is_empty(config.include_dir)) << "no lock file, no marker";
  EXPECT_FALSE(std::filesystem::exists(config.userlist));

  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  std::string perl_starts = read_file(dir.path() + "/perl.log");
  x = run(push_command(req), push_payload(req));
  a = parse_check_output(x.exit_status, x.out, x.err);
  ASSERT_TRUE(a.ok) << a.error;
  for (const auto& f : a.files) EXPECT_EQ(f.state, "current") << f.path;
  EXPECT_TRUE(a.has_header);
  EXPECT_EQ(a.header_primary, 1);
  EXPECT_EQ(a.header_generation, 100u);
  EXPECT_EQ(a.include, include());
  EXPECT_TRUE(a.users_added.empty() && a.users_changed.empty() && a.users_removed.empty());
  EXPECT_EQ(read_file(dir.path() + "/perl.log"), perl_starts + "started\n") << "a check always runs perl";

  // Judged by content: a header that still ends with the digest over another body is stale.
  std::string inc = include();
  write_file(config.include_dir + "/main.ini", inc + "evil = host=10.9.9.9 port=1\n");
  write_file(config.userlist, read_file(config.userlist) + "\"new\" \"md5x\"\n");
  std::string before = include();
  auto listing = leftovers();
  x = run(push_command(req), push_payload(req));
  a = parse_check_output(x.exit_status, x.out, x.err);
  ASSERT_TRUE(a.ok) << a.error;
  EXPECT_EQ(a.files[0].state, "stale");
  EXPECT_EQ(a.files[1].state, "stale");
  EXPECT_EQ(a.users_removed, std::vector<std::string>{"new"});
  EXPECT_EQ(x.out.find("md5"), std::string::npos) << "never a secret";
  EXPECT_EQ(include(), before);
  EXPECT_EQ(leftovers(), listing);
  EXPECT_EQ(reloads(), 1);
}

TEST_P(PushProgram, ADryRunSaysWhatADeployWouldChangeAsADiff) {
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  std::string before = include();
  config.mode = PushRequest::Mode::check;
  LocalRemote remote(GetParam(),
                     {"HOME=" + dir.path() + "/home", "PATH=" + dir.path() + "/bin:/usr/bin:/bin"});
  auto reps = Deployment({server}, config.parallel, config.host_timeout, remote, Deadline::after(10))
                  .push(files(2, 2, 10), config);
  ASSERT_EQ(reps.size(), 1u);
  EXPECT_EQ(reps[0].result, ServerReport::Result::unchanged) << reps[0].error;
  EXPECT_EQ(reps[0].changed, std::vector<std::string>{config.include_dir + "/main.ini"})
      << "userlist.txt: same body, another header: current";
  EXPECT_NE(reps[0].diff.find("\n-appdb = host=10.0.0.1 port=5432"), std::string::npos) << reps[0].diff;
  EXPECT_NE(reps[0].diff.find("\n+appdb = host=10.0.0.2 port=5432"), std::string::npos) << reps[0].diff;
  // An older truth than the one there: a deploy would leave the server alone, and so says the dry run.
  reps = Deployment({server}, config.parallel, config.host_timeout, remote, Deadline::after(10))
             .push(files(1, 1, 50, "otherdb"), config);
  EXPECT_TRUE(reps[0].changed.empty());
  EXPECT_NE(reps[0].note.find("a newer config is there"), std::string::npos) << reps[0].note;
  EXPECT_EQ(include(), before);
  EXPECT_EQ(reloads(), 1);
}

TEST_P(PushProgram, ACheckAsksPgBouncerWhereItRoutesAndWhatItHolds) {
  FakeConsole console(socket());
  write_file(config.include_dir + "/main.ini", "appdb = host=10.0.0.1 port=5432 dbname=appdb\n");
  console.route_from(config.include_dir + "/main.ini");
  console.set_servers({{"appdb", "10.0.0.1", "5432"}, {"appdb", "10.0.0.2", "5432"}});
  use_socket_console();
  PushRequest req = request(files(2, 2, 10));
  req.mode = PushRequest::Mode::check;
  ExecResult x = run(push_command(req), push_payload(req));
  CheckAnswer a = parse_check_output(x.exit_status, x.out, x.err);
  ASSERT_TRUE(a.ok) << a.error;
  EXPECT_EQ(a.console, "ok");
  ASSERT_EQ(a.routes.size(), 1u);
  EXPECT_EQ(a.routes[0].database + " " + a.routes[0].address, "appdb 10.0.0.1:5432");
  ASSERT_EQ(a.servers.size(), 1u) << "only connections elsewhere than the target";
  EXPECT_EQ(a.servers[0].address, "10.0.0.1:5432");
  EXPECT_EQ(a.files[0].state, "foreign");
  for (const auto& q : console.queries()) EXPECT_EQ(q.rfind("SHOW ", 0), 0u) << q;
  EXPECT_EQ(console.server_count(), 2u) << "nothing cut";
}

// PgBouncer shows a server connection's address as inet_ntop writes it; the target may be a name
// (both families: any of its addresses is the target's) or a literal written another way.
TEST_P(PushProgram, ServerConnectionsAreComparedByAddressNotText) {
  FakeConsole console(socket());
  use_socket_console();
  console.set_servers({{"appdb", "::1", "5432"},
                       {"appdb", "127.0.0.1", "5432"},
                       {"appdb", "10.0.0.1", "5432"},
                       {"appdb", "::1", "6543"}});
  for (const char* host : {"0:0:0:0:0:0:0:1", "::0001", "localhost", "127.0.0.1"}) {
    ClusterFacts facts;
    facts.databases = {"appdb"};
    facts.users = {{"app", "md5abc"}};
    facts.servers = {server};
    PushRequest req = request(render_all(facts, {host, 5432}, {"main", 1, 1, 1}, "*:*:*:app:pw\n"));
    req.mode = PushRequest::Mode::check;
    ExecResult x = run(push_command(req), push_payload(req));
    CheckAnswer a = parse_check_output(x.exit_status, x.out, x.err);
    ASSERT_TRUE(a.ok) << a.error;
    std::set<std::string> away;
    for (const auto& s : a.servers) away.insert(s.address);
    std::string local = std::string(host) == "127.0.0.1" ? "::1:5432" : "127.0.0.1:5432";
    if (std::string(host) == "localhost") {
      // The test machine's /etc/hosts may give localhost either family or both: never 10.0.0.1.
      EXPECT_TRUE(away.count("10.0.0.1:5432")) << host;
      EXPECT_TRUE(away.count("::1:6543")) << host << ": another port is another server";
      EXPECT_LE(away.size(), 3u) << host << ": localhost is 127.0.0.1 or ::1";
    } else {
      std::set<std::string> expected = {"10.0.0.1:5432", "::1:6543", local};
      EXPECT_EQ(away, expected) << host;
    }
  }
  EXPECT_EQ(console.server_count(), 4u) << "nothing cut";
}

// The resident mode (pgdeploy watch): one program, one request after another on one channel.
TEST_P(PushProgram, ResidentModeAnswersEachRequestAndJudgesFilesByContent) {
  auto stream = serve();
  ASSERT_TRUE(stream);
  auto ask = [&](const PushRequest& req) {
    ExecResult x = stream->exchange(push_payload(req), Deadline::after(10));
    EXPECT_TRUE(x.ok) << x.error;
    return parse_push_output(x.exit_status, x.out, x.err);
  };
  PushRequest req = request(files(1, 1, 100));
  ExecResult ping = stream->exchange(ping_payload(), Deadline::after(10));
  EXPECT_EQ(ping.out, "DONE ok\n") << "a ping is answered at once, and touches nothing";
  EXPECT_FALSE(std::filesystem::exists(config.include_dir + "/main.ini"));
  EXPECT_EQ(ask(req).status, PushOutcome::Status::written);
  EXPECT_EQ(ask(req).status, PushOutcome::Status::unchanged);
  EXPECT_EQ(reloads(), 1);
  // A hand edit below our header: the header's digest still matches, the content does not.
  write_file(config.include_dir + "/main.ini", include() + "evil = host=10.6.6.6\n");
  PushOutcome o = ask(req);
  EXPECT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_EQ(o.changed, std::vector<std::string>{config.include_dir + "/main.ini"});
  EXPECT_EQ(include().find("evil"), std::string::npos);
  EXPECT_EQ(reloads(), 2);
  // A newer truth: written by the same program, which is still the only perl started.
  EXPECT_EQ(ask(request(files(2, 2, 101))).status, PushOutcome::Status::written);
  std::string perls = read_file(dir.path() + "/perl.log");
  EXPECT_EQ(std::count(perls.begin(), perls.end(), '\n'), 1) << "one resident program";
  // A request that breaks the framing ends the program: nothing after it could be trusted.
  ExecResult x = stream->exchange("garbage\n", Deadline::after(10));
  EXPECT_NE(x.out.find("ERR malformed request"), std::string::npos) << x.out;
  EXPECT_FALSE(stream->exchange(push_payload(req), Deadline::after(2)).ok);
}

// The watcher's idle round: a file whose content the resident program got travels as its header
// line alone (which carries the digest of the body, and a generation that moves with every
// proof); the program still judges the files here by content, rebuilt from the body it holds.
TEST_P(PushProgram, ResidentModeTakesHeaderLinesForContentItHolds) {
  auto stream = serve();
  ASSERT_TRUE(stream);
  std::map<std::string, std::string> held;
  Rendered rendered = files(1, 1, 100);
  auto lean = [&](const PushRequest& whole) {  // as the watcher builds it: deploy/request
    PushRequest req;
    std::string err;
    EXPECT_TRUE(build_request(server, rendered, config, &req, &err, &held)) << err;
    req.budget_ms = whole.budget_ms;
    return req;
  };
  auto ask = [&](const PushRequest& whole, std::string* answer = nullptr, size_t* sent = nullptr) {
    std::string payload = push_payload(lean(whole));
    if (sent) *sent = payload.size();
    ExecResult x = stream->exchange(payload, Deadline::after(10));
    EXPECT_TRUE(x.ok) << x.error;
    if (answer) *answer = x.out;
    return parse_push_output(x.exit_status, x.out, x.err);
  };
  auto hold = [&](const PushRequest& req) {
    for (const auto& f : req.files) held[f.path] = f.digest;
  };
  PushRequest req = request(rendered);
  // A program that never got the content asks for it and does nothing.
  hold(req);
  std::string answer;
  EXPECT_EQ(ask(req, &answer).status, PushOutcome::Status::failed);
  EXPECT_TRUE(asks_for_content(answer)) << answer;
  EXPECT_FALSE(std::filesystem::exists(config.include_dir + "/main.ini"));
  held.clear();
  EXPECT_EQ(ask(req).status, PushOutcome::Status::written);
  hold(req);
  // Another generation, the same bodies: the header lines alone, and nothing to write.
  rendered = files(1, 1, 5000);
  PushRequest later = request(rendered);
  size_t whole = push_payload(later).size(), sent = 0;
  EXPECT_EQ(ask(later, &answer, &sent).status, PushOutcome::Status::unchanged) << answer;
  EXPECT_LT(sent, 1024u);
  EXPECT_LT(sent, whole);
  EXPECT_EQ(reloads(), 1);
  // A hand edit below our header is repaired from the body the program holds, header and all.
  std::string written = include();
  write_file(config.include_dir + "/main.ini", written + "evil = host=10.6.6.6\n");
  PushOutcome o = ask(later);
  EXPECT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_EQ(include(), later.files[0].content);
  EXPECT_EQ(reloads(), 2);
  // An edit that keeps the body's length is seen too (the bodies are compared byte for byte),
  // under a header line two generations on; and the held body, under its new header, still
  // answers the next idle round.
  written = include();
  char& last = written[written.size() - 2];
  last = last == 'x' ? 'y' : 'x';
  write_file(config.include_dir + "/main.ini", written);
  rendered = files(1, 1, 5002);
  PushRequest again = request(rendered);
  o = ask(again);
  EXPECT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_EQ(include(), again.files[0].content);
  rendered = files(1, 1, 5003);
  EXPECT_EQ(ask(request(rendered), &answer, &sent).status, PushOutcome::Status::unchanged) << answer;
  EXPECT_LT(sent, 1024u);
  EXPECT_EQ(reloads(), 3);
  // A new truth has another digest: its content travels, as without `held`.
  rendered = files(2, 2, 5001);
  PushRequest moved = request(rendered);
  std::string payload = push_payload(lean(moved));
  EXPECT_NE(payload.find("\ncontent " + std::to_string(moved.files[0].content.size()) + "\n"),
            std::string::npos);
  for (size_t i : {1, 2})
    EXPECT_NE(payload.find("\nhead " + std::to_string(moved.files[i].content.find('\n')) + "\n"),
              std::string::npos)
        << "userlist.txt and .pgpass did not change: their header lines alone";
  EXPECT_EQ(ask(moved).status, PushOutcome::Status::written);
  EXPECT_EQ(include(), moved.files[0].content);
}

// Each answer is one frame: its length first, so its bytes never decide where it ends.
TEST_P(PushProgram, ResidentModeFramesEachAnswerByItsLength) {
  std::vector<std::string> env = {"HOME=" + dir.path() + "/home",
                                  "PATH=" + dir.path() + "/bin:/usr/bin:/bin"};
  PushRequest req = request(files(1, 1, 100));
  req.lock_path = "relative.lock";  // refused by the program itself: its answer is an ERR line
  ExecResult x = LocalRemote(GetParam(), env)
                     .run(serve_command(), ping_payload() + push_payload(req) + ping_payload(),
                          Deadline::after(10));
  ASSERT_TRUE(x.ok) << x.error;
  std::string refused = "ERR malformed request: path relative.lock\nDONE failed\n";
  EXPECT_EQ(x.out, "ANSWER 8\nDONE ok\nANSWER " + std::to_string(refused.size()) + "\n" + refused +
                       "ANSWER 8\nDONE ok\n");
  EXPECT_EQ(x.exit_status, 0) << "the end of the requests ends the program";
}

// A database named DONE puts a line "DONE = ..." into the include file, which a check answers
// with: no such line, wherever the reads of the answer end, ends the answer early (the old
// reader stopped at a read whose last line started "DONE ", and read the rest as the answers to
// the requests after it).
TEST_P(PushProgram, ResidentModeReadsACheckWhoseIncludeHoldsDoneLinesAsOneAnswer) {
  // Eight blocks of lines "DONE ok", each longer than a read (4096 bytes) and shifted by one
  // byte more than the one before (an empty line): in one of them, a read of 4096 bytes ends
  // with a whole line "DONE ok".
  std::string held;
  for (int block = 0; block < 8; ++block) {
    held += "\n";
    for (int line = 0; line < 520; ++line) held += "DONE ok\n";
  }
  write_file(config.include_dir + "/main.ini", held);
  auto stream = serve();
  ASSERT_TRUE(stream);
  PushRequest req = request(files(1, 1, 100, "DONE"));
  req.mode = PushRequest::Mode::check;
  ExecResult x = stream->exchange(push_payload(req), Deadline::after(10));
  ASSERT_TRUE(x.ok) << x.error;
  CheckAnswer a = parse_check_output(x.exit_status, x.out, x.err);
  ASSERT_TRUE(a.ok) << a.error;
  EXPECT_EQ(a.include, held) << "the whole include file, in one answer";
  // The next requests get their own answers, not the rest of this one.
  ExecResult ping = stream->exchange(ping_payload(), Deadline::after(10));
  ASSERT_TRUE(ping.ok) << ping.error;
  EXPECT_EQ(ping.out, "DONE ok\n");
  req.mode = PushRequest::Mode::push;
  x = stream->exchange(push_payload(req), Deadline::after(10));
  ASSERT_TRUE(x.ok) << x.error;
  EXPECT_EQ(parse_push_output(x.exit_status, x.out, x.err).status, PushOutcome::Status::written) << x.out;
  EXPECT_NE(include().find("DONE = host=10.0.0.1 port=5432 dbname=DONE\n"), std::string::npos);
}

// A child that died while it wrote its answer may have left part of it on the channel: the
// program does not answer for it (a second answer, or one after half a frame), it ends.
TEST_P(PushProgram, ResidentModeEndsWhenAChildDiesWhileItAnswers) {
  auto stream = serve("answering:KILL");
  ASSERT_TRUE(stream);
  ExecResult x = stream->exchange(push_payload(request(files(1, 1, 100))), Deadline::after(10));
  EXPECT_FALSE(x.ok) << x.out;
  EXPECT_EQ(x.error, "the local program ended");
  EXPECT_FALSE(stream->exchange(ping_payload(), Deadline::after(2)).ok) << "the stream stays broken";
}

// The fast path answers before the shell reads the program's line: a re-run costs the shell
// no parse of the program's 39 KB. Shown with a line after it that no shell could parse.
TEST_P(PushProgram, TheFastPathAnswersBeforeTheShellReadsTheProgram) {
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  PushRequest req = request(files(1, 1, 200));  // newer generation, same content
  std::string cmd = push_command(req);
  size_t line = cmd.find("\nexec perl /dev/fd/3 3<<");
  ASSERT_NE(line, std::string::npos) << "the program is not on a line of its own";
  ExecResult x = run(cmd.substr(0, line + 1) + "exec perl -e 'unterminated", push_payload(req));
  EXPECT_EQ(x.exit_status, 0) << x.err;
  EXPECT_EQ(x.out, "UNCHANGED\nDONE ok\n") << x.err;
  // and a change still reaches the program, on that line
  PushOutcome o = push(files(2, 2, 300));
  EXPECT_EQ(o.status, PushOutcome::Status::written) << o.detail;
}

// perl compiles all it is sent on every push: a request gets the parts of the program it can
// reach (push.pl, "Parts"), the resident program every part.
TEST_P(PushProgram, EachRequestGetsOnlyThePartsOfTheProgramItCanReach) {
  auto has = [](const std::string& cmd, const char* sub) {
    return cmd.find(std::string("sub ") + sub + " ") != std::string::npos;
  };
  PushRequest sudo = request(files(1, 1, 100));
  EXPECT_EQ(program_parts(sudo), 0u);
  std::string cmd = push_command(sudo);
  EXPECT_TRUE(has(cmd, "run_push"));
  EXPECT_TRUE(has(cmd, "reload_and_confirm"));
  for (const char* absent : {"console", "socket_console", "cut_sessions", "run_check", "serve"})
    EXPECT_FALSE(has(cmd, absent)) << absent;
  use_socket_console();
  PushRequest admin = request(files(1, 1, 100));
  EXPECT_EQ(program_parts(admin), unsigned{kConsolePart});
  cmd = push_command(admin);
  for (const char* present :
       {"run_push", "console", "socket_console", "psql_console", "cut_sessions", "pause_all"})
    EXPECT_TRUE(has(cmd, present)) << present;
  for (const char* absent : {"run_check", "serve"}) EXPECT_FALSE(has(cmd, absent)) << absent;
  admin.mode = PushRequest::Mode::check;
  EXPECT_EQ(program_parts(admin), unsigned{kConsolePart | kCheckPart});
  EXPECT_TRUE(has(push_command(admin), "run_check"));
  EXPECT_FALSE(has(push_command(admin), "serve"));
  for (const char* present : {"serve", "run_check", "console", "run_push"})
    EXPECT_TRUE(has(serve_command(), present));
  EXPECT_LT(push_program(0).size(), push_program(kConsolePart).size());
  EXPECT_LT(push_program(kConsolePart).size(), push_program(kAllParts).size());
  // Each program still pushes: the rest of this suite runs them (push_command).
  EXPECT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
}

// A program that lacks a part its request needs (an agent's bug) refuses the request before it
// changes anything, and says why.
TEST_P(PushProgram, AProgramWithoutThePartItsRequestNeedsChangesNothing) {
  use_psql_console();
  PushRequest req = request(files(1, 1, 100));
  std::string cmd = push_command(req);
  const std::string& full = push_program(kConsolePart);
  size_t at = cmd.find(full);
  ASSERT_NE(at, std::string::npos);
  ExecResult x = run(cmd.replace(at, full.size(), push_program(0)), push_payload(req));
  PushOutcome o = parse_push_output(x.exit_status, x.out, x.err);
  EXPECT_EQ(o.status, PushOutcome::Status::failed);
  EXPECT_NE(o.detail.find("the program came without its console part"), std::string::npos) << o.detail;
  EXPECT_FALSE(std::filesystem::exists(config.include_dir + "/main.ini"));
  EXPECT_EQ(reloads(), 0);
  req.mode = PushRequest::Mode::check;
  x = run("exec perl -e " + shell_quote(push_program(kConsolePart)), push_payload(req));
  EXPECT_NE(x.out.find("ERR internal error: the program came without its check part"), std::string::npos)
      << x.out;
  EXPECT_TRUE(leftovers().empty());
}

TEST_P(PushProgram, ResidentModeAnswersAnIdlePushWithoutAChild) {
  PushRequest req = request(files(1, 1, 100));
  ASSERT_EQ(push(files(1, 1, 100)).status, PushOutcome::Status::written);
  // Every child dies at once (step "read" is the child's first): only the program itself answers.
  auto stream = serve("read:KILL");
  ASSERT_TRUE(stream);
  for (int round = 0; round < 3; ++round) {
    ExecResult x = stream->exchange(push_payload(req), Deadline::after(10));
    ASSERT_TRUE(x.ok) << x.error;
    EXPECT_EQ(parse_push_output(x.exit_status, x.out, x.err).status, PushOutcome::Status::unchanged) << x.out;
  }
  ExecResult x = stream->exchange(push_payload(request(files(2, 2, 101))), Deadline::after(10));
  EXPECT_NE(x.out.find("killed (signal 9)"), std::string::npos) << "a change does go to a child: " << x.out;
}

TEST_P(PushProgram, ResidentModeTakesAChildKilledAfterItsAnswerAsAnswered) {
  auto stream = serve("answered:KILL");
  ASSERT_TRUE(stream);
  auto ask = [&](const PushRequest& req) {
    ExecResult x = stream->exchange(push_payload(req), Deadline::after(10));
    EXPECT_TRUE(x.ok) << x.error;
    return x.out;
  };
  std::string first = ask(request(files(1, 1, 100)));
  EXPECT_EQ(parse_push_output(0, first, "").status, PushOutcome::Status::written) << first;
  // No second answer for the first request: the next one gets its own, from the program itself.
  std::string second = ask(request(files(1, 1, 100)));
  EXPECT_EQ(second, "UNCHANGED\nDONE ok\n");
  std::string third = ask(request(files(2, 2, 101)));
  EXPECT_EQ(parse_push_output(0, third, "").status, PushOutcome::Status::written) << third;
}

TEST_P(PushProgram, ResidentModeSurvivesTheDeathOfOnePush) {
  auto stream = serve("written:KILL");
  ASSERT_TRUE(stream);
  PushRequest req = request(files(1, 1, 100));
  ExecResult x = stream->exchange(push_payload(req), Deadline::after(10));
  ASSERT_TRUE(x.ok) << x.error;
  PushOutcome o = parse_push_output(x.exit_status, x.out, x.err);
  EXPECT_EQ(o.status, PushOutcome::Status::failed);
  EXPECT_NE(o.detail.find("killed (signal 9)"), std::string::npos) << o.detail;
  EXPECT_FALSE(leftovers().empty()) << "the dead push left its temporary files";
  // The same program answers the next request: a check, which reads only.
  req.mode = PushRequest::Mode::check;
  x = stream->exchange(push_payload(req), Deadline::after(10));
  ASSERT_TRUE(x.ok) << x.error;
  EXPECT_TRUE(parse_check_output(x.exit_status, x.out, x.err).ok) << x.out;
}

INSTANTIATE_TEST_SUITE_P(Shells, PushProgram, ::testing::Values("/bin/sh", "/bin/bash"));

// The program in its own file, checked as perl checks it (under `use warnings` too, although
// the program itself turns on $^W, which costs nothing); the same text as it is sent, comment
// lines dropped, with each combination of its parts (strict finds a variable one part declares
// and another uses).
TEST(PushProgram, CompilesUnderStrictAndWarnings) {
  std::string source = read_file(std::string(PGDEPLOY_SOURCE_DIR) + "/src/pgbouncer/push.pl");
  ASSERT_NE(source.find("use strict;\nBEGIN {\n  $^W = 1;\n"), std::string::npos);
  TempDir dir;
  std::vector<std::string> checked = {std::string(PGDEPLOY_SOURCE_DIR) + "/src/pgbouncer/push.pl"};
  for (unsigned parts = 0; parts <= kAllParts; ++parts) {  // every program as sent, under strict
    checked.push_back(dir.path() + "/sent" + std::to_string(parts) + ".pl");
    write_file(checked.back(), push_program(parts));
  }
  for (const std::string& file : checked) {
    std::string cmd = "perl -Mwarnings -c " + shell_quote(file) + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    char buf[4096];
    std::string out;
    while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    EXPECT_EQ(pclose(p), 0) << out;
    EXPECT_EQ(out, file + " syntax OK\n");
  }
  EXPECT_LT(push_program().size(), source.size());
}

TEST(PushRequestFraming, RoundTripsAnyBytesInEveryField) {
  PushRequest r;
  r.files = {
      {"/etc/pgbouncer/databases/main.ini", std::string("a\nend 0\n\nDONE ok\n\0x", 19), "", true, true},
      {"~/.pgpass", "", "", false, false}};
  r.lock_path = "/etc/pgbouncer/databases/.main.lock";
  r.reload_command = "sudo -n service pgbouncer reload";
  r.timeline = 7;
  r.generation = 18446744073709551615ull;
  r.primary_id = 2;
  r.target_host = "10.0.0.2";
  r.target_port = 5432;
  r.console = true;
  r.console_env = {"PGHOST=/run/pg bouncer", "PGPASSWORD=a'b\"c"};
  r.listed_databases = {"appdb"};
  r.auto_databases = {"my \"db\"", "x=y;\\"};
  PushRequest back;
  std::string err;
  ASSERT_TRUE(parse_push_request(push_payload(r), &back, &err)) << err;
  EXPECT_EQ(push_payload(back), push_payload(r));
  EXPECT_EQ(back.files[0].content, r.files[0].content);
  EXPECT_EQ(back.generation, r.generation);
  // The old attack: a line break in a field. Fields carry their length, and the rules refuse it.
  r.console_env = {"PGHOST=/run\n1 1 3\nevil"};
  EXPECT_NE(check_request(r), "");
  EXPECT_FALSE(parse_push_request(push_payload(r), &back, &err));
}

TEST(PushRequestFraming, EveryProcessesSocketDirectoryTravelsAndIsChecked) {
  PushRequest r;
  r.lock_path = "/etc/.main.lock";
  r.target_host = "h";
  r.target_port = 1;
  r.console = true;
  r.socket_path = "/run/pgbouncer/.s.PGSQL.6432";
  r.console_dirs = {"/run/pgbouncer-1", "/run/pgbouncer 2"};
  PushRequest back;
  std::string err;
  ASSERT_EQ(check_request(r), "");
  ASSERT_TRUE(parse_push_request(push_payload(r), &back, &err)) << err;
  EXPECT_EQ(back.console_dirs, r.console_dirs);
  for (const std::string& bad : {std::string("run/x"), std::string("/run/\nx"), "/" + std::string(91, 'x')}) {
    r.console_dirs = {bad};
    EXPECT_NE(check_request(r), "") << bad;
  }
  r.console_dirs = {"/run/x"};
  r.console = false;
  r.reload_command = "true";
  EXPECT_NE(check_request(r), "") << "processes without a console to ask them";
}

TEST(PushRequestFraming, AdminSocketsNeedsAnAdminConninfoAndAUsableValue) {
  AppServer server{1, "app1", "127.0.1.1", "postgres", "", false, "", {}, "/run/a,/run/b"};
  ClusterFacts facts;
  facts.databases = {"appdb"};
  facts.servers = {server};
  Rendered files = render_all(facts, {"10.0.0.2", 5432}, {"main", 2, 2, 1}, "");
  DeployConfig config;
  config.cluster = "main";
  PushRequest req;
  std::string err;
  EXPECT_FALSE(build_request(server, files, config, &req, &err));
  EXPECT_NE(err.find("admin_sockets needs admin_conninfo"), std::string::npos) << err;
  server.admin_conninfo = "host=/run/postgresql port=6432 dbname=pgbouncer user=pgbouncer";
  ASSERT_TRUE(build_request(server, files, config, &req, &err)) << err;
  EXPECT_EQ(req.console_dirs, (std::vector<std::string>{"/run/a", "/run/b"}));
  server.admin_sockets = "/run/a,../b";
  EXPECT_FALSE(build_request(server, files, config, &req, &err));
  EXPECT_EQ(err, "admin_sockets: not an absolute directory: ../b");
}

TEST(CheckOutput, ReadsEachProcessAndNamesTheFirstThatCannotBeAsked) {
  CheckAnswer a = parse_check_output(0,
                                     "PROCESS /run/p1\nCONSOLE ok\nROUTE appdb 10.0.0.2:5432\n"
                                     "PROCESS /run/p2\nCONSOLE failed: no socket\n"
                                     "PROCESS /run/p3\nCONSOLE ok\nROUTE appdb 10.0.0.1:5432\n"
                                     "SERVER appdb 10.0.0.1:5432\nDONE ok\n",
                                     "");
  ASSERT_TRUE(a.ok) << a.error;
  ASSERT_EQ(a.processes.size(), 3u);
  EXPECT_EQ(a.console, "failed: PgBouncer at /run/p2: no socket");
  EXPECT_EQ(a.processes[2].routes[0].address, "10.0.0.1:5432");
  EXPECT_EQ(a.processes[2].servers.size(), 1u);
  EXPECT_TRUE(a.routes.empty() && a.servers.empty());
  a = parse_check_output(0, "CONSOLE ok\nUNLISTED pid 7 (pgbouncer x.ini)\nDONE ok\n", "");
  ASSERT_TRUE(a.ok) << a.error;
  EXPECT_EQ(a.unlisted, std::vector<std::string>{"pid 7 (pgbouncer x.ini)"});
  // A process without its CONSOLE line is not an answer.
  EXPECT_FALSE(parse_check_output(0, "PROCESS /run/p1\nCONSOLE ok\nPROCESS /run/p2\nDONE ok\n", "").ok);
}

TEST(PushRequestFraming, AHeadOnlyFileTravelsAsItsHeaderLine) {
  PushRequest r;
  r.files = {
      {"/etc/pgbouncer/databases/main.ini", "; pgdeploy generation=9 digest=abc\nbody\n", "abc", true, true},
      {"/etc/pgbouncer/userlist.txt", "; pgdeploy generation=9 digest=def\nusers\n", "def", true, false}};
  r.files[0].head_only = true;
  r.lock_path = "/etc/pgbouncer/databases/.main.lock";
  r.reload_command = "true";
  r.target_host = "10.0.0.2";
  r.target_port = 5432;
  std::string payload = push_payload(r);
  EXPECT_NE(payload.find("head 34\n; pgdeploy generation=9 digest=abc\n"), std::string::npos) << payload;
  EXPECT_EQ(payload.find("body"), std::string::npos);
  EXPECT_NE(payload.find("content 41\n; pgdeploy generation=9 digest=def\nusers\n"), std::string::npos);
  PushRequest back;
  std::string err;
  ASSERT_TRUE(parse_push_request(payload, &back, &err)) << err;
  EXPECT_TRUE(back.files[0].head_only);
  EXPECT_EQ(back.files[0].content, "; pgdeploy generation=9 digest=abc");
  EXPECT_FALSE(back.files[1].head_only);
  EXPECT_EQ(push_payload(back), payload);
  // Content and head for one file, or a head that does not end with a digest: refused.
  std::string both = payload;
  both.insert(both.find("head 34"), "content 1\nx\n");
  EXPECT_FALSE(parse_push_request(both, &back, &err));
  std::string undigested = payload;
  std::string bad = "; pgdeploy digest=x y";
  undigested.replace(undigested.find("head 34\n"), 8 + 34, "head " + std::to_string(bad.size()) + "\n" + bad);
  EXPECT_FALSE(parse_push_request(undigested, &back, &err));
  EXPECT_NE(err.find("digest"), std::string::npos) << err;
}

TEST(PushOutput, AskingForContentIsNoSuccess) {
  std::string resend = "RESEND /etc/pgbouncer/userlist.txt\nDONE ok\n";
  EXPECT_TRUE(asks_for_content(resend));
  EXPECT_EQ(parse_push_output(0, resend, "").status, PushOutcome::Status::failed);
  EXPECT_FALSE(asks_for_content("UNCHANGED\nDONE ok\n"));
  EXPECT_FALSE(asks_for_content("RESEND /a\nCHANGED /a\nDONE ok\n"));
  EXPECT_FALSE(asks_for_content("RESEND /a\nDONE failed\n"));
  EXPECT_FALSE(asks_for_content("DONE ok\n"));
}

TEST(PushOutput, ParsesEachOutcome) {
  EXPECT_EQ(parse_push_output(0, "UNCHANGED\nDONE ok\n", "").status, PushOutcome::Status::unchanged);
  auto o = parse_push_output(0, "CHANGED /a\nCHANGED /b\nRELOADED\nCONFIRMED\nNOTE x\nDONE ok\n", "");
  EXPECT_EQ(o.status, PushOutcome::Status::written);
  EXPECT_EQ(o.changed, (std::vector<std::string>{"/a", "/b"}));
  EXPECT_TRUE(o.reloaded);
  EXPECT_TRUE(o.confirmed);
  EXPECT_EQ(o.notes, std::vector<std::string>{"x"});
  o = parse_push_output(1, "ERR cannot write /x\nDONE failed\n", "perl: warning\n");
  EXPECT_EQ(o.status, PushOutcome::Status::failed);
  EXPECT_EQ(o.detail, "cannot write /x (perl: warning)");
  o = parse_push_output(127, "", "bash: perl: command not found\n");
  EXPECT_EQ(o.status, PushOutcome::Status::failed);
  EXPECT_NE(o.detail.find("ended early"), std::string::npos);
  EXPECT_NE(o.detail.find("perl: command not found"), std::string::npos);
}

// Finding 6: output ending in RELOAD-FAILED once threw out of the parser and aborted the agent.
TEST(PushOutput, GarbageNeverThrowsAndNeverPassesForSuccess) {
  for (std::string out : std::vector<std::string>{
           "RELOAD-FAILED", "RELOAD-FAILED\n", "SESSIONS", "CHANGED /a\nRELOADED\n", "DONE ok",
           "DONE ok\nextra\n", "UNCHANGED\nDONE ok\nDONE ok\n", "\x1b[2JDONE ok\n", "DONE maybe\n",
           std::string("DONE ok\0\n", 9), "RELOAD-FAILED x\nDONE ok\n"}) {
    PushOutcome o = parse_push_output(0, out, "");
    EXPECT_EQ(o.status, PushOutcome::Status::failed) << out;
    EXPECT_FALSE(o.detail.empty());
    EXPECT_EQ(o.detail.find('\x1b'), std::string::npos);
  }
  EXPECT_EQ(parse_push_output(1, "UNCHANGED\nDONE ok\n", "").status, PushOutcome::Status::failed);
}

// Found by fuzzing: an ERR line without text once gave a failure without a reason.
TEST(PushOutput, AFailureAlwaysSaysWhy) {
  EXPECT_NE(parse_push_output(1, "ERR \nDONE failed\n", "").detail, "");
  EXPECT_EQ(parse_push_output(1, "RELOAD-FAILED\nDONE failed\n", "").detail, "reload failed");
}

// An app server whose perl lacks a module: perl's words, on standard error (a module of the
// program's start) or in an ERR line (one loaded on the way), become what to install there.
TEST(PushOutput, AMissingPerlModuleSaysWhatToInstall) {
  const std::string compile =
      "Can't locate strict.pm in @INC (you may need to install the strict module) (@INC contains: "
      "/etc/perl /usr/share/perl5) at -e line 34.\nBEGIN failed--compilation aborted at -e line 34.\n";
  const std::string said =
      "the app server's perl lacks strict: install it (RHEL family: dnf install 'perl(strict)'; Debian: "
      "perl-base)";
  EXPECT_EQ(parse_push_output(2, "", compile).detail, said);
  EXPECT_EQ(parse_check_output(2, "", compile).error, said);
  PushOutcome o = parse_push_output(
      1,
      "ERR Can't locate IO/Handle.pm in @INC (you may need to install the IO::Handle module) at -e line 40.\n"
      "DONE failed\n",
      "");
  EXPECT_EQ(o.detail,
            "the app server's perl lacks IO::Handle: install it (RHEL family: dnf install "
            "'perl(IO::Handle)'; Debian: perl-base)");
  EXPECT_EQ(
      parse_push_output(127, "", "bash: line 1: exec: perl: not found\n")
          .detail.rfind(
              "the app server has no perl it can run: install it (RHEL family: dnf install perl-interpreter; "
              "Debian: perl-base); ",
              0),
      0u);
  EXPECT_EQ(parse_push_output(127, "", "").detail.find("no perl"), std::string::npos)
      << "127 alone says nothing";
  EXPECT_EQ(missing_perl_module("cannot write /etc/x: Permission denied"), "");
  EXPECT_EQ(missing_perl_module("Can't locate .pm in @INC"), "");
  EXPECT_EQ(missing_perl_module("Can't locate a b;rm.pm in @INC"), "") << "only a module's name";
}

TEST(PushOutput, ReadsOneVersionAndBelievesNoneOfSeveral) {
  std::string done = "CHANGED /etc/a.ini\nRELOADED\nCONFIRMED\nDONE ok\n";
  PushOutcome o = parse_push_output(0, "VERSION PgBouncer 1.18.0\n" + done, "");
  EXPECT_EQ(o.status, PushOutcome::Status::written) << o.detail;
  EXPECT_EQ(o.pgbouncer_version.text(), "1.18.0");
  for (const std::string& said :
       {std::string("VERSION\n"), std::string("VERSION garbage\n"),
        "VERSION PgBouncer 1." + std::string(5000, '8') + "\n",
        std::string("VERSION PgBouncer 1.18.0\nVERSION PgBouncer 1.25.0\n"),
        std::string("VERSION PgBouncer 1.18.0\nVERSION PgBouncer 1.18.0\nVERSION PgBouncer 1.18.0\n"),
        std::string("")}) {
    SCOPED_TRACE(said.substr(0, 60));
    o = parse_push_output(0, said + done, "");
    EXPECT_EQ(o.status, PushOutcome::Status::written) << o.detail;
    EXPECT_EQ(o.changed, std::vector<std::string>{"/etc/a.ini"});
    EXPECT_FALSE(o.pgbouncer_version.known());
  }
  o = parse_push_output(0, "VERSION PgBouncer 1.18.0\nERR boom\nDONE failed\n", "");
  EXPECT_EQ(o.status, PushOutcome::Status::failed);
  EXPECT_EQ(o.detail, "boom") << "a version is no error, nor a success";
}

TEST(CheckOutput, ReadsThePgBouncerVersion) {
  CheckAnswer a = parse_check_output(0, "CONSOLE ok\nVERSION PgBouncer 1.18.0\nDONE ok\n", "");
  ASSERT_TRUE(a.ok) << a.error;
  EXPECT_EQ(a.pgbouncer_version.text(), "1.18.0");
  for (const char* said : {"VERSION\n", "VERSION pgbouncer, who knows\n", ""}) {
    a = parse_check_output(0, std::string("CONSOLE ok\n") + said + "DONE ok\n", "");
    ASSERT_TRUE(a.ok) << a.error;
    EXPECT_FALSE(a.pgbouncer_version.known()) << said;
  }
}

TEST(CheckOutput, ReadsEveryFactAndTheIncludeFileByItsLength) {
  std::string include = "; h\nDONE ok\nappdb = host=x\n";  // the framing, not the text, ends it
  CheckAnswer a = parse_check_output(
      0,
      "FILE /etc/a b.ini current\nFILE /u stale\nHEADER 2 3 44\nPENDING pending 1 routes\n"
      "INCLUDE " +
          std::to_string(include.size()) + "\n" + include +
          "\nUSER added x y\n"
          "CONSOLE ok\nROUTE my db 10.0.0.1:5432\nSERVER appdb 10.0.0.1:5432\nDONE ok\n",
      "");
  ASSERT_TRUE(a.ok) << a.error;
  EXPECT_EQ(a.files[0].path, "/etc/a b.ini");
  EXPECT_EQ(a.files[1].state, "stale");
  EXPECT_EQ(a.header_timeline, 3);
  EXPECT_EQ(a.header_generation, 44u);
  EXPECT_EQ(a.pending, "pending 1 routes");
  EXPECT_EQ(a.include, include);
  EXPECT_EQ(a.users_added, std::vector<std::string>{"x y"});
  EXPECT_EQ(a.routes[0].database, "my db");
  EXPECT_EQ(a.servers[0].address, "10.0.0.1:5432");
}

TEST(CheckOutput, GarbageNeverThrowsAndNeverPassesForAnAnswer) {
  for (std::string out : std::vector<std::string>{
           "", "DONE ok\n", "CONSOLE ok\n", "CONSOLE ok\nDONE ok", "CONSOLE ok\nFILE /a weird\nDONE ok\n",
           "CONSOLE ok\nINCLUDE 999\nabc\nDONE ok\n", "CONSOLE ok\nINCLUDE 3\nabcDONE ok\n",
           "CONSOLE ok\nINCLUDE -1\n\nDONE ok\n", "CONSOLE ok\nHEADER x y z\nDONE ok\n",
           "CONSOLE ok\nUSER stolen x\nDONE ok\n", "CONSOLE ok\nDONE ok\nmore\n",
           "CONSOLE ok\nROUTE x\nDONE ok\n", "ERR malformed request\nDONE failed\n",
           "CONSOLE ok\nUNCHANGED\nDONE ok\n"}) {
    CheckAnswer a = parse_check_output(0, out, "");
    EXPECT_FALSE(a.ok) << out;
    EXPECT_FALSE(a.error.empty()) << out;
  }
  EXPECT_FALSE(parse_check_output(1, "CONSOLE none\nDONE ok\n", "").ok);
  EXPECT_TRUE(parse_check_output(0, "CONSOLE none\nDONE ok\n", "").ok);
}

TEST(PushRequestFraming, TheModeTravelsAndDefaultsToPush) {
  PushRequest r;
  r.lock_path = "/etc/.main.lock";
  r.reload_command = "true";
  r.target_host = "h";
  r.target_port = 1;
  r.mode = PushRequest::Mode::check;
  PushRequest back;
  std::string err;
  ASSERT_TRUE(parse_push_request(push_payload(r), &back, &err)) << err;
  EXPECT_EQ(back.mode, PushRequest::Mode::check);
  std::string old = push_payload(r);
  size_t at = old.find("mode 5\ncheck\n");
  ASSERT_NE(at, std::string::npos);
  ASSERT_TRUE(parse_push_request(old.erase(at, 13), &back, &err)) << err;
  EXPECT_EQ(back.mode, PushRequest::Mode::push);
  EXPECT_EQ(push_command(r).rfind("exec perl -e ", 0), 0u) << "no fast path for a check";
}

TEST(ShellQuote, SurvivesQuotes) { EXPECT_EQ(shell_quote("a'b"), "'a'\\''b'"); }

}  // namespace
}  // namespace pgdeploy
