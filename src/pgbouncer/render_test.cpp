#include "pgbouncer/render.h"

#include <gtest/gtest.h>

namespace pgdeploy {
namespace {

TEST(PgBouncerRender, OneLinePerDatabaseWithOnlyHostPortDbname) {
  std::vector<std::string> skipped;
  std::string text = render_databases({"10.0.0.2", 5433}, {"appdb", "postgres", "repmgr"}, "", &skipped);
  EXPECT_EQ(text,
            "appdb = host=10.0.0.2 port=5433 dbname=appdb\n"
            "postgres = host=10.0.0.2 port=5433 dbname=postgres\n"
            "repmgr = host=10.0.0.2 port=5433 dbname=repmgr\n");
  EXPECT_TRUE(skipped.empty());
}

TEST(PgBouncerRender, ApplicationNameIsQuotedByPgBouncersRules) {
  std::vector<std::string> skipped;
  EXPECT_EQ(render_databases({"h", 5432}, {"a"}, "billing", &skipped),
            "a = host=h port=5432 dbname=a application_name=billing\n");
  EXPECT_EQ(render_databases({"h", 5432}, {"a"}, "it's my app", &skipped),
            "a = host=h port=5432 dbname=a application_name='it''s my app'\n");
}

TEST(PgBouncerRender, NamesPgBouncerCannotParseGoThroughTheFallback) {
  std::vector<std::string> skipped;
  std::string text = render_databases({"h", 5432}, {"my db", "a\"b", "x=y", "ok.name-1"}, "", &skipped);
  EXPECT_EQ(text,
            "ok.name-1 = host=h port=5432 dbname=ok.name-1\n"
            "* = host=h port=5432\n");
  EXPECT_TRUE(skipped.empty());
}

TEST(PgBouncerRender, LineBreaksCannotBeCarried) {
  std::vector<std::string> skipped;
  std::string text = render_databases({"h", 5432}, {"bad\nname", "good"}, "", &skipped);
  EXPECT_EQ(text, "good = host=h port=5432 dbname=good\n");
  ASSERT_EQ(skipped.size(), 1u);
}

TEST(PgBouncerRender, TheReservedNamePgbouncerIsLeftOut) {
  std::vector<std::string> skipped;
  EXPECT_EQ(render_databases({"h", 5432}, {"pgbouncer", "a"}, "", &skipped),
            "a = host=h port=5432 dbname=a\n");
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("reserved"), std::string::npos);
}

TEST(PgBouncerRender, PlainNames) {
  EXPECT_TRUE(plain_database_name("App_DB-1.x"));
  EXPECT_FALSE(plain_database_name(""));
  EXPECT_FALSE(plain_database_name("my db"));
  EXPECT_FALSE(plain_database_name("x=y"));
  EXPECT_FALSE(plain_database_name("é"));
}

TEST(PgBouncerRender, ConnstrValues) {
  EXPECT_EQ(quote_connstr_value("abc"), "abc");
  EXPECT_EQ(quote_connstr_value(""), "''");
  EXPECT_EQ(quote_connstr_value("a b"), "'a b'");
  EXPECT_EQ(quote_connstr_value("o'k"), "'o''k'");
}

// Finding 9: a value with \v once made PgBouncer reject the whole file on reload.
TEST(PgBouncerRender, ValuesPgBouncerCannotHoldAreLeftOutAndNamed) {
  std::vector<std::string> skipped;
  EXPECT_EQ(render_databases({"h", 5432}, {"a"}, "\v", &skipped), "a = host=h port=5432 dbname=a\n");
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("control character"), std::string::npos);
  EXPECT_EQ(quote_connstr_value("x\ty"), "'x\ty'");  // a tab does not split, but is quoted anyway
  EXPECT_EQ(quote_connstr_value("a;b"), "'a;b'");
  EXPECT_TRUE(host_ok("db-1.example.com"));
  EXPECT_TRUE(host_ok("fe80::1%eth0"));
  for (std::string bad : std::vector<std::string>{"", "a\nb", "a b", "a'b", "a\\b", std::string(256, 'h')})
    EXPECT_FALSE(host_ok(bad)) << bad;
}

