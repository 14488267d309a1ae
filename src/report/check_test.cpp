#include "report/check.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace pgdeploy {
namespace {

const Endpoint kPrimary{"10.0.0.2", 5432};

// A server that answered: every file current, PgBouncer routing appdb to `route`.
ServerReport answered(const std::string& name, const std::string& route = "10.0.0.2:5432") {
  ServerReport s;
  s.server.name = name;
  s.server.address = "127.0.1." + name.substr(name.size() - 1);
  s.result = ServerReport::Result::unchanged;
  s.check.ok = true;
  s.check.console = "ok";
  s.check.files = {{"/etc/pgbouncer/databases/main.ini", "current"},
                   {"/etc/pgbouncer/userlist.txt", "current"}};
  s.check.routes = {{"appdb", route}};
  return s;
}

ServerReport unreachable(const std::string& name) {
  ServerReport s;
  s.server.name = name;
  s.server.address = "127.0.2.1";
  s.error = "connect: Connection refused";
  return s;
}

CheckReport report(std::vector<ServerReport> servers) {
  CheckReport r;
  r.run.cluster = "main";
  r.run.primary = "node2 (id 2)";
  r.run.endpoint = kPrimary;
  r.run.servers = std::move(servers);
  r.listed = {"appdb"};
  r.node_names = {{"10.0.0.1:5432", "node1"}, {"10.0.0.2:5432", "node2"}};
  return r;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

TEST(CheckVerdict, EveryServerOnThePrimaryIsOk) {
  CheckReport r = report({answered("app1"), answered("app2")});
  EXPECT_EQ(check_status(r), kCheckOk);
  EXPECT_EQ(first_line(format_check_text(r)),
            "PGDEPLOY OK - 2 of 2 app servers route to node2 (id 2) at 10.0.0.2:5432, files current"
            " | servers=2 current=2 wrong=0 unreachable=0 stale=0");
  EXPECT_EQ(format_check_text(r).find("app1"), std::string::npos) << "only servers that are not OK";
  r.verbose = true;
  EXPECT_NE(format_check_text(r).find("app1 127.0.1.1: OK\n"), std::string::npos);
}

TEST(CheckVerdict, OneServerRoutingToTheOldNodeIsCriticalAndNamed) {
  CheckReport r = report({answered("app1", "10.0.0.1:5432"), answered("app2")});
  EXPECT_EQ(check_status(r), kCheckCritical);
  std::string text = format_check_text(r);
  EXPECT_EQ(first_line(text),
            "PGDEPLOY CRITICAL - 1 of 2 app servers routes to node1"
            " | servers=2 current=1 wrong=1 unreachable=0 stale=0");
  EXPECT_NE(text.find("app1 127.0.1.1: WRONG PgBouncer routes appdb to 10.0.0.1:5432"), std::string::npos)
      << text;
}

TEST(CheckVerdict, ASessionHeldOnTheOldNodeIsCriticalThoughTheRoutesAreRight) {
  ServerReport s = answered("app1");
  s.check.servers = {{"appdb", "10.0.0.1:5432"}};
  CheckReport r = report({s});
  EXPECT_EQ(check_status(r), kCheckCritical);
  EXPECT_NE(first_line(format_check_text(r)).find("1 of 1 app servers holds sessions on node1"),
            std::string::npos);
}

TEST(CheckVerdict, StaleFilesOrAPendingReloadWithTheRightRoutesAreAWarning) {
  ServerReport s = answered("app1");
  s.check.files[1].state = "stale";
  CheckReport r = report({s, answered("app2")});
  EXPECT_EQ(check_status(r), kCheckWarning);
  EXPECT_NE(format_check_text(r).find("app1 127.0.1.1: STALE userlist.txt stale"), std::string::npos);
  ServerReport p = answered("app1");
  p.check.pending = "pending 1 routes";
  EXPECT_EQ(check_status(report({p})), kCheckWarning);
  ServerReport missing_db = answered("app1");
  missing_db.check.routes.clear();  // PgBouncer has not loaded the line for appdb
  EXPECT_EQ(judge_server(missing_db, kPrimary, {"appdb"}).state, ServerVerdict::State::stale);
}

TEST(CheckVerdict, UnreachableServersFollowTheThresholds) {
  CheckReport r = report({unreachable("app1"), answered("app2"), answered("app3")});
  EXPECT_EQ(check_status(r), kCheckWarning);
  EXPECT_NE(format_check_text(r).find("UNREACHABLE connect: Connection refused"), std::string::npos);
  r.thresholds.warning_unreachable = 2;
  EXPECT_EQ(check_status(r), kCheckOk);
  r.thresholds.critical_unreachable = 1;
  EXPECT_EQ(check_status(r), kCheckCritical);
  CheckReport all = report({unreachable("app1")});  // default: critical when none can be asked
  EXPECT_EQ(check_status(all), kCheckCritical);
  ServerReport console_down = answered("app2");
  console_down.check.console = "failed: cannot connect";
  EXPECT_EQ(judge_server(console_down, kPrimary, {}).state, ServerVerdict::State::unreachable);
}

// Several PgBouncer processes on one host (admin_sockets): each is judged, and named.
ServerReport processes(std::vector<CheckAnswer::Process> list) {
  ServerReport s = answered("app1");
  s.check.routes.clear();
  s.check.processes = std::move(list);
  s.check.console = "ok";
  for (const auto& p : s.check.processes)
    if (p.console != "ok" && s.check.console == "ok") s.check.console = "failed: PgBouncer at " + p.dir;
  return s;
}

TEST(CheckVerdict, OneProcessOfSeveralRoutingElsewhereIsCriticalAndNamed) {
  ServerReport s = processes({{"/run/p1", "ok", {{"appdb", "10.0.0.2:5432"}}, {}},
                              {"/run/p2", "ok", {{"appdb", "10.0.0.1:5432"}}, {}}});
  CheckReport r = report({s});
  EXPECT_EQ(check_status(r), kCheckCritical);
  std::string text = format_check_text(r);
  EXPECT_NE(text.find("app1 127.0.1.1: WRONG PgBouncer at /run/p2 routes appdb to 10.0.0.1:5432\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("/run/p1"), std::string::npos) << text;
  s = processes({{"/run/p1", "ok", {{"appdb", "10.0.0.2:5432"}}, {}},
                 {"/run/p2", "ok", {{"appdb", "10.0.0.2:5432"}}, {{"appdb", "10.0.0.1:5432"}}}});
  EXPECT_NE(format_check_text(report({s})).find("PgBouncer at /run/p2 holds a server connection for appdb"),
            std::string::npos);
  s = processes({{"/run/p1", "ok", {{"appdb", "10.0.0.2:5432"}}, {}}, {"/run/p2", "ok", {}, {}}});
  ServerVerdict v = judge_server(s, kPrimary, {"appdb"});
  EXPECT_EQ(v.state, ServerVerdict::State::stale);
  EXPECT_EQ(v.why, std::vector<std::string>{
                       "PgBouncer at /run/p2 does not route appdb (not reloaded since it was added?)"});
  s = processes({{"/run/p1", "ok", {{"appdb", "10.0.0.2:5432"}}, {}},
                 {"/run/p2", "ok", {{"appdb", "10.0.0.2:5432"}}, {}}});
  EXPECT_EQ(check_status(report({s})), kCheckOk);
}

TEST(CheckVerdict, AProcessThatCannotBeAskedIsNamedAndTheOthersStillJudged) {
  ServerReport s = processes(
      {{"/run/p1", "ok", {{"appdb", "10.0.0.2:5432"}}, {}}, {"/run/p2", "failed: no such file", {}, {}}});
  ServerVerdict v = judge_server(s, kPrimary, {"appdb"});
  EXPECT_EQ(v.state, ServerVerdict::State::unreachable);
  EXPECT_FALSE(v.files_only);
  EXPECT_EQ(v.why, std::vector<std::string>{
                       "the admin console of PgBouncer at /run/p2 cannot be asked: no such file"});
  EXPECT_EQ(check_status(report({s})), kCheckCritical) << "the only server, not fully asked";
  auto json = nlohmann::json::parse(format_check_json(report({s})))["servers"][0]["processes"];
  ASSERT_EQ(json.size(), 2u);
  EXPECT_EQ(json[0]["socket_dir"], "/run/p1");
  EXPECT_EQ(json[0]["routes"]["appdb"], "10.0.0.2:5432");
  EXPECT_EQ(json[1]["console"], "failed: no such file");
  s = processes({{"/run/p1", "ok", {{"appdb", "10.0.0.1:5432"}}, {}}, {"/run/p2", "failed: x", {}, {}}});
  EXPECT_EQ(judge_server(s, kPrimary, {"appdb"}).state, ServerVerdict::State::wrong) << "wrong outranks";
  s = processes({{"/run/p1", "failed: x", {}, {}}, {"/run/p2", "failed: y", {}, {}}});
  EXPECT_EQ(judge_server(s, kPrimary, {"appdb"}).state, ServerVerdict::State::unreachable);
}

TEST(CheckVerdict, APgBouncerProcessNoConsoleReachedIsAWarningAndNamed) {
  ServerReport s = answered("app1");
  s.check.unlisted = {"pid 42 (/usr/sbin/pgbouncer /etc/pgbouncer/pgbouncer-3.ini)"};
  CheckReport r = report({s});
  EXPECT_EQ(check_status(r), kCheckWarning);
  EXPECT_NE(format_check_text(r).find(
                "PgBouncer process pid 42 (/usr/sbin/pgbouncer /etc/pgbouncer/pgbouncer-3.ini) "
                "is not asked (list its unix_socket_dir in admin_sockets)"),
            std::string::npos)
      << format_check_text(r);
}

TEST(CheckVerdict, RefusalsAreCriticalForTheProofAndUnknownForTheDatabase) {
  CheckReport r = report({});
  r.run.refusal = "2 writable nodes";
  EXPECT_EQ(check_status(r), kCheckCritical);
  EXPECT_EQ(first_line(format_check_text(r))
                .rfind("PGDEPLOY CRITICAL - the primary cannot be proven: 2 writable nodes", 0),
            0u);
  r.database_failed = true;
  EXPECT_EQ(check_status(r), kCheckUnknown);
  CheckReport late = report({answered("app1")});
  late.timed_out = true;
  EXPECT_EQ(check_status(late), kCheckUnknown);
}

TEST(CheckVerdict, WithoutTheConsoleTheIncludeFileDecidesAndTheLineSaysSo) {
  ServerReport s = answered("app1");
  s.check.console = "none";
  s.check.routes.clear();
  s.check.has_include = true;
  s.check.include = "; pgdeploy cluster=main\nappdb = host=10.0.0.1 port=5432 dbname=appdb\n";
  s.check.files[0].state = "foreign";
  ServerVerdict v = judge_server(s, kPrimary, {"appdb"});
  EXPECT_EQ(v.state, ServerVerdict::State::wrong);
  EXPECT_TRUE(v.files_only);
  EXPECT_NE(format_check_text(report({s})).find("(routing judged from its files only: no admin_conninfo)"),
            std::string::npos);
  s.check.include = "appdb = host=10.0.0.2 port=5432 dbname=appdb\n";
  EXPECT_EQ(judge_server(s, kPrimary, {"appdb"}).state, ServerVerdict::State::stale);
  s.check.files[0].state = "missing";
  s.check.has_include = false;
  EXPECT_EQ(judge_server(s, kPrimary, {"appdb"}).state, ServerVerdict::State::wrong);
}

TEST(CheckVerdict, JsonHasEveryFact) {
  ServerReport s = answered("app1", "10.0.0.1:5432");
  s.check.has_header = true;
  s.check.header_primary = 1;
  std::string j = format_check_json(report({s}));
  for (const char* fact : {"\"status\": \"CRITICAL\"", "\"exit_code\": 2", "\"wrong\": 1",
                           "\"appdb\": \"10.0.0.1:5432\"", "\"primary\": 1", "\"console\": \"ok\""})
    EXPECT_NE(j.find(fact), std::string::npos) << fact << "\n" << j;
}

TEST(CheckVerdict, SaysWhetherThisNodesWatcherRanIt) {
  CheckReport r = report({answered("app1")});
  EXPECT_NE(format_check_json(r).find("\"asked_by\": \"ssh\""), std::string::npos);
  r.watcher = "1 of 1 app servers current";
  EXPECT_NE(format_check_text(r).find("\nwatcher on this node: 1 of 1 app servers current\n"),
            std::string::npos);
  r.by_watcher = true;
  EXPECT_NE(format_check_text(r).find("\nwatcher on this node: 1 of 1 app servers current (it ran this "
                                      "check over its warm sessions)\n"),
            std::string::npos);
  EXPECT_NE(format_check_json(r).find("\"asked_by\": \"watcher\""), std::string::npos);
}

// Names and addresses are the database's and the app servers' (security review 3, N3 and N7): none
// may end a line, start one, or put a `|` (Nagios: performance data) anywhere but in ours.
const std::string kForged = "evil\nPGDEPLOY OK - all fine | servers=0 current=0 wrong=0\napp2 127.0.1.2: OK";

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  for (size_t at = 0, nl; at < text.size(); at = nl + 1) {
    nl = text.find('\n', at);
    lines.push_back(text.substr(at, nl - at));
  }
  return lines;
}

void expect_no_forged_line(const std::string& text, size_t lines) {
  auto all = lines_of(text);
  EXPECT_EQ(all.size(), lines) << text;
  for (size_t i = 1; i < all.size(); ++i) {
    EXPECT_EQ(all[i].find('|'), std::string::npos) << "line " << i << ": " << all[i];
    EXPECT_NE(all[i].rfind("PGDEPLOY", 0), 0u) << all[i];
    EXPECT_NE(all[i].rfind("app2 127.0.1.2", 0), 0u) << all[i];
  }
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all[0].find('|'), all[0].find(" | servers=") + 1) << "one | in the status line, ours";
}

TEST(CheckHostileText, ANameWithLineBreaksAndPipesStaysInItsLine) {
  ServerReport s = answered("app1", "10.0.0.1:5432");
  s.check.routes.push_back({kForged, "10.0.0.1:5432"});
  CheckReport r = report({s, unreachable("app2")});
  r.run.primary = "node2\nWATCHDOG_USEC=1 | x=1 (id 2)";
  r.run.warnings = {"database " + kForged + " cannot be written to PgBouncer's files: left out",
                    "user bob\napp2 127.0.1.2: OK cannot be written to PgBouncer's files: left out"};
  r.run.seen = {"node1\r|x=1 (id 1): standby"};
  r.watcher = "3 of 3 app servers current; primary node1\nSTOPPING=1";
  r.verbose = true;
  std::string text = format_check_text(r);
  // status, app1, app2, one node, two warnings, the watcher
  expect_no_forged_line(text, 7);
  EXPECT_NE(text.find("PgBouncer routes evil\\x0aPGDEPLOY OK - all fine \\x7c servers=0"), std::string::npos)
      << text;
  EXPECT_NE(text.find("\nwarning: user bob\\x0aapp2 127.0.1.2: OK cannot"), std::string::npos) << text;
  EXPECT_NE(text.find("primary node1\\x0aSTOPPING=1\n"), std::string::npos) << text;
  // The JSON keeps the values as they are (its own escaping is safe).
  EXPECT_NE(format_check_json(r).find("\"evil\\nPGDEPLOY OK - all fine | servers=0"), std::string::npos);
}

TEST(CheckHostileText, ARouteAddressFromAnAppServerPutsNoPerfdataInTheStatusLine) {
  // A compromised app server answers any bytes but space and controls as its ROUTE address; not a
  // node's, so the status line names the address itself.
  CheckReport r = report({answered("app1", "x|servers=0")});
  std::string text = format_check_text(r);
  EXPECT_EQ(first_line(text),
            "PGDEPLOY CRITICAL - 1 of 1 app servers routes to x\\x7cservers=0"
            " | servers=1 current=0 wrong=1 unreachable=0 stale=0");
  expect_no_forged_line(text, 2);
  r.run.refusal = "no node answers as writable: node1\nPGDEPLOY OK | x=1";
  expect_no_forged_line(format_check_text(r), 2);
}

TEST(IncludeRoutes, ReadsHostAndPortOfEveryLine) {
  auto r = include_routes(
      "; header\nappdb = host=10.0.0.1 port=5441 dbname=appdb\n"
      "* = host='h' port=5\n\"my db\" = dbname=x\n");
  EXPECT_EQ(r, (std::map<std::string, std::string>{
                   {"appdb", "10.0.0.1:5441"}, {"*", "h:5"}, {"my db", "(unix socket):5432"}}));
}

}  // namespace
}  // namespace pgdeploy

