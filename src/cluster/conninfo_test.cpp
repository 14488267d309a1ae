#include "cluster/conninfo.h"

#include <gtest/gtest.h>

namespace pgdeploy {
namespace {

TEST(Conninfo, KeepsOnlyTheAddressOfRepmgrsConninfo) {
  Endpoint e;
  std::string err;
  ASSERT_TRUE(endpoint_of("host=db1.example port=5433 user=repmgr dbname=repmgr connect_timeout=2",
                          &e, &err)) << err;
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

}  // namespace
}  // namespace pgdeploy