TEST(PgBouncerRender, ConsoleNamesAreBareOrQuotedAndMustFitSixtyThreeBytes) {
  std::string out;
  EXPECT_TRUE(console_name("appdb_1", &out));
  EXPECT_EQ(out, "appdb_1");
  EXPECT_TRUE(console_name("App.db", &out));  // bare names are lower case: PgBouncer's regex
  EXPECT_EQ(out, "\"App.db\"");
  EXPECT_TRUE(console_name("a\"b", &out));
  EXPECT_EQ(out, "\"a\"\"b\"");
  EXPECT_TRUE(console_name(std::string(63, 'a'), &out));
  EXPECT_TRUE(console_name(std::string(61, 'A'), &out));
  EXPECT_FALSE(console_name(std::string(62, 'A'), &out));  // finding 5: 64 bytes quoted
}

// Finding 3: one 4 KB secret once made PgBouncer stop reading userlist.txt for everyone after it.
TEST(PgBouncerRender, UsersBeyondPgBouncersLimitsAreLeftOutAndTheOthersKept) {
  std::vector<std::string> skipped;
  std::string text = render_userlist({{"a", "x"},
                                      {"huge", "SCRAM-SHA-256$" + std::string(4096, 'x')},
                                      {std::string(128, 'n'), "y"},
                                      {std::string(127, 'm'), std::string(2047, 's')},
                                      {"z", "w"}},
                                     PgBouncerLimits{}, &skipped);
  EXPECT_EQ(text, "\"a\" \"x\"\n\"" + std::string(127, 'm') + "\" \"" + std::string(2047, 's') +
                      "\"\n\"z\" \"w\"\n");
  ASSERT_EQ(skipped.size(), 2u);
  EXPECT_NE(skipped[0].find("user huge (secret longer"), std::string::npos);
  EXPECT_EQ(skipped[0].find("xxxx"), std::string::npos) << "no secret in a warning";
  EXPECT_NE(skipped[1].find("name longer"), std::string::npos);
  // An escaped quote counts twice, as PgBouncer counts it.
  EXPECT_EQ(render_userlist({{std::string(126, 'q') + "\"", "s"}}, PgBouncerLimits{}, &skipped), "");
}

TEST(PgBouncerRender, TheSecretLimitIsTheVersionsLimit) {
  // No release lifts it yet (docs/pgbouncer-versions.md): a PgBouncer that did gets longer secrets.
  std::vector<DbUser> users = {{"long", std::string(3000, 's')}, {"short", "x"}};
  std::vector<std::string> skipped;
  EXPECT_EQ(render_userlist(users, limits_of(PgBouncerVersion{}), &skipped), "\"short\" \"x\"\n");
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0], "user long (secret longer than PgBouncer's 2047 bytes)");
  PgBouncerLimits wider;
  wider.max_password = 65531;
  skipped.clear();
  EXPECT_EQ(render_userlist(users, wider, &skipped),
            "\"long\" \"" + std::string(3000, 's') + "\"\n\"short\" \"x\"\n");
  EXPECT_TRUE(skipped.empty());
  wider.max_password = 3000;  // the limit counts the NUL, as MAX_PASSWORD does
  EXPECT_EQ(render_userlist(users, wider, &skipped), "\"short\" \"x\"\n");
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0], "user long (secret longer than PgBouncer's 2999 bytes)");
}

TEST(PgBouncerRender, VersionsThatRenderAlikeShareARendering) {
  // What a release adds that the render does not read (SHOW STATE, KILL_CLIENT) makes no other file.
  EXPECT_TRUE(renders_alike(limits_of({1, 25, 2}), limits_of(PgBouncerVersion{})));
  PgBouncerLimits wider;
  wider.max_password = 65531;
  EXPECT_FALSE(renders_alike(wider, limits_of({1, 18, 0})));
}

TEST(PgBouncerRender, DatabaseNamesOfSixtyFourBytesAreNotRouted) {
  std::vector<std::string> skipped;
  EXPECT_EQ(route_kind(std::string(64, 'd')), RouteKind::none);
  EXPECT_EQ(render_databases({"h", 5432}, {std::string(64, 'd')}, "", &skipped), "");
  EXPECT_EQ(skipped.size(), 1u);
}

TEST(PgBouncerRender, UserlistQuotesAndKeepsSecretsVerbatim) {
  std::vector<std::string> skipped;
  std::string scram = "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy";
  std::string text = render_userlist({{"app", scram}, {"o'dd \"user\"", "md5abc"}, {"bad\nuser", "x"}},
                                     PgBouncerLimits{}, &skipped);
  EXPECT_EQ(text, "\"app\" \"" + scram + "\"\n\"o'dd \"\"user\"\"\" \"md5abc\"\n");
  ASSERT_EQ(skipped.size(), 1u);
}

}  // namespace
}  // namespace pgdeploy
