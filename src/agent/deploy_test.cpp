// A deploy's steps (run_deploy), run against a database and app servers held in memory: the
// catalog's edge rows, the early-login rule, --recent, the dry run, every refusal and the hook's
// hand-over to this node's watcher. The real libpq and SSH ends are the integration suites'
// (tests/integration).
#include "agent/deploy.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "cluster/catalog.h"
#include "testing/fake_database.h"
#include "testing/fake_remote.h"
#include "testing/local_remote.h"
#include "util/handoff.h"
#include "util/lock.h"

namespace pgdeploy {
namespace {

using Table = FakeDatabase::Table;

std::optional<std::string> S(const char* s) { return std::string(s); }
const std::optional<std::string> null = std::nullopt;

// Every app server answers as one that took the files; in check mode as one that has them.
struct Servers : FakeRemote {
  Servers()
      : FakeRemote([this](const std::string& host, const std::string& command, const std::string& input,
                          const Deadline&) {
          std::lock_guard<std::mutex> g(mu);
          ran.push_back(host);
          inputs.push_back(input);
          commands.push_back(command);
          if (input.find("mode 5\ncheck\n") == std::string::npos) return answer_written();
          ExecResult r = answer_written();
          r.out = "CONSOLE none\nDONE ok\n";
          return r;
        }) {}
  std::mutex mu;
  std::vector<std::string> ran, inputs, commands;
};

class AgentTest : public ::testing::Test {
 public:
  AgentTest() : db(FakeDatabase::repmgr4()) {
    db.table("repmgr", "nodes").rows = {
        {S("1"), S("node1"), S("primary"), S("t"), S("host=10.0.0.1 port=5432")},
        {S("2"), S("node2"), S("standby"), S("t"), S("host=10.0.0.2 port=5432")}};
    db.table("repmgr", "app_servers").rows = {
        {S("1"), S("app1"), S("127.0.1.1"), S("postgres"), S(""), S("true"), S("false"), S("")},
        {S("2"), S("app2"), S("127.0.1.2"), S("postgres"), S(""), S("true"), S("false"), S("")}};
    db.table("pg_catalog", "pg_database").rows = {{S("appdb"), S("false")}, {S("template1"), S("true")}};
    db.table("pg_catalog", "pg_authid").rows = {{S("app"), S("md5abc"), S("true"), null, null}};
    db.probes[1] = probe(true, 1, "sys 1");
    db.probes[2] = probe(false, 1, "sys 2");
    db.self = db.probes[1];
    opts.cluster = "main";
    opts.lock_file = dir.path() + "/lock";
    opts.events = {"standby_promote"};
  }

  static NodeProbe probe(bool writable, long timeline, const std::string& instance) {
    NodeProbe p;
    p.reachable = true;
    p.writable = writable;
    p.timeline = timeline;
    p.lsn = writable ? 100 : 0;
    p.instance = instance;
    return p;
  }

  int run() {
    out.str("");
    err.str("");
    return run_deploy(opts, db, remote, out, err);
  }
  std::string said() const { return out.str() + err.str(); }

  ClusterFacts facts(bool public_net = false) {
    ClusterFacts f;
    std::string why;
    EXPECT_TRUE(db.connect(Deadline::after(1), &why));
    ok = read_cluster_facts(db, "main", public_net, Deadline::after(1), &f, &why);
    error = why;
    return f;
  }

