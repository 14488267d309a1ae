// The line on which a check is handed to this node's watcher (check_handoff_line /
// check_options_from). The check itself, over real SSH and PgBouncer: tests/integration/test_check.py.
#include "agent/check.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

namespace pgdeploy {
namespace {

TEST(CheckHandoff, AWatcherTakesACheckOnlyWithItsOwnFactShapingOptions) {
  Options watcher;
  watcher.cluster = "main";
  watcher.interval = 5;
  Options check = watcher;
  check.verbose = true;
  check.warning_unreachable = 2;
  check.critical_unreachable = 3;
  check.json = true;
  Options taken;
  std::string why;
  ASSERT_TRUE(check_options_from(check_handoff_line(check), watcher, &taken, &why)) << why;
  EXPECT_TRUE(taken.verbose);
  EXPECT_EQ(taken.warning_unreachable, 2);
  EXPECT_EQ(taken.critical_unreachable, 3);
  EXPECT_EQ(taken.interval, 5) << "the rest is the watcher's own";
  for (auto change : std::vector<std::function<void(Options&)>>{
           [](Options& o) { o.cluster = "other"; }, [](Options& o) { o.conninfo = "host=elsewhere"; },
           [](Options& o) { o.include_dir = "/tmp"; }, [](Options& o) { o.host_timeout = 1; },
           [](Options& o) { o.deadline = 2; }, [](Options& o) { o.public_net = true; },
           [](Options& o) { o.identities = {"/root/key"}; }}) {
    Options other = check;
    change(other);
    EXPECT_FALSE(check_options_from(check_handoff_line(other), watcher, &taken, &why));
    EXPECT_NE(why.find("differ from this watcher's"), std::string::npos) << why;
  }
  EXPECT_FALSE(check_options_from("garbage", watcher, &taken, &why));
}

}  // namespace
}  // namespace pgdeploy