namespace pgdeploy {
namespace {

TEST(CheckStalePrimary, AStalePrimaryAcceptingWritesIsCriticalWhateverPgBouncerDoes) {
  CheckReport r = report({answered("app1"), answered("app2")});
  r.run.stale = {
      "node1 (id 1): writable on timeline 1; node2 (id 2) is on timeline 2: NOT FENCED, it "
      "accepts writes (--fence-stale is off): stop it or rejoin it (docs/fencing.md)"};
  r.run.stale_writable = 1;
  EXPECT_EQ(check_status(r), kCheckCritical);
  std::string text = format_check_text(r);
  EXPECT_EQ(first_line(text),
            "PGDEPLOY CRITICAL - 1 stale primary, 1 accepting writes | servers=2 "
            "current=2 wrong=0 unreachable=0 stale=0");
  EXPECT_NE(text.find("\nstale primary: node1 (id 1): writable on timeline 1"), std::string::npos);

  // Fenced, it is a WARNING; the servers' own state still counts.
  r.run.stale_writable = 0;
  EXPECT_EQ(check_status(r), kCheckWarning);
  EXPECT_EQ(first_line(format_check_text(r)).substr(0, 45), "PGDEPLOY WARNING - 1 stale primary, fenced | ");
  r.run.servers[0] = answered("app1", "10.0.0.1:5432");
  EXPECT_EQ(check_status(r), kCheckCritical);
  EXPECT_EQ(first_line(format_check_text(r)).substr(0, 59),
            "PGDEPLOY CRITICAL - 1 of 2 app servers routes to node1 | se");
  EXPECT_NE(format_check_text(r).find("\nstale primary: node1 (id 1)"), std::string::npos);
}

TEST(CheckStalePrimary, AStalePrimaryIsCriticalEvenWhenTheProofIsRefused) {
  CheckReport r = report({});
  r.run.refusal = "this node is a stale primary (writable on timeline 1, newest seen 2); ...";
  r.run.stale = {"node1 (id 1): ..."};
  r.run.stale_writable = 1;
  EXPECT_EQ(check_status(r), kCheckCritical);
  r.database_failed = true;  // (never together in a real check: no probes, no stale node)
  EXPECT_EQ(check_status(r), kCheckCritical);
}

TEST(CheckStalePrimary, ANewerTruthOnAnAppServerIsCritical) {
  CheckReport r = report({answered("app1"), answered("app2")});
  r.run.newer_truth = "app1 127.0.1.1 holds the config of primary id 3 on timeline 3, newer than ...";
  EXPECT_EQ(check_status(r), kCheckCritical);
  EXPECT_NE(first_line(format_check_text(r)).find("newer truth: app1 127.0.1.1 holds"), std::string::npos);
}

}  // namespace
}  // namespace pgdeploy
