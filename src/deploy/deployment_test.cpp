#include "deploy/deployment.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

#include "deploy/fingerprint.h"
#include "deploy/request.h"
#include "testing/fake_remote.h"

namespace pgdeploy {
namespace {

// Answers like a server that wrote everything; "hang" waits out its deadline, "down" refuses.
// servers() makes each server's address its name.
struct Servers : FakeRemote {
  Servers()
      : FakeRemote([this](const std::string& name, const std::string& command, const std::string& input,
                          const Deadline& deadline) { return run(name, command, input, deadline); }) {}
  ExecResult run(const std::string& name, const std::string& command, const std::string& input,
                 const Deadline& deadline) {
    int now = ++running;
    for (int seen = peak.load(); now > seen && !peak.compare_exchange_weak(seen, now);) {
    }
    {
      std::lock_guard<std::mutex> g(mu);
      inputs[name] = input;
      bool here_document = command.find("\n" + push_program(0)) != std::string::npos ||
                           command.find("\n" + push_program(kConsolePart)) != std::string::npos;
      EXPECT_TRUE(here_document) << "the program, with or without its console part, as a here-document";
    }
    ExecResult r;
    if (name == "hang") {
      while (!deadline.expired()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      r.stage = "timeout";
      r.error = "no answer";
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      r = answer_written();
    }
    --running;
    return r;
  }
  std::atomic<int> running{0}, peak{0};
  std::mutex mu;
  std::map<std::string, std::string> inputs;
};

std::vector<AppServer> servers(std::vector<std::string> names) {
  std::vector<AppServer> out;
  int id = 0;
  for (auto& n : names) out.push_back({++id, n, n, "postgres", "", false, "", {}, ""});
  return out;
}

Rendered rendered(const std::vector<AppServer>& s) {
  ClusterFacts facts;
  facts.servers = s;
  facts.databases = {"appdb"};
  facts.users = {{"app", "secret"}};
  return render_all(facts, {"10.0.0.2", 5432}, {"main", 2, 2, 7}, "*:*:*:app:pw\n");
}

std::vector<ServerReport> deploy_all(const std::vector<AppServer>& servers, const Rendered& files,
                                     const DeployConfig& config, Remote& remote,
                                     const Deadline& run_deadline) {
  return Deployment(servers, config.parallel, config.host_timeout, remote, run_deadline).push(files, config);
}

TEST(Deploy, AHangingAndADownServerHoldUpNoOther) {
  auto list = servers({"a", "hang", "b", "down", "c"});
  DeployConfig config;
  config.cluster = "main";
  config.host_timeout = 0.5;
  Servers remote;
  auto start = Clock::now();
  auto reports = deploy_all(list, rendered(list), config, remote, Deadline::after(10));
  EXPECT_LT(seconds_since(start), 2.0);
  ASSERT_EQ(reports.size(), 5u);
  EXPECT_EQ(reports[0].result, ServerReport::Result::updated);
  EXPECT_EQ(reports[1].result, ServerReport::Result::failed);
  EXPECT_EQ(reports[1].error, "timeout: no answer");
  EXPECT_EQ(reports[2].result, ServerReport::Result::updated);
  EXPECT_EQ(reports[3].error, "connect: Connection refused");
  EXPECT_EQ(reports[4].result, ServerReport::Result::updated);
  EXPECT_EQ(reports[4].server.name, "c");
}

TEST(Deploy, ConcurrencyIsBounded) {
  std::vector<std::string> names;
  // append, not "s" + std::to_string(i): g++ 12 at -O3 reports a false -Wrestrict for that.
  for (int i = 0; i < 20; ++i) names.push_back(std::string("s").append(std::to_string(i)));
  auto list = servers(names);
  DeployConfig config;
  config.cluster = "main";
  config.parallel = 4;
  Servers remote;
  auto reports = deploy_all(list, rendered(list), config, remote, Deadline::after(10));
  EXPECT_LE(remote.peak.load(), 4);
  EXPECT_GE(remote.peak.load(), 2);
  for (auto& r : reports) EXPECT_EQ(r.result, ServerReport::Result::updated);
}

TEST(Deploy, TheRunDeadlineEndsEverything) {
  auto list = servers({"hang", "a", "b"});
  DeployConfig config;
  config.cluster = "main";
  config.parallel = 1;
  config.host_timeout = 5;
  Servers remote;
  auto reports = deploy_all(list, rendered(list), config, remote, Deadline::after(0.3));
  EXPECT_EQ(reports[0].result, ServerReport::Result::failed);
  EXPECT_EQ(reports[1].error, "not attempted: the run's deadline had passed");
  EXPECT_EQ(reports[2].result, ServerReport::Result::failed);
}

bool eventually(const std::function<bool()>& done) {
  for (auto until = Deadline::after(5); !until.expired();
       std::this_thread::sleep_for(std::chrono::milliseconds(5)))
    if (done()) return true;
  return false;
}

TEST(Deploy, LoginsAreMadeBeforeTheFilesAreKnown) {
  auto list = servers({"a", "b", "c"});
  DeployConfig config;
  config.cluster = "main";
  Servers remote;
  Deployment deployment(list, 4, 5.0, remote, Deadline::after(10));
  EXPECT_TRUE(eventually([&] { return remote.logins == 3; }));
  EXPECT_EQ(remote.inputs.size(), 0u);  // nothing runs before push()
  auto reports = deployment.push(rendered(list), config);
  for (auto& r : reports) EXPECT_EQ(r.result, ServerReport::Result::updated) << r.error;
  EXPECT_EQ(remote.inputs.size(), 3u);
  EXPECT_EQ(remote.logouts, 3);
}

TEST(Deploy, ADroppedDeploymentRunsNothingAndStopsLoggingIn) {
  std::vector<std::string> names;
  for (int i = 0; i < 10; ++i) names.push_back(std::string("s").append(std::to_string(i)));
  Servers remote;
  {
    Deployment deployment(servers(names), 2, 5.0, remote, Deadline::after(10));
    EXPECT_TRUE(eventually([&] { return remote.logins == 2; }));
  }
  EXPECT_EQ(remote.logins, 2);  // the first two, made while the primary was being proven
  EXPECT_EQ(remote.logouts, 2);
  EXPECT_EQ(remote.inputs.size(), 0u);
}

TEST(Deploy, AuthTrustServersGetNoPgpassAndEmptyAddressesFail) {
  auto list = servers({"a", "trusted", "noaddr"});
  list[1].auth_trust = true;
  list[2].address = "";
  DeployConfig config;
  config.cluster = "main";
  Servers remote;
  auto reports = deploy_all(list, rendered(list), config, remote, Deadline::after(10));
  EXPECT_NE(remote.inputs["a"].find("~/.pgpass"), std::string::npos);
  EXPECT_EQ(remote.inputs["trusted"].find("~/.pgpass"), std::string::npos);
  EXPECT_EQ(remote.inputs["trusted"].find("app:pw"), std::string::npos);
  EXPECT_EQ(reports[2].error, "config: ip_addr is empty");
}

PushRequest request_for(const AppServer& s, const Rendered& r, const DeployConfig& config) {
  PushRequest req;
  std::string err;
  EXPECT_TRUE(build_request(s, r, config, &req, &err)) << err;
  return req;
}

TEST(Deploy, ReloadCommandDependsOnTheRemoteUserUnlessGiven) {
  Rendered r = rendered(servers({"a"}));
  DeployConfig config;
  config.cluster = "main";
  AppServer s{1, "a", "h", "postgres", "", false, "", {}, ""};
  EXPECT_EQ(request_for(s, r, config).reload_command, "sudo -n service pgbouncer reload");
  s.user = "root";
  EXPECT_EQ(request_for(s, r, config).reload_command, "service pgbouncer reload");
  s.admin_conninfo = "port=6432 dbname=pgbouncer";
  PushRequest req = request_for(s, r, config);
  EXPECT_EQ(req.reload_command, "");  // RELOAD on the console
  EXPECT_TRUE(req.console);
  EXPECT_EQ(req.socket_path, "");  // no socket named: psql's defaults
  EXPECT_EQ(req.console_env, (std::vector<std::string>{"PGDATABASE=pgbouncer", "PGPORT=6432"}));
  s.admin_conninfo = "host=/run/pgb port=6432 dbname=pgbouncer user=pgbouncer";
  req = request_for(s, r, config);
  EXPECT_EQ(req.socket_path, "/run/pgb/.s.PGSQL.6432");
  EXPECT_EQ(req.socket_user, "pgbouncer");
  EXPECT_EQ(req.socket_db, "pgbouncer");
  config.reload_command = "systemctl reload pgbouncer";
  EXPECT_EQ(request_for(s, r, config).reload_command, "systemctl reload pgbouncer");
}

// The userlist.txt a request carries follows the limits of the PgBouncer there. No released
// version lifts a limit (docs/pgbouncer-versions.md), so the test makes the limits itself.
TEST(Deploy, EachServerGetsTheUserlistOfItsPgBouncersLimitsRenderedOncePerDistinctLimits) {
  ClusterFacts facts;
  facts.servers = servers({"old", "unknown", "wide1", "wide2", "wider"});
  facts.databases = {"appdb"};
  std::string long_secret = "SCRAM-SHA-256$" + std::string(3000, 's');
  facts.users = {{"app", "secret"}, {"long", long_secret}};
  Token token{"main", 2, 2, 7};
  Rendered today = render_all(facts, {"10.0.0.2", 5432}, token, "");
  PgBouncerLimits wide, wider;
  wide.max_password = 4096;
  wider.max_password = 65531;
  ServerLimits limits = {{"old", limits_of({1, 18, 0})}, {"wide1", wide}, {"wide2", wide}, {"wider", wider}};
  Rendered r = render_all(facts, {"10.0.0.2", 5432}, token, "", {}, limits);
  ASSERT_EQ(r.other_limits.size(), 2u) << "once per distinct limits, not per server";
  DeployConfig config;
  config.cluster = "main";
  auto userlist = [&](const AppServer& s, const Rendered& files) {
    return request_for(s, files, config).files.at(1).content;
  };
  for (const AppServer& s : facts.servers) {
    SCOPED_TRACE(s.address);
    bool is_wide = s.address.rfind("wide", 0) == 0;
    EXPECT_EQ(userlist(s, r) == userlist(s, today), !is_wide) << "1.18 and unknown: today's bytes";
    EXPECT_EQ(userlist(s, r).find(long_secret) != std::string::npos, is_wide);
    EXPECT_EQ(request_for(s, r, config).files.at(0).content,
              request_for(s, today, config).files.at(0).content);
  }
  EXPECT_EQ(userlist(facts.servers[2], r), userlist(facts.servers[3], r));
  EXPECT_EQ(r.skipped, today.skipped) << "the 1.18 servers still leave the long secret out, and say so";
  // What was pushed where is part of what --recent compares; no limits of others: today's bytes.
  EXPECT_NE(deploy_fingerprint(facts.servers, r, config), deploy_fingerprint(facts.servers, today, config));
  Rendered same = render_all(facts, {"10.0.0.2", 5432}, token, "", {}, {{"old", limits_of({1, 25, 2})}});
  EXPECT_TRUE(same.other_limits.empty());
  EXPECT_EQ(deploy_fingerprint(facts.servers, same, config),
            deploy_fingerprint(facts.servers, today, config));
}

TEST(Deploy, TheRequestNamesTheTargetAndEveryRoutedDatabaseByKind) {
  ClusterFacts facts;
  facts.servers = servers({"a"});
  facts.databases = {"appdb", "my db", "pgbouncer", "bad\nname"};
  Rendered r = render_all(facts, {"10.0.0.2", 5433}, {"main", 2, 2, 7}, "");
  DeployConfig config;
  config.cluster = "main";
  PushRequest req = request_for(facts.servers[0], r, config);
  EXPECT_EQ(req.target_host, "10.0.0.2");
  EXPECT_EQ(req.target_port, 5433);
  EXPECT_EQ(req.listed_databases, std::vector<std::string>{"appdb"});
  EXPECT_EQ(req.auto_databases, std::vector<std::string>{"my db"});
}

// A file whose content the resident program holds (pgdeploy watch) is its header line alone in
// the request, in a push and in a check: an idle round copies no file's body, whatever its size.
// A digest not held: the body.
TEST(Deploy, AFileTheResidentProgramHoldsIsItsHeaderLineAlone) {
  ClusterFacts facts;
  facts.servers = servers({"a"});
  facts.databases = {"appdb"};
  facts.users = {{"app", "secret"}};
  Rendered r = render_all(facts, {"10.0.0.2", 5432}, {"main", 2, 2, 7}, "*:*:*:app:pw\n");
  DeployConfig config;
  config.cluster = "main";
  PushRequest whole = request_for(facts.servers[0], r, config);
  ASSERT_EQ(whole.files.size(), 3u);
  std::map<std::string, std::string> held = {{whole.files[0].path, whole.files[0].digest},
                                             {whole.files[1].path, "another digest"}};
  PushRequest lean;
  std::string err;
  ASSERT_TRUE(build_request(facts.servers[0], r, config, &lean, &err, &held)) << err;
  EXPECT_TRUE(lean.files[0].head_only);
  EXPECT_EQ(lean.files[0].content, whole.files[0].content.substr(0, whole.files[0].content.find('\n')));
  EXPECT_EQ(lean.files[0].digest, whole.files[0].digest);
  for (size_t i : {1, 2}) {
    EXPECT_FALSE(lean.files[i].head_only) << i;
    EXPECT_EQ(lean.files[i].content, whole.files[i].content) << i;
  }
  config.mode = PushRequest::Mode::check;
  ASSERT_TRUE(build_request(facts.servers[0], r, config, &lean, &err, &held)) << err;
  EXPECT_TRUE(lean.files[0].head_only);
  EXPECT_FALSE(lean.files[1].head_only);
}

// A check the watcher runs sends the include file's header line alone (the resident program
// holds its body); the diff is still against the whole file a deploy would write.
TEST(Deploy, ACheckOfHeaderLinesAloneStillDiffsTheWholeIncludeFile) {
  ClusterFacts facts;
  facts.servers = servers({"a"});
  facts.databases = {"appdb"};
  Rendered r = render_all(facts, {"10.0.0.2", 5432}, {"main", 2, 2, 7}, "");
  DeployConfig config;
  config.cluster = "main";
  config.mode = PushRequest::Mode::check;
  PushRequest whole = request_for(facts.servers[0], r, config);
  std::map<std::string, std::string> held = {{whole.files[0].path, whole.files[0].digest}};
  std::string there =
      "; pgdeploy cluster=main primary=1 timeline=1 generation=3 digest=x\nappdb = host=10.0.0.1\n";
  Send send = [&](const PushRequest& req, const Deadline&) {
    EXPECT_TRUE(req.files[0].head_only);
    ExecResult x;
    x.ok = true;
    x.exit_status = 0;
    x.out = "FILE " + req.files[0].path + " stale\nINCLUDE " + std::to_string(there.size()) + "\n" + there +
            "\nCONSOLE none\nDONE ok\n";
    return x;
  };
  ServerReport rep = push_to(facts.servers[0], r, config, send, Deadline::after(5), &held);
  EXPECT_EQ(rep.error, "");
  EXPECT_NE(rep.diff.find("-appdb = host=10.0.0.1"), std::string::npos) << rep.diff;
  EXPECT_NE(rep.diff.find("+appdb = host=10.0.0.2"), std::string::npos) << rep.diff;
}

// Finding 1: a line break in admin_conninfo once reframed the request and ran shell commands.
TEST(Deploy, AnAdminConninfoThatCannotBeSentSafelyFailsThatServerAlone) {
  Rendered r = rendered(servers({"a"}));
  DeployConfig config;
  config.cluster = "main";
  AppServer s{1, "a", "h", "postgres", "", false, "", {}, ""};
  PushRequest req;
  std::string err;
  for (std::string bad : {"host=/run/pgb\n1; touch /tmp/owned #", "host='/run/pgb\n1; id'",
                          "password='a\x01b'", "host=x port=6432 nosuchkeyword=1"}) {
    s.admin_conninfo = bad;
    EXPECT_FALSE(build_request(s, r, config, &req, &err)) << bad;
    EXPECT_NE(err.find("admin_conninfo"), std::string::npos) << err;
  }
  // Found by fuzzing: keywords whose variable has an underscore or a long name once failed.
  s.admin_conninfo = "host=/run/pgb connect_timeout=2 ssl_min_protocol_version=TLSv1.3";
  EXPECT_TRUE(build_request(s, r, config, &req, &err)) << err;
  // A multi-line conninfo that libpq accepts is fine: whitespace between keywords.
  s.admin_conninfo = "host=/run/pgb\nport=6432\ndbname=pgbouncer";
  EXPECT_TRUE(build_request(s, r, config, &req, &err)) << err;
  auto list = servers({"a", "b"});
  list[1].admin_conninfo = "host='x\ny'";
  Servers remote;
  auto reports = deploy_all(list, rendered(list), config, remote, Deadline::after(10));
  EXPECT_EQ(reports[0].result, ServerReport::Result::updated);
  EXPECT_EQ(reports[1].result, ServerReport::Result::failed);
  EXPECT_NE(reports[1].error.find("config: admin_conninfo"), std::string::npos) << reports[1].error;
  EXPECT_EQ(remote.inputs.count("b"), 0u);
}

TEST(Deploy, FingerprintIgnoresTheGenerationOnly) {
  auto list = servers({"a", "b"});
  DeployConfig config;
  config.cluster = "main";
  ClusterFacts facts;
  facts.servers = list;
  facts.databases = {"appdb"};
  auto fp = [&](int primary, long timeline, uint64_t generation, const std::string& db) {
    facts.databases = {db};
    Rendered r = render_all(facts, {"10.0.0.2", 5432}, {"main", primary, timeline, generation}, "");
    return deploy_fingerprint(facts.servers, r, config);
  };
  std::string base = fp(2, 2, 7, "appdb");
  EXPECT_EQ(base, fp(2, 2, 99, "appdb"));
  EXPECT_NE(base, fp(3, 2, 7, "appdb"));
  EXPECT_NE(base, fp(2, 3, 7, "appdb"));
  EXPECT_NE(base, fp(2, 2, 7, "otherdb"));
  facts.servers[1].address = "elsewhere";
  EXPECT_NE(base, fp(2, 2, 7, "appdb"));
}

TEST(Deploy, RendersOncePerApplicationName) {
  auto list = servers({"a", "b", "c"});
  list[1].application_name = "billing";
  Rendered r = rendered(list);
  EXPECT_EQ(r.includes.size(), 2u);
  EXPECT_NE(r.includes["billing"].content.find("application_name=billing"), std::string::npos);
  EXPECT_EQ(
      r.includes[""].content.rfind("; pgdeploy cluster=main primary=2 timeline=2 generation=7 digest=", 0),
      0u);
}

}  // namespace
}  // namespace pgdeploy
