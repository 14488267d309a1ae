// The promotion poll between rounds (watch/promotion), on a clock the test moves: rounds at once
// for kHurryFor after this node became writable, then one per interval again (a stale primary);
// a node that is asked nothing once its watcher pushes; a database that cannot be asked changes
// nothing.
#include "watch/promotion.h"

#include <gtest/gtest.h>

#include "testing/fake_database.h"

namespace pgdeploy {
namespace {

struct PromotionTest : ::testing::Test {
  PromotionTest() {
    db.on_self_writable = [this](bool* w, std::string* err) {
      ++asked;
      if (down) *err = "server closed the connection unexpectedly";
      *w = writable;
      return !down;
    };
  }
  FakeDatabase db;
  bool writable = false, down = false, accepting = false;
  int asked = 0;
  std::vector<std::string> said;
  Clock::time_point now = Clock::time_point{} + std::chrono::hours(1);
  Promotion promotion{db, [this](bool yes) { accepting = yes; },
                      [this](const std::string& l) { said.push_back(l); }, [this] { return now; }};
};

TEST_F(PromotionTest, AWritableNodeHurriesForItsWindowThenGoesBackToOneRoundPerInterval) {
  EXPECT_FALSE(promotion.hurry());
  EXPECT_EQ(promotion.pause(), kPromotionPoll);
  EXPECT_FALSE(accepting);
  writable = true;
  EXPECT_TRUE(promotion.hurry());
  EXPECT_TRUE(accepting) << "a hook's event is taken from the moment the node is writable";
  EXPECT_EQ(promotion.pause(), kHurryPace);
  ASSERT_EQ(said.size(), 1u);
  now += std::chrono::milliseconds(static_cast<int>(kHurryFor * 1000) - 1);
  EXPECT_TRUE(promotion.hurry());
  now += std::chrono::milliseconds(2);
  EXPECT_FALSE(promotion.hurry()) << "still unproven after the window: a stale primary";
  EXPECT_EQ(promotion.pause(), kPromotionPoll);
  EXPECT_TRUE(promotion.round_ended(false)) << "it still takes hooks: it is writable";
  EXPECT_EQ(said.size(), 1u) << "said once";
}

TEST_F(PromotionTest, ANodeThatGoesBackToRecoveryStopsTakingHooks) {
  writable = true;
  EXPECT_TRUE(promotion.hurry());
  writable = false;
  EXPECT_FALSE(promotion.hurry());
  EXPECT_FALSE(accepting);
  EXPECT_FALSE(promotion.round_ended(false));
}

TEST_F(PromotionTest, OnceItsWatcherPushesTheDatabaseIsAskedNothing) {
  EXPECT_TRUE(promotion.round_ended(true));
  EXPECT_FALSE(promotion.hurry());
  EXPECT_EQ(asked, 0);
  EXPECT_EQ(promotion.pause(), kPromotionPoll);
}

TEST_F(PromotionTest, ADatabaseThatCannotBeAskedChangesNothing) {
  writable = true;
  EXPECT_TRUE(promotion.hurry());
  down = true;
  EXPECT_TRUE(promotion.hurrying()) << "the window goes on";
  EXPECT_FALSE(promotion.hurry());
  EXPECT_TRUE(accepting);
  down = false;
  EXPECT_TRUE(promotion.hurry());
  EXPECT_EQ(said.size(), 1u);
}

}  // namespace
}  // namespace pgdeploy
