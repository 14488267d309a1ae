#include "pgbouncer/routes.h"

#include <gtest/gtest.h>

namespace pgdeploy {
namespace {

const std::vector<std::string> kDatabases = {"appdb", "app_reports", "postgres", "repmgr", "my db"};

std::vector<std::string> shown(const std::vector<Route>& routes) {
  std::vector<std::string> out;
  for (const Route& r : routes) out.push_back(r.shown + (r.shown == r.dbname ? "" : "->" + r.dbname));
  return out;
}

TEST(PgBouncerRoutes, TheDefaultRoutesEveryDatabaseUnderItsOwnNameOddNamesThroughTheFallback) {
  std::vector<std::string> skipped;
  auto routes = select_routes(kDatabases, {}, &skipped);
  EXPECT_EQ(shown(routes), (std::vector<std::string>{"appdb", "app_reports", "postgres", "repmgr", "my db"}));
  EXPECT_EQ(routes.back().kind, RouteKind::fallback);
  EXPECT_TRUE(skipped.empty());
  EXPECT_EQ(render_routes({"h", 5432}, routes, "", &skipped),
            "appdb = host=h port=5432 dbname=appdb\n"
            "app_reports = host=h port=5432 dbname=app_reports\n"
            "postgres = host=h port=5432 dbname=postgres\n"
            "repmgr = host=h port=5432 dbname=repmgr\n"
            "* = host=h port=5432\n");
}

TEST(PgBouncerRoutes, IncludeAndExcludeAreShellPatternsAndExcludeWins) {
  std::vector<std::string> skipped;
  RouteNames names;
  names.include = {"app*", "postgres"};
  names.exclude = {"*_reports"};
  EXPECT_EQ(shown(select_routes(kDatabases, names, &skipped)),
            (std::vector<std::string>{"appdb", "postgres"}));
  EXPECT_TRUE(skipped.empty()) << "a database the lists leave out is not a warning";
  names = {};
  names.exclude = {"repmgr", "postgres"};
  EXPECT_EQ(shown(select_routes(kDatabases, names, &skipped)),
            (std::vector<std::string>{"appdb", "app_reports"}));
  ASSERT_EQ(skipped.size(), 1u) << "with a list, no \"*\" line: the odd name is named";
  EXPECT_NE(skipped[0].find("database my db (PgBouncer cannot take its name as a key"), std::string::npos);
  names = {};
  names.include = {"[ab]ppdb", "?y db"};  // a bracket expression; ? matches one byte
  skipped.clear();
  EXPECT_EQ(shown(select_routes(kDatabases, names, &skipped)), (std::vector<std::string>{"appdb"}));
  EXPECT_EQ(skipped.size(), 1u);
}

TEST(PgBouncerRoutes, APrefixAndSuffixRenameWhatPgBouncerShowsNotTheDatabase) {
  std::vector<std::string> skipped;
  RouteNames names;
  names.prefix = "c1_";
  names.suffix = ".ro";
  names.include = {"appdb"};
  auto routes = select_routes(kDatabases, names, &skipped);
  EXPECT_EQ(shown(routes), (std::vector<std::string>{"c1_appdb.ro->appdb"}));
  EXPECT_EQ(render_routes({"h", 5432}, routes, "web", &skipped),
            "c1_appdb.ro = host=h port=5432 dbname=appdb application_name=web\n");
  EXPECT_TRUE(skipped.empty());
}

TEST(PgBouncerRoutes, ANameTooLongWithItsPrefixIsLeftOutAndNamed) {
  std::vector<std::string> skipped;
  RouteNames names;
  names.prefix = "cluster_two_";
  std::string db(55, 'd');  // 55 + 12 = 67 bytes: beyond PgBouncer's 63
  EXPECT_TRUE(select_routes({db, "ok"}, names, &skipped).size() == 1u);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("as cluster_two_" + db + ": longer than PgBouncer's 63 bytes"),
            std::string::npos);
}

TEST(PgBouncerRoutes, AffixesKeepAPlainNamePlain) {
  for (std::string ok : std::vector<std::string>{"", "c1_", "a.b-c", std::string(62, 'p')})
    EXPECT_TRUE(route_affix_ok(ok)) << ok;
  for (std::string bad : std::vector<std::string>{"a b", "x=", "a\n", "'", std::string(63, 'p')})
    EXPECT_FALSE(route_affix_ok(bad)) << bad;
}

}  // namespace
}  // namespace pgdeploy
