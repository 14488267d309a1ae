#include "cluster/auth_lookup.h"

#include <gtest/gtest.h>

namespace pgdeploy {
namespace {

FunctionCheck answered(const std::string& db, bool exists) { return {db, true, exists, ""}; }

TEST(AuthLookup, OnlyServersInQueryModeNeedTheFunction) {
  AppServer file, query, none;
  query.auth = AuthMode::query;
  none.auth = AuthMode::none;
  EXPECT_FALSE(uses_auth_query({file, none}, AuthMode::file));
  EXPECT_TRUE(uses_auth_query({file, query}, AuthMode::file));
  EXPECT_TRUE(uses_auth_query({file}, AuthMode::query));   // the row's NULL: --auth
  EXPECT_FALSE(uses_auth_query({none}, AuthMode::query));  // the row wins
  EXPECT_FALSE(uses_auth_query({}, AuthMode::query));
}

TEST(AuthLookup, EveryLackingDatabaseIsNamedInOneLine) {
  auto w = auth_lookup_warnings(
      "pgbouncer_auth.lookup(text)",
      {answered("appdb", false), answered("postgres", true), answered("shop", false)});
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0],
            "auth_query: pgbouncer_auth.lookup(text) does not exist in appdb, shop: PgBouncer cannot "
            "log anyone in there (docs/setup.md)");
}

TEST(AuthLookup, NothingIsSaidWhenEveryDatabaseHasIt) {
  EXPECT_TRUE(auth_lookup_warnings("f(text)", {answered("a", true), answered("b", true)}).empty());
  EXPECT_TRUE(auth_lookup_warnings("f(text)", {}).empty());
}

TEST(AuthLookup, ADatabaseThatCouldNotBeAskedIsNamedApartWithWhy) {
  auto w = auth_lookup_warnings("f(text)", {answered("a", false), {"b", false, false, "timeout"}});
  ASSERT_EQ(w.size(), 2u);
  EXPECT_NE(w[0].find("does not exist in a:"), std::string::npos) << w[0];
  EXPECT_EQ(w[1], "auth_query: whether f(text) exists could not be asked in b (timeout)");
}

}  // namespace
}  // namespace pgdeploy