  TempDir dir;
  FakeDatabase db;
  Servers remote;
  Options opts;
  std::ostringstream out, err;
  bool ok = false;
  std::string error;
};

// --- the catalog's edge rows (cluster/catalog, pure over the rows) ---

TEST_F(AgentTest, TheOptionalAdminSocketsColumnIsReadAndAnUnusableOneFailsThatServerAlone) {
  auto& t = db.table("repmgr", "app_servers");
  t.columns.push_back("admin_sockets");
  t.rows = {{S("1"), S("app1"), S("127.0.1.1"), null, null, S("true"), null,
             S("host=/run/p1 port=6432 dbname=pgbouncer user=pgbouncer"), S("/run/p1, /run/p2")},
            {S("2"), S("app2"), S("127.0.1.2"), null, null, S("true"), null, null, S("/run/p1")}};
  ClusterFacts f = facts();
  ASSERT_TRUE(ok) << error;
  ASSERT_EQ(f.servers.size(), 2u);
  EXPECT_EQ(f.servers[0].admin_sockets, "/run/p1, /run/p2");
  EXPECT_EQ(run(), kExitServerFailed) << said();
  EXPECT_NE(said().find("admin_sockets needs admin_conninfo"), std::string::npos) << said();
  EXPECT_EQ(remote.ran, std::vector<std::string>{"127.0.1.1"});
}

TEST_F(AgentTest, ARowWithNullInEveryColumnIsDeployedWithDefaultsAndAWarning) {
  db.table("repmgr", "app_servers").rows = {{null, null, null, null, null, S("true"), null, null}};
  ClusterFacts f = facts();
  ASSERT_TRUE(ok) << error;
  ASSERT_EQ(f.servers.size(), 1u);
  EXPECT_EQ(f.servers[0].id, 0);
  EXPECT_EQ(f.servers[0].name, "");
  EXPECT_EQ(f.servers[0].address, "");
  EXPECT_EQ(f.servers[0].user, "postgres");
  EXPECT_FALSE(f.servers[0].auth_trust);
  EXPECT_EQ(f.servers[0].admin_conninfo, "");
  ASSERT_EQ(f.warnings.size(), 1u);
  EXPECT_EQ(f.warnings[0],
            "\"repmgr\".app_servers row id NULL () has an unusable id: deployed, but fix the row");
  // Through the agent: that server fails alone, the other is deployed.
  db.table("repmgr", "app_servers")
      .rows.push_back({S("2"), S("app2"), S("127.0.1.2"), null, null, S("true"), null, null});
  EXPECT_EQ(run(), kExitServerFailed) << said();
  EXPECT_NE(said().find("config: ip_addr is empty"), std::string::npos) << said();
  EXPECT_EQ(remote.ran, std::vector<std::string>{"127.0.1.2"});
}

TEST_F(AgentTest, DisabledRowsAndNullEnabledAreLeftAlone) {
  auto& rows = db.table("repmgr", "app_servers").rows;
  rows[0][5] = S("false");
  rows[1][5] = null;
  rows.push_back({S("3"), S("app3"), S("127.0.1.3"), S(""), S("billing"), S("t"), S("t"), null});
  ClusterFacts f = facts();
  ASSERT_TRUE(ok) << error;
  ASSERT_EQ(f.servers.size(), 1u);
  EXPECT_EQ(f.servers[0].name, "app3");
  EXPECT_EQ(f.servers[0].user, "postgres") << "an empty username is the default";
  EXPECT_EQ(f.servers[0].application_name, "billing");
  EXPECT_TRUE(f.servers[0].auth_trust);
}

TEST_F(AgentTest, TheSeedsTableWithoutOptionalColumnsDeploysEveryRow) {
  Table& t = db.table("repmgr", "app_servers");
  t.columns = {"node_id", "node_name", "ip_addr"};  // the later spelling, nothing optional
  t.rows = {{S("1"), S("app1"), S("127.0.1.1")}, {S("2"), null, S("127.0.1.2")}};
  ClusterFacts f = facts();
  ASSERT_TRUE(ok) << error;
  ASSERT_EQ(f.servers.size(), 2u);
  EXPECT_EQ(f.servers[1].user, "postgres");
  EXPECT_EQ(f.servers[1].name, "");
  EXPECT_FALSE(f.servers[1].auth_trust);
  EXPECT_TRUE(f.warnings.empty());
  t.columns = {"id", "ip_addr"};
  facts();
  EXPECT_FALSE(ok);
  EXPECT_NE(error.find("lacks column ip_addr, id/node_id or name/node_name"), std::string::npos) << error;
}

TEST_F(AgentTest, Repmgr3KeepsItsCatalogAndAppServersInItsOwnSchema) {
  FakeDatabase v3;
  v3.table("repmgr_main", "repl_nodes") = {
      {"id", "name", "type", "active", "conninfo"},
      {{S("1"), S("node1"), S("master"), S("t"), S("host=10.0.0.1")}, {S("2"), null, null, null, null}}};
  v3.table("repmgr_main", "app_servers") = db.table("repmgr", "app_servers");
  v3.table("pg_catalog", "pg_database") = db.table("pg_catalog", "pg_database");
  v3.table("pg_catalog", "pg_authid") = db.table("pg_catalog", "pg_authid");
  db = v3;
  ClusterFacts f = facts();
  ASSERT_TRUE(ok) << error;
  EXPECT_EQ(f.kind, CatalogKind::repmgr3);
  EXPECT_EQ(f.schema, "repmgr_main");
  ASSERT_EQ(f.nodes.size(), 2u);
  EXPECT_EQ(f.nodes[0].type, "primary") << "repmgr 3's master";
  EXPECT_TRUE(f.nodes[0].active);
  EXPECT_EQ(f.nodes[1].name, "");
  EXPECT_FALSE(f.nodes[1].active) << "NULL is not active";
  EXPECT_EQ(f.servers.size(), 2u);
  EXPECT_EQ(f.databases, std::vector<std::string>{"appdb"}) << "no template";
}

TEST_F(AgentTest, AClusterUpgradedFromRepmgr3MayKeepAppServersInTheOldSchema) {
  db.tables[{"repmgr_main", "app_servers"}] = db.table("repmgr", "app_servers");
  db.tables.erase({"repmgr", "app_servers"});
  ClusterFacts f = facts();
  ASSERT_TRUE(ok) << error;
  EXPECT_EQ(f.kind, CatalogKind::repmgr4);
  EXPECT_EQ(f.servers.size(), 2u);
}

TEST_F(AgentTest, UsersWithoutASecretAreNotCopied) {
  db.table("pg_catalog", "pg_authid").rows = {{S("a"), S("md5a"), S("true"), null, null},
                                              {S("b"), null, S("true"), null, null},
                                              {S("c"), S(""), S("true"), null, null}};
  ClusterFacts f = facts();
  ASSERT_EQ(f.users.size(), 1u);
  EXPECT_EQ(f.users[0].name, "a");
}

TEST_F(AgentTest, OnlyRolesThatMayLogInNowAreCopiedAndTheOthersNamedWithoutTheirSecret) {
  // valid_until_passed is the database's clock speaking, not the agent's.
  db.table("pg_catalog", "pg_authid").rows = {
      {S("always"), S("md5a"), S("true"), null, null},
      {S("locked"), S("md5secret1"), S("false"), null, null},
      {S("expired"), S("md5secret2"), S("true"), S("2026-01-01 00:00:00+00"), S("true")},
      {S("until_later"), S("md5d"), S("true"), S("2099-01-01 00:00:00+00"), S("false")},
      {S("forever"), S("md5e"), S("true"), S("infinity"), S("false")}};
  ClusterFacts f = facts();
  ASSERT_TRUE(ok) << error;
  std::vector<std::string> names;
  for (const auto& u : f.users) names.push_back(u.name);
  EXPECT_EQ(names, (std::vector<std::string>{"always", "until_later", "forever"}));
  EXPECT_EQ(f.roles_left_out,
            (std::vector<std::string>{"role locked (NOLOGIN)",
                                      "role expired (VALID UNTIL 2026-01-01 00:00:00+00 has passed)"}));

  EXPECT_EQ(run(), kExitOk) << said();
  EXPECT_NE(said().find("role expired (VALID UNTIL 2026-01-01 00:00:00+00 has passed) may not log in: "
                        "left out of userlist.txt"),
            std::string::npos)
      << said();
  EXPECT_EQ(said().find("secret"), std::string::npos) << "never a secret in the report";
  for (const auto& input : remote.inputs) {
    EXPECT_NE(input.find("\"until_later\" \"md5d\""), std::string::npos);
    EXPECT_EQ(input.find("md5secret"), std::string::npos);
  }
}

TEST_F(AgentTest, AuthModesQueryAndNoneLeaveUserlistAloneAndARowsAuthModeWinsOverAuth) {
  auto sent_userlist = [this](const std::string& host) {
    for (size_t i = 0; i < remote.ran.size(); ++i)
      if (remote.ran[i] == host)
        return remote.inputs[i].find("/etc/pgbouncer/userlist.txt") != std::string::npos;
    ADD_FAILURE() << host << " was not asked";
    return false;
  };
  for (AuthMode mode : {AuthMode::query, AuthMode::none}) {
    remote.ran.clear();
    remote.inputs.clear();
    opts.auth = mode;
    EXPECT_EQ(run(), kExitOk) << said();
    EXPECT_FALSE(sent_userlist("127.0.1.1")) << auth_mode_name(mode);
    EXPECT_FALSE(sent_userlist("127.0.1.2")) << auth_mode_name(mode);
    EXPECT_EQ(said().find("may not log in"), std::string::npos) << "no userlist.txt, no roles left out of it";
  }

  // Per row: app1 says file, app2 leaves it to --auth (query); a row's unknown mode writes nothing.
  opts.auth = AuthMode::query;
  auto& servers = db.table("repmgr", "app_servers");
  servers.columns.push_back("auth_mode");
  servers.rows[0].push_back(S("file"));
  servers.rows[1].push_back(null);
  remote.ran.clear();
  remote.inputs.clear();
  EXPECT_EQ(run(), kExitOk) << said();
  EXPECT_TRUE(sent_userlist("127.0.1.1"));
  EXPECT_FALSE(sent_userlist("127.0.1.2"));

  opts.auth = AuthMode::file;
  servers.rows[0].back() = S("File; DROP");
  remote.ran.clear();
  remote.inputs.clear();
  EXPECT_EQ(run(), kExitOk) << said();
  EXPECT_FALSE(sent_userlist("127.0.1.1")) << "a secret in auth_file would switch auth_query off";
  EXPECT_TRUE(sent_userlist("127.0.1.2"));
  EXPECT_NE(said().find("row id 1 (app1) has auth_mode 'File; DROP' (not file, query or none): its "
                        "userlist.txt is left alone"),
            std::string::npos)
      << said();
}

TEST_F(AgentTest, WithAuthQueryTheRoutedDatabasesLackingTheLookupFunctionAreNamedAfterThePush) {
  db.table("pg_catalog", "pg_database").rows = {
      {S("appdb"), S("false")}, {S("shop"), S("false")}, {S("scratch"), S("false")}};
  db.function_in = {"shop"};
  opts.routes.exclude = {"scr*"};  // not routed: not asked
  opts.auth = AuthMode::file;
  EXPECT_EQ(run(), kExitOk) << said();
  EXPECT_TRUE(db.function_asked.empty()) << "no auth_query, nothing to check";

  opts.auth = AuthMode::query;
  EXPECT_EQ(run(), kExitOk) << said() << "a warning: the routes are right";
  // On the proven primary, by its own conninfo, in each routed database by its real name.
  EXPECT_EQ(db.function_asked,
            (std::vector<std::string>{"host=10.0.0.1 port=5432|appdb|pgbouncer_auth.lookup(text)",
                                      "host=10.0.0.1 port=5432|shop|pgbouncer_auth.lookup(text)"}));
  EXPECT_NE(said().find("warning: auth_query: pgbouncer_auth.lookup(text) does not exist in appdb: PgBouncer "
                        "cannot log anyone in there"),
            std::string::npos)
      << said();
  EXPECT_FALSE(remote.ran.empty()) << "after the push, which it never delays";

  // A dry run says the same; "" checks nothing; every database having it says nothing.
  db.function_asked.clear();
  opts.auth_lookup = "";
  EXPECT_EQ(run(), kExitOk) << said();
  EXPECT_TRUE(db.function_asked.empty());
  EXPECT_EQ(said().find("auth_query:"), std::string::npos) << said();
  opts.auth_lookup = "app.f(text)";
  db.function_in = {"appdb", "shop"};
  opts.dry_run = true;
  EXPECT_EQ(run(), kExitOk) << said();
  EXPECT_EQ(db.function_asked.size(), 2u);
  EXPECT_EQ(said().find("auth_query:"), std::string::npos) << said();
  db.function_errors["shop"] = "timeout expired";
  opts.json = true;
  EXPECT_EQ(run(), kExitOk) << said();
  EXPECT_NE(
      said().find("auth_query: whether app.f(text) exists could not be asked in shop (timeout expired)"),
      std::string::npos)
      << said();
}

TEST_F(AgentTest, ThePrefixNamesWhatPgBouncerShowsAndTheRouteKeepsTheRealName) {
  db.table("pg_catalog", "pg_database").rows = {
      {S("appdb"), S("false")}, {S("postgres"), S("false")}, {S("scratch"), S("false")}};
  opts.routes.prefix = "c1_";
  opts.routes.exclude = {"scr*"};
  EXPECT_EQ(run(), kExitOk) << said();
  ASSERT_FALSE(remote.inputs.empty());
  const std::string& input = remote.inputs[0];
  EXPECT_NE(input.find("c1_appdb = host=10.0.0.1 port=5432 dbname=appdb\n"), std::string::npos) << input;
  EXPECT_NE(input.find("c1_postgres = host=10.0.0.1 port=5432 dbname=postgres\n"), std::string::npos);
  EXPECT_EQ(input.find("scratch"), std::string::npos) << "excluded";
  // The push program confirms and cuts sessions by the names PgBouncer shows.
  EXPECT_NE(input.find("db 8\nc1_appdb\n"), std::string::npos) << input;
}

TEST_F(AgentTest, PublicInfoRowsWithANullIdAreIgnoredWithAWarningAndNullConninfoSilently) {
  db.table("repmgr", "node_public_info") = {
      {"node_id", "conninfo"},
      {{S("1"), S("host=192.0.2.1 port=5433")}, {null, S("host=x")}, {S("2"), null}}};
  ClusterFacts f = facts(true);
  ASSERT_TRUE(ok) << error;
  EXPECT_EQ(f.public_conninfo, (std::map<int, std::string>{{1, "host=192.0.2.1 port=5433"}}));
  ASSERT_EQ(f.warnings.size(), 1u);
  EXPECT_NE(f.warnings[0].find("node_id NULL (host=x) has an unusable node_id: ignored"), std::string::npos);
  opts.public_net = true;
  EXPECT_EQ(run(), kExitOk) << said();
  EXPECT_NE(remote.inputs.at(0).find("192.0.2.1"), std::string::npos);
}

TEST_F(AgentTest, DuplicateHostsAreOneServerWhenTheRowsAgreeAndFailedWhenNot) {
  auto& rows = db.table("repmgr", "app_servers").rows;
  rows.push_back({S("3"), S("app1"), S("127.0.1.1"), S("postgres"), S(""), S("true"), S("false"), S("")});
  EXPECT_EQ(run(), kExitOk) << said();
  EXPECT_EQ(remote.ran.size(), 2u) << "one push per host";
  rows.back()[4] = S("billing");
  remote.ran.clear();
  EXPECT_EQ(run(), kExitServerFailed) << said();
  EXPECT_EQ(remote.ran, std::vector<std::string>{"127.0.1.2"});
  EXPECT_NE(said().find("both name 127.0.1.1"), std::string::npos) << said();
}

// --- every refusal: exit 1, nothing sent ---

TEST_F(AgentTest, EveryRefusalExitsOneAndSendsNothing) {
  struct Case {
    const char* why;
    std::function<void(AgentTest&)> make;
    const char* says;
  };
  std::vector<Case> cases = {
      {"database down",
       [](AgentTest& t) { t.db.connect_error = "cannot connect to the database (host=x): refused"; },
       "cannot connect to the database"},
      {"no catalog",
       [](AgentTest& t) {
         t.db.tables.erase({"repmgr", "nodes"});
       },
       "no repmgr catalog in database"},
      {"a node with a NULL id", [](AgentTest& t) { t.db.table("repmgr", "nodes").rows[1][0] = std::nullopt; },
       "unusable id: node_id NULL (node2)"},
      {"a node id beyond int",
       [](AgentTest& t) { t.db.table("repmgr", "nodes").rows[1][0] = S("99999999999"); },
       "node_id '99999999999' (node2)"},
      {"no app_servers table",
       [](AgentTest& t) {
         t.db.tables.erase({"repmgr", "app_servers"});
       },
       "no table repmgr.app_servers"},
      {"no enabled server", [](AgentTest& t) { t.db.table("repmgr", "app_servers").rows.clear(); },
       "no enabled app server"},
      {"no database",
       [](AgentTest& t) {
         t.db.table("pg_catalog", "pg_database").rows = {{S("t"), S("true")}};
       },
       "no database to route"},
      {"every row in conflict",
       [](AgentTest& t) {
         auto& rows = t.db.table("repmgr", "app_servers").rows;
         rows = {rows[0], rows[0]};
         rows[1][0] = S("5");
         rows[1][4] = S("other");
       },
       "no app server to deploy to"},
      {"no primary in the catalog",
       [](AgentTest& t) { t.db.table("repmgr", "nodes").rows[0][2] = S("standby"); },
       "names no active primary"},
      {"nothing writable",
       [](AgentTest& t) {
         t.db.probes[1].writable = false;
         t.db.self.writable = false;
       },
       "no node answers as writable"},
      {"split brain", [](AgentTest& t) { t.db.probes[2].writable = true; }, "split brain"},
      {"--public-net without a row",
       [](AgentTest& t) {
         t.opts.public_net = true;
         t.db.table("repmgr", "node_public_info") = {{"node_id", "conninfo"}, {}};
       },
       "node_public_info has no row for node"},
      {"--public-net without the table", [](AgentTest& t) { t.opts.public_net = true; },
       "--public-net needs table"},
      {"the primary on a socket",
       [](AgentTest& t) { t.db.table("repmgr", "nodes").rows[0][4] = S("host=/run/pg"); },
       "cannot address the primary"},
      {"a hostile host",
       [](AgentTest& t) {
         t.opts.public_net = true;
         t.db.table("repmgr", "node_public_info") = {{"node_id", "conninfo"}, {{S("1"), S("host='a\"b'")}}};
       },
       "cannot be written into PgBouncer's configuration"},
  };
  for (const Case& c : cases) {
    FakeDatabase saved = db;
    Options saved_opts = opts;
    c.make(*this);
    EXPECT_EQ(run(), kExitRefused) << c.why << ": " << said();
    EXPECT_NE(said().find(c.says), std::string::npos) << c.why << ": " << said();
    EXPECT_TRUE(remote.ran.empty()) << c.why;
    db = saved;
    opts = saved_opts;
  }
}

TEST_F(AgentTest, AnotherRunHoldingTheLockIsARefusal) {
  FileLock other;
  std::string why;
  ASSERT_TRUE(other.acquire(opts.lock_file, Deadline::after(1), &why)) << why;
  opts.deadline = 0.3;
  EXPECT_EQ(run(), kExitRefused) << said();
  EXPECT_EQ(db.connects, 0);
}

TEST_F(AgentTest, AnEventThatChangesNoPrimaryNeedsNothingNotEvenTheDatabase) {
  opts.event = "repmgrd_start";
  EXPECT_EQ(run(), kExitOk);
  EXPECT_NE(said().find("does not change the primary"), std::string::npos) << said();
  EXPECT_EQ(db.connects, 0);
  opts.event = "standby_promote";
  opts.success = "0";
  EXPECT_EQ(run(), kExitOk);
  EXPECT_EQ(db.connects, 0);
}

// --- the early-login rule ---

// How many logins were made by the time the other nodes were asked (waiting up to half a second for
// as many as there are servers).
int logins_during_proof(AgentTest& t) {
  int seen = -1;
  t.db.on_probe_nodes = [&] {
    for (auto until = Deadline::after(0.5); t.remote.logins < 2 && !until.expired();)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    seen = t.remote.logins;
  };
  t.run();
  t.db.on_probe_nodes = nullptr;  // it points into this frame
  return seen;
}

TEST_F(AgentTest, OnAWritableNodeTheLoginsAreMadeWhileTheOtherNodesAreAsked) {
  EXPECT_EQ(logins_during_proof(*this), 2);
  EXPECT_EQ(remote.ran.size(), 2u);
}

TEST_F(AgentTest, OnAStandbyTheLoginsWaitForTheProof) {
  db.self = db.probes[2];
  EXPECT_EQ(logins_during_proof(*this), 0);
  EXPECT_EQ(remote.ran.size(), 2u) << "still deployed, once proven";
}

// --- --recent ---

TEST_F(AgentTest, RecentSkipsARepeatedEventAndLogsInNowhereOnTheSameTimeline) {
  opts.event = "standby_promote";
  ASSERT_EQ(run(), kExitOk) << said();
  ASSERT_EQ(remote.ran.size(), 2u);
  remote.ran.clear();
  remote.logins = 0;
  EXPECT_EQ(logins_during_proof(*this), 0) << "right after a push from here on this timeline";
  EXPECT_NE(said().find("nothing to do"), std::string::npos) << said();
  EXPECT_TRUE(remote.ran.empty());
  // Without --event (by hand), or with --recent 0, it pushes again.
  opts.event = "";
  EXPECT_EQ(run(), kExitOk);
  EXPECT_EQ(remote.ran.size(), 2u);
  opts.event = "standby_promote";
  opts.recent = 0;
  EXPECT_EQ(run(), kExitOk);
  EXPECT_EQ(remote.ran.size(), 4u);
  // Another truth (a new timeline) is pushed at once.
  opts.recent = 30;
  db.probes[1].timeline = db.probes[2].timeline = db.self.timeline = 2;
  EXPECT_EQ(run(), kExitOk);
  EXPECT_EQ(remote.ran.size(), 6u);
}

TEST_F(AgentTest, AFailedPushIsNotRecordedSoItIsRepeated) {
  opts.event = "standby_promote";
  db.table("repmgr", "app_servers").rows[1][2] = S("down");
  EXPECT_EQ(run(), kExitServerFailed) << said();
  db.table("repmgr", "app_servers").rows[1][2] = S("127.0.1.2");
  remote.ran.clear();
  EXPECT_EQ(run(), kExitOk) << said();
  EXPECT_EQ(remote.ran.size(), 2u);
}

// --- the dry run ---

TEST_F(AgentTest, ADryRunAsksEveryServerReadOnlyAndLogsInOnlyAfterTheProof) {
  opts.dry_run = true;
  EXPECT_EQ(logins_during_proof(*this), 0);
  ASSERT_EQ(remote.inputs.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_NE(remote.inputs[i].find("mode 5\ncheck\n"), std::string::npos);
    EXPECT_EQ(remote.commands[i].rfind("exec perl -e ", 0), 0u) << "no fast path";
  }
  EXPECT_NE(said().find("dry run"), std::string::npos) << said();
  EXPECT_FALSE(std::ifstream(opts.lock_file + ".last").good()) << "a dry run is no push";
}

}  // namespace
// --- the hook's hand-over to this node's watcher (util/handoff), with a watcher in-process ---

// A watcher on the hook's socket that records what it is handed and answers as `answer` says
// (nothing: it keeps the reply and never answers).
struct FakeWatcher {
  explicit FakeWatcher(const std::string& lock_file, std::optional<HookAnswer> answer)
      : server(
            [this, answer](const HookRequest& r, HandoffServer::Reply reply) {
              std::lock_guard<std::mutex> g(mu);
              taken.push_back(r);
              if (answer) reply(*answer);
              else kept.push_back(std::move(reply));
              return std::string();
            },
            [] { return std::string(); }) {
    std::string err;
    EXPECT_TRUE(server.start(handoff_socket(lock_file), &err)) << err;
  }
  std::mutex mu;
  std::vector<HookRequest> taken;
  std::vector<HandoffServer::Reply> kept;
  HandoffServer server;
};

TEST_F(AgentTest, AHookGivesTheWatcherOnlyWhatLeavesAOneShotItsTime) {
  opts.event = "standby_promote";
  opts.success = "1";
  FakeWatcher watcher(opts.lock_file, HookAnswer{0, false, "by the watcher\n"});
  EXPECT_EQ(run(), 0);
  EXPECT_EQ(said(), "by the watcher\n");
  ASSERT_EQ(watcher.taken.size(), 1u);
  // --deadline 20 less 3 x --probe-timeout 2 and --host-timeout 5.
  EXPECT_NEAR(watcher.taken[0].wait, 20 - (3 * 2 + 5), 0.1);
  EXPECT_TRUE(remote.ran.empty());

  opts.host_timeout = 18;  // a one-shot needs more than the deadline leaves: no hand-over
  EXPECT_EQ(run(), 0);
  EXPECT_EQ(watcher.taken.size(), 1u) << "handed over although no time was left to share";
  EXPECT_NE(said().find("2 of 2 app servers up to date"), std::string::npos) << said();
}

TEST_F(AgentTest, AWatcherThatTookTheEventAndNeverAnsweredLeavesTheOneShotItsTimeAndIsSaid) {
  opts.event = "standby_promote";
  opts.success = "1";
  opts.deadline = 4;
  opts.probe_timeout = 0.5;
  opts.host_timeout = 1;  // the one-shot keeps 2.5 s: the watcher gets 1.5
  FakeWatcher watcher(opts.lock_file, std::nullopt);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(run(), 0) << said();
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(took, 1.4);
  EXPECT_LT(took, 4) << "the one-shot after the wait ran within the deadline";
  EXPECT_NE(said().find("warning: handed over to the watcher, no answer: this node's watcher took the event"),
            std::string::npos)
      << said();
  EXPECT_NE(said().find("2 of 2 app servers up to date"), std::string::npos) << said();

  // The watcher (stopped) still holds the lock: the one-shot is refused, and cannot say that
  // nothing was written.
  FileLock held;
  std::string why;
  ASSERT_TRUE(held.acquire(opts.lock_file, Deadline::after(1), &why)) << why;
  EXPECT_EQ(run(), kExitHandedOver);
  EXPECT_EQ(said().find("nothing was written"), std::string::npos) << said();
  EXPECT_NE(
      said().find("REFUSED, this run wrote nothing (the watcher may have): another pgdeploy run still holds"),
      std::string::npos)
      << said();
}

}  // namespace pgdeploy

