#include "cluster/servers.h"

#include <gtest/gtest.h>

namespace pgdeploy {
namespace {

AppServer row(int id, const std::string& name, const std::string& address,
              const std::string& application_name = "") {
  AppServer s;
  s.id = id;
  s.name = name;
  s.address = address;
  s.application_name = application_name;
  return s;
}

TEST(Servers, DistinctHostsAreDeployedInTableOrder) {
  ServerPlan p = plan_servers({row(1, "a", "h1"), row(2, "b", "h2"), row(3, "c", "")});
  ASSERT_EQ(p.deploy.size(), 3u);
  EXPECT_EQ(p.deploy[0].name, "a");
  EXPECT_EQ(p.deploy[2].name, "c");  // an empty ip_addr is deploy's to report
  EXPECT_TRUE(p.conflicts.empty());
  EXPECT_TRUE(p.warnings.empty());
}

TEST(Servers, IdenticalRowsForOneHostAreDeployedOnceWithAWarning) {
  ServerPlan p = plan_servers({row(1, "a", "h1"), row(2, "b", "h2"), row(5, "a-again", "h1")});
  ASSERT_EQ(p.deploy.size(), 2u);
  EXPECT_EQ(p.deploy[0].id, 1);
  EXPECT_EQ(p.deploy[1].id, 2);
  EXPECT_TRUE(p.conflicts.empty());
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_EQ(p.warnings[0],
            "app_servers rows id 1 (a) and id 5 (a-again) both name h1 with the "
            "same settings: deployed once");
}

TEST(Servers, ConflictingRowsForOneHostAreNotDeployedAtAll) {
  AppServer root = row(4, "d", "h1");
  root.user = "root";
  ServerPlan p = plan_servers({row(1, "a", "h1"), row(2, "b", "h2"), row(3, "c", "h1", "billing")});
  ASSERT_EQ(p.deploy.size(), 1u);
  EXPECT_EQ(p.deploy[0].id, 2);
  ASSERT_EQ(p.conflicts.size(), 2u);
  EXPECT_EQ(p.conflicts[0].server.id, 1);
  EXPECT_EQ(p.conflicts[0].error,
            "app_servers rows id 1 (a) and id 3 (c) both name h1 "
            "with different application_name: fix the table");
  EXPECT_EQ(p.conflicts[1].error,
            "app_servers rows id 3 (c) and id 1 (a) both name h1 "
            "with different application_name: fix the table");
  // One disagreeing row spoils the host for its identical twins too; the first column that
  // differs is named.
  p = plan_servers({row(1, "a", "h1"), row(2, "a2", "h1"), root});
  EXPECT_TRUE(p.deploy.empty());
  ASSERT_EQ(p.conflicts.size(), 3u);
  EXPECT_NE(p.conflicts[1].error.find("rows id 2 (a2) and id 4 (d) both name h1 with different "
                                      "username"),
            std::string::npos);
  EXPECT_TRUE(p.warnings.empty());
}

TEST(Servers, EachSettingCountsAndAnUnusableIdIsNamedSo) {
  AppServer a = row(1, "a", "h"), b = row(0, "b", "h");
  b.auth_trust = true;
  EXPECT_NE(plan_servers({a, b}).conflicts.at(0).error.find("different auth_trust"), std::string::npos);
  b.auth_trust = false;
  b.admin_conninfo = "host=/run port=6432";
  ServerPlan p = plan_servers({a, b});
  EXPECT_NE(p.conflicts.at(1).error.find("rows unusable id (b) and id 1 (a) both name h with "
                                         "different admin_conninfo"),
            std::string::npos);
  b.admin_conninfo = "";
  b.admin_sockets = "/run/p1,/run/p2";
  EXPECT_NE(plan_servers({a, b}).conflicts.at(0).error.find("different admin_sockets"), std::string::npos);
}

}  // namespace
}  // namespace pgdeploy
