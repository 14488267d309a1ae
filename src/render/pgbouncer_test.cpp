#include "render/pgbouncer.h"

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
  std::string text =
      render_databases({"h", 5432}, {"my db", "a\"b", "x=y", "ok.name-1"}, "", &skipped);
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

TEST(PgBouncerRender, UserlistQuotesAndKeepsSecretsVerbatim) {
  std::vector<std::string> skipped;
  std::string scram = "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy";
  std::string text = render_userlist(
      {{"app", scram}, {"o'dd \"user\"", "md5abc"}, {"bad\nuser", "x"}}, &skipped);
  EXPECT_EQ(text, "\"app\" \"" + scram + "\"\n\"o'dd \"\"user\"\"\" \"md5abc\"\n");
  ASSERT_EQ(skipped.size(), 1u);
}

}  // namespace
}  // namespace pgdeploy
