#include "report/report.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "util/diff.h"

namespace pgdeploy {
namespace {

RunReport sample() {
  RunReport r;
  r.cluster = "main";
  r.primary = "node2 (id 2)";
  r.endpoint = {"10.0.0.2", 5432};
  r.timeline = 2;
  ServerReport ok;
  ok.server = {1, "app1", "127.0.1.1", "postgres", "billing", false, "", {}, ""};
  ok.result = ServerReport::Result::updated;
  ok.changed = {"/etc/pgbouncer/databases/main.ini", "/etc/pgbouncer/userlist.txt"};
  ok.reloaded = true;
  ok.sessions = "cut";
  ServerReport bad;
  bad.server = {2, "app2", "127.0.1.2", "postgres", "", false, "", {}, ""};
  bad.error = "connect: cannot connect to 127.0.1.2:22: Connection refused";
  r.servers = {ok, bad};
  return r;
}

TEST(Report, OneLinePerServerAndASummary) {
  RunReport r = sample();
  std::string text = format_text(r);
  EXPECT_NE(text.find("primary node2 (id 2) at 10.0.0.2:5432, timeline 2"), std::string::npos);
  EXPECT_NE(text.find("app1 127.0.1.1 (billing): updated (main.ini, userlist.txt; reloaded; sessions cut)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("app2 127.0.1.2: FAILED connect: cannot connect"), std::string::npos) << text;
  EXPECT_NE(text.find("1 of 2 app servers up to date, 1 FAILED"), std::string::npos) << text;
  EXPECT_EQ(exit_code(r), 3);
}

TEST(Report, AReloadRedoneWithNoFileChangedReadsWell) {
  RunReport r = sample();
  r.servers[0].changed.clear();
  r.servers[0].confirmed = true;
  std::string text = format_text(r);
  EXPECT_NE(text.find("app1 127.0.1.1 (billing): updated (reloaded, routes confirmed; sessions cut)"),
            std::string::npos)
      << text;
}

TEST(Report, RefusalSaysNothingWasWritten) {
  RunReport r;
  r.cluster = "main";
  r.refusal = "split brain";
  r.seen = {"node1 (id 1): writable, timeline 2"};
  EXPECT_EQ(exit_code(r), 1);
  std::string text = format_text(r);
  EXPECT_NE(text.find("REFUSED, nothing was written on any app server: split brain"), std::string::npos);
  EXPECT_NE(text.find("  node1 (id 1): writable, timeline 2"), std::string::npos);
}

// After a hand-over the watcher took and never answered, the one-shot's refusal cannot know that
// nothing was written: the watcher may have pushed. Exit 4, and the text says so.
TEST(Report, ARefusalAfterAnUnansweredHandOverDoesNotSayNothingWasWritten) {
  RunReport r;
  r.cluster = "main";
  r.refusal = "another pgdeploy run still holds /var/lib/postgresql/.pgdeploy-main.lock";
  r.handed_over = "this node's watcher took the event and gave no answer";
  EXPECT_EQ(exit_code(r), 4);
  std::string text = format_text(r);
  EXPECT_EQ(text.find("nothing was written"), std::string::npos) << text;
  EXPECT_NE(text.find("pgdeploy: handed over to the watcher, no answer: this node's watcher took the event"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("REFUSED, this run wrote nothing (the watcher may have): another pgdeploy run"),
            std::string::npos)
      << text;
  EXPECT_EQ(nlohmann::json::parse(format_json(r))["handed_over"], r.handed_over);
}

TEST(Report, JsonCarriesTheSameFacts) {
  RunReport r = sample();
  r.servers[0].server.name = std::string("bad\xff", 4);  // invalid UTF-8 must not throw
  auto j = nlohmann::json::parse(format_json(r));
  EXPECT_EQ(j["exit_code"], 3);
  EXPECT_EQ(j["primary"]["port"], 5432);
  EXPECT_EQ(j["servers"][0]["result"], "updated");
  EXPECT_EQ(j["servers"][0]["sessions"], "cut");
  EXPECT_EQ(j["servers"][1]["result"], "failed");
  EXPECT_FALSE(j["servers"][0].contains("pgbouncer_version")) << "only where the answer said one";
  r.servers[0].pgbouncer_version = {1, 18, 0};
  EXPECT_EQ(nlohmann::json::parse(format_json(r))["servers"][0]["pgbouncer_version"], "1.18.0");
}

// Names from the database and text from app servers (security review 3, N3 and N7) stay in
// their line, escaped; the JSON keeps them as they are.
size_t line_count(const std::string& text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

TEST(ReportHostileText, NamesWithLineBreaksForgeNoLine) {
  RunReport r = sample();
  r.event = "standby_promote on node 2: node2\nSTOPPING=1";
  r.primary = "node2\nWATCHDOG_USEC=1\nSTOPPING=1 (id 2)";
  r.seen = {"node1\x1b[2J (id 1): standby"};
  r.warnings = {
      "database evil\nPGDEPLOY OK - all fine\napp2 127.0.1.2: OK cannot be written to PgBouncer's files: "
      "left out"};
  r.servers[1].error = "config: admin_conninfo: \r\napp2 127.0.1.2: unchanged";
  std::string text = format_text(r);
  // event, primary, one node, one warning, two servers, the summary
  EXPECT_EQ(line_count(text), 7u) << text;
  EXPECT_NE(text.find("primary node2\\x0aWATCHDOG_USEC=1\\x0aSTOPPING=1 (id 2) at"), std::string::npos)
      << text;
  EXPECT_NE(text.find("\n  node1\\x1b[2J (id 1): standby\n"), std::string::npos) << text;
  EXPECT_NE(text.find("warning: database evil\\x0aPGDEPLOY OK - all fine\\x0aapp2"), std::string::npos)
      << text;
  EXPECT_NE(text.find("FAILED config: admin_conninfo: \\x0d\\x0aapp2 127.0.1.2: unchanged"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_NE(format_json(r).find("\"database evil\\nPGDEPLOY OK"), std::string::npos);

  r.refusal = "2 writable nodes: node1\nnode3";
  EXPECT_EQ(line_count(format_text(r)), 3u) << format_text(r);  // event, refusal, one node
}

TEST(ReportHostileText, TheDryRunDiffEscapesWhatTheAppServerSent) {
  RunReport r = sample();
  r.dry_run = true;
  r.servers.resize(1);
  r.servers[0].result = ServerReport::Result::unchanged;
  r.servers[0].changed = {"/etc/pgbouncer/databases/main.ini"};
  r.servers[0].check.users_added = {"bob\napp2 127.0.1.2: up to date"};
  // The include file there as a compromised app server may send it: a terminal escape, a
  // carriage return, a line without its end.
  r.servers[0].diff = unified_diff("appdb = host=10.0.0.1\x1b]0;owned\x07\r\nx = y",
                                   "appdb = host=10.0.0.2\n", "app1:/etc/pgbouncer/databases/main.ini",
                                   "new");
  std::string text = format_text(r);
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos) << text;
  EXPECT_NE(text.find("\n-appdb = host=10.0.0.1\\x1b]0;owned\\x07\\x0d\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\n\\ No newline at end of file\n"), std::string::npos) << text;
  EXPECT_NE(text.find("(users added: bob\\x0aapp2 127.0.1.2: up to date)\n"), std::string::npos) << text;
  // primary, app1, the diff's 7 lines (2 names, 1 hunk, 3 lines, 1 no-newline), the summary
  EXPECT_EQ(line_count(text), 10u) << text;
}

TEST(Report, SkippedEventsExitZero) {
  RunReport r;
  r.skipped = "event repmgrd_start does not change the primary: nothing to do";
  EXPECT_EQ(exit_code(r), 0);
  EXPECT_EQ(format_text(r), "pgdeploy: " + r.skipped + "\n");
}

}  // namespace
}  // namespace pgdeploy
