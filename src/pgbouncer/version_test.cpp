#include "pgbouncer/version.h"

#include <gtest/gtest.h>

namespace pgdeploy {
namespace {

TEST(PgBouncerVersion, ReadsShowVersionAndTheBinarysFirstLine) {
  PgBouncerVersion v;
  ASSERT_TRUE(parse_pgbouncer_version("PgBouncer 1.18.0", &v));
  EXPECT_EQ(v.text(), "1.18.0");
  ASSERT_TRUE(parse_pgbouncer_version("PgBouncer 1.25.2\nlibevent 2.1.12-stable\n", &v));
  EXPECT_EQ(v.text(), "1.25.2");
  ASSERT_TRUE(parse_pgbouncer_version("PgBouncer 1.26.0-rc1", &v));
  EXPECT_EQ((v.major * 100 + v.minor) * 100 + v.patch, 12600);
  for (const char* bad :
       {"", "PgBouncer", "PgBouncer 1.18", "pgbouncer 1.18.0", "PgBouncer 1.x.0", "PgBouncer 0.1.0",
        "PgBouncer 1.18.0x", "PgBouncer 99999.1.1", "PgBouncer -1.18.0"}) {
    EXPECT_FALSE(parse_pgbouncer_version(bad, &v)) << bad;
    EXPECT_FALSE(v.known()) << bad;
    EXPECT_EQ(v.text(), "unknown");
  }
}

TEST(PgBouncerVersion, UnknownAnd118KeepTodaysLimits) {
  PgBouncerVersion v118;
  ASSERT_TRUE(parse_pgbouncer_version("PgBouncer 1.18.0", &v118));
  for (const PgBouncerVersion& v : {PgBouncerVersion{}, v118}) {
    PgBouncerLimits l = limits_of(v);
    EXPECT_EQ(l.max_password, 2048u);
    EXPECT_FALSE(l.quoted_db_names);
    EXPECT_FALSE(l.reload_reports_errors);
    EXPECT_FALSE(l.show_state);
    EXPECT_FALSE(l.auth_dbname);
    EXPECT_FALSE(l.kill_client);
  }
}

TEST(PgBouncerVersion, EachFeatureFromTheReleaseThatBroughtIt) {
  auto at = [](int minor) { return limits_of(PgBouncerVersion{1, minor, 0}); };
  EXPECT_FALSE(at(18).show_state);
  EXPECT_TRUE(at(19).show_state);
  EXPECT_TRUE(at(19).auth_dbname);
  EXPECT_FALSE(at(23).kill_client);
  EXPECT_TRUE(at(24).kill_client);
  EXPECT_FALSE(at(24).reload_reports_errors);
  EXPECT_TRUE(at(25).reload_reports_errors);
  EXPECT_TRUE(limits_of(PgBouncerVersion{2, 0, 0}).kill_client) << "a later major has them all";
  // No release to date lifts the secret limit nor parses quoted [databases] keys.
  EXPECT_EQ(at(25).max_password, 2048u);
  EXPECT_FALSE(at(25).quoted_db_names);
}

}  // namespace
}  // namespace pgdeploy