namespace pgdeploy {
namespace {

// --- a newer truth on an app server, and stale primaries (agent/newer, agent/fence) ---

// app1 holds the config of node2 on `timeline`/`generation` and answers NEWER; app2 lost its file
// and takes this run's.
struct NewerOnApp1 : FakeRemote {
  NewerOnApp1(long timeline, uint64_t generation)
      : FakeRemote([timeline, generation](const std::string& host, const std::string&, const std::string&,
                                          const Deadline&) {
          if (host != "127.0.1.1") return answer_written();
          ExecResult r = answer_written();
          r.out = "NEWER ; pgdeploy cluster=main primary=2 timeline=" + std::to_string(timeline) +
                  " generation=" + std::to_string(generation) + " digest=ab\nDONE ok\n";
          return r;
        }) {}
};

TEST_F(AgentTest, ANewerTimelineOnOneServerMakesTheOneShotExit5AndNamesWhatItWrote) {
  db.probes.erase(2);  // node2 does not answer: security review 3, N8
  NewerOnApp1 servers(2, 1);
  int code = run_deploy(opts, db, servers, out, err);
  EXPECT_EQ(code, kExitNewerTruth) << said();
  EXPECT_NE(out.str().find("app1 127.0.1.1: skipped: newer config present"), std::string::npos) << said();
  EXPECT_NE(out.str().find("app2 127.0.1.2: updated"), std::string::npos) << said();
  EXPECT_NE(out.str().find("pgdeploy: NEWER TRUTH, this run's proof is stale and counts as not pushing: "
                           "app1 127.0.1.1 holds the config of primary id 2 on timeline 2, newer than "
                           "this node's proof (timeline 1)"),
            std::string::npos)
      << said();
  EXPECT_FALSE(std::ifstream(opts.lock_file + ".last").good()) << "not recorded as a push";
}

TEST_F(AgentTest, ANewerGenerationOnTheSameTimelineIsNoNewerTruth) {
  db.probes.erase(2);
  NewerOnApp1 servers(1, 999999);
  EXPECT_EQ(run_deploy(opts, db, servers, out, err), kExitOk) << said();
  EXPECT_EQ(said().find("NEWER TRUTH"), std::string::npos);
}

TEST_F(AgentTest, ANewerTimelineWhileEveryNodeAnswersIsNoNewerTruth) {
  NewerOnApp1 servers(99, 1);  // node2 answers on timeline 1: nobody is on 99
  EXPECT_EQ(run_deploy(opts, db, servers, out, err), kExitOk) << said();
  EXPECT_EQ(said().find("NEWER TRUTH"), std::string::npos);
}

TEST_F(AgentTest, AStalePrimaryIsNamedAndFencedOnlyWithTheOption) {
  db.probes[1] = probe(true, 2, "sys 1");  // node1, the catalog's primary, on timeline 2
  db.probes[2] = probe(true, 1, "sys 2");  // node2 came back writable on timeline 1
  db.self = db.probes[1];
  EXPECT_EQ(run(), kExitOk) << said();
  EXPECT_TRUE(db.fenced.empty());
  EXPECT_NE(out.str().find("pgdeploy: STALE PRIMARY node2 (id 2): writable on timeline 1; node1 (id 1) "
                           "is on timeline 2: NOT FENCED"),
            std::string::npos)
      << said();

  opts.fence_stale = true;
  EXPECT_EQ(run(), kExitFenced) << said();
  EXPECT_EQ(db.fenced, std::vector<int>{2});
  EXPECT_NE(out.str().find("FENCE RAISED"), std::string::npos) << said();
  EXPECT_EQ(run(), kExitOk) << said();  // fenced already: nothing more
  EXPECT_EQ(db.fenced, std::vector<int>{2});

  opts.dry_run = true;  // a dry run never fences
  db.probes[2].read_only_default = false;
  run();
  EXPECT_EQ(db.fenced, std::vector<int>{2});
  EXPECT_NE(out.str().find("NOT FENCED"), std::string::npos) << said();
}

}  // namespace
}  // namespace pgdeploy
