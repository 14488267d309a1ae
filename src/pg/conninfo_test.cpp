#include "pg/conninfo.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace pgdeploy {
namespace {

TEST(Conninfo, KeepsOnlyTheAddressOfRepmgrsConninfo) {
  Endpoint e;
  std::string err;
  ASSERT_TRUE(endpoint_of("host=db1.example port=5433 user=repmgr dbname=repmgr connect_timeout=2", &e, &err))
      << err;
  EXPECT_EQ(e, (Endpoint{"db1.example", 5433}));
}

TEST(Conninfo, DefaultPortAndUris) {
  Endpoint e;
  std::string err;
  ASSERT_TRUE(endpoint_of("host=10.0.0.5 user=repmgr", &e, &err));
  EXPECT_EQ(e, (Endpoint{"10.0.0.5", 5432}));
  ASSERT_TRUE(endpoint_of("postgresql://repmgr@10.0.0.6:6000/repmgr", &e, &err)) << err;
  EXPECT_EQ(e, (Endpoint{"10.0.0.6", 6000}));
}

TEST(Conninfo, HostaddrWinsBecauseLibpqConnectsThere) {
  Endpoint e;
  std::string err;
  ASSERT_TRUE(endpoint_of("host=db1 hostaddr=10.1.1.1 port=5432", &e, &err));
  EXPECT_EQ(e.host, "10.1.1.1");
}

TEST(Conninfo, QuotedValuesAreUnquotedByLibpq) {
  ConnOptions o;
  std::string err;
  ASSERT_TRUE(parse_conninfo("host='my host' application_name='it\\'s'", &o, &err));
  EXPECT_EQ(o["host"], "my host");
  EXPECT_EQ(o["application_name"], "it's");
}

TEST(Conninfo, RefusesWhatPgBouncerCannotUse) {
  Endpoint e;
  std::string err;
  EXPECT_FALSE(endpoint_of("user=repmgr dbname=repmgr", &e, &err));
  EXPECT_NE(err.find("no host"), std::string::npos);
  EXPECT_FALSE(endpoint_of("host=a,b port=5432", &e, &err));
  EXPECT_NE(err.find("several hosts"), std::string::npos);
  EXPECT_FALSE(endpoint_of("host=/var/run/postgresql", &e, &err));
  EXPECT_NE(err.find("Unix socket"), std::string::npos);
  EXPECT_FALSE(endpoint_of("host=x port=99999", &e, &err));
  EXPECT_NE(err.find("invalid port"), std::string::npos);
  EXPECT_FALSE(endpoint_of("host=x bogus=1", &e, &err));
  EXPECT_NE(err.find("bogus"), std::string::npos);
}

TEST(Conninfo, RedactedHidesPasswordsAndKeepsTheRest) {
  EXPECT_EQ(redacted_conninfo("host=db1 port=5432 dbname=repmgr"), "host=db1 port=5432 dbname=repmgr");
  EXPECT_EQ(redacted_conninfo("host=db1 user=repmgr password=s3cret dbname=repmgr"),
            "dbname='repmgr' host='db1' password='***' user='repmgr'");
  std::string uri = redacted_conninfo("postgresql://repmgr:s3cret@db1:5433/repmgr?sslpassword=k3y");
  EXPECT_EQ(uri.find("s3cret"), std::string::npos) << uri;
  EXPECT_EQ(uri.find("k3y"), std::string::npos) << uri;
  EXPECT_NE(uri.find("host='db1'"), std::string::npos) << uri;
  EXPECT_NE(uri.find("port='5433'"), std::string::npos) << uri;
  // A quoted password with spaces and quotes goes entirely; the other values stay parseable.
  std::string q = redacted_conninfo("password='a b \\' c' application_name='it\\'s'");
  EXPECT_EQ(q, "application_name='it\\'s' password='***'");
  ConnOptions back;
  std::string err;
  ASSERT_TRUE(parse_conninfo(q, &back, &err)) << err;
  EXPECT_EQ(back["application_name"], "it's");
  // What libpq cannot parse may hold a password anywhere: not echoed.
  EXPECT_EQ(redacted_conninfo("host=db1 password='unterminated").find("unterminated"), std::string::npos);
}

}  // namespace
}  // namespace pgdeploy

namespace pgdeploy {
namespace {

TEST(ConninfoEnv, EveryKeywordBecomesItsVariable) {
  std::vector<std::string> env;
  std::string err;
  ASSERT_TRUE(conninfo_env("host=/run/pgb port=6432 dbname=pgbouncer user=admin password='a b'", &env, &err))
      << err;
  std::sort(env.begin(), env.end());
  EXPECT_EQ(env, (std::vector<std::string>{"PGDATABASE=pgbouncer", "PGHOST=/run/pgb", "PGPASSWORD=a b",
                                           "PGPORT=6432", "PGUSER=admin"}));
  ASSERT_TRUE(conninfo_env("postgresql://admin@%2Frun%2Fpgb:6432/pgbouncer", &env, &err)) << err;
  EXPECT_NE(std::find(env.begin(), env.end(), "PGHOST=/run/pgb"), env.end());
  EXPECT_FALSE(conninfo_env("host='a\nb'", &env, &err));
  EXPECT_NE(err.find("control character"), std::string::npos);
  EXPECT_FALSE(conninfo_env("host=a junk", &env, &err));
}

TEST(Conninfo, DbnameReplacedAndAHostileNameStaysOneValue) {
  std::string out, err;
  ConnOptions o;
  ASSERT_TRUE(conninfo_with_dbname("postgresql://repmgr@db1:5433/repmgr?connect_timeout=2",
                                   "shop' host=evil \\ x", &out, &err))
      << err;
  ASSERT_TRUE(parse_conninfo(out, &o, &err)) << err;
  EXPECT_EQ(o, (ConnOptions{{"connect_timeout", "2"},
                            {"dbname", "shop' host=evil \\ x"},
                            {"host", "db1"},
                            {"port", "5433"},
                            {"user", "repmgr"}}));
  ASSERT_TRUE(conninfo_with_dbname("host=db1 user=repmgr", "a=b", &out, &err));  // none before
  ASSERT_TRUE(parse_conninfo(out, &o, &err));
  EXPECT_EQ(o.at("dbname"), "a=b");
  EXPECT_FALSE(conninfo_with_dbname("host=a junk", "x", &out, &err));
}

}  // namespace
}  // namespace pgdeploy
