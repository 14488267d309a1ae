#include "deploy/event.h"

#include <gtest/gtest.h>

namespace pgdeploy {
namespace {

const std::vector<std::string> kEvents = {"standby_promote", "repmgrd_failover_promote", "standby_switchover",
                                          "standby_follow", "repmgrd_failover_follow"};

TEST(Event, WithoutAnEventEveryCallDeploysAsTheOriginalDid) { EXPECT_EQ(skip_reason({"", ""}, kEvents), ""); }

TEST(Event, PromoteFailoverSwitchoverFollowDeploy) {
  for (const char* e : {"standby_promote", "repmgrd_failover_promote", "standby_switchover", "standby_follow",
                        "repmgrd_failover_follow"})
    EXPECT_EQ(skip_reason({e, "1"}, kEvents), "") << e;
}

TEST(Event, OthersAndFailuresDoNothing) {
  EXPECT_NE(skip_reason({"repmgrd_start", "1"}, kEvents), "");
  EXPECT_NE(skip_reason({"repmgrd_local_disconnect", "1"}, kEvents), "");
  std::string why = skip_reason({"standby_promote", "0"}, kEvents);
  EXPECT_NE(why.find("failed"), std::string::npos);
}

TEST(Event, ConfigurableList) {
  EXPECT_EQ(skip_reason({"repmgrd_start", "1"}, {"repmgrd_start"}), "");
  EXPECT_EQ(skip_reason({"anything", "1"}, {"all"}), "");
  EXPECT_NE(skip_reason({"standby_promote", "1"}, {"repmgrd_start"}), "");
}

}  // namespace
}  // namespace pgdeploy
