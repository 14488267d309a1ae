#include "util/diff.h"

#include <gtest/gtest.h>

namespace pgdeploy {
namespace {

TEST(UnifiedDiff, EqualTextsHaveNone) { EXPECT_EQ(unified_diff("a\nb\n", "a\nb\n", "x", "y"), ""); }

TEST(UnifiedDiff, OneChangedLineWithItsContextAsDiffUPrintsIt) {
  std::string before = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
  std::string after = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
  EXPECT_EQ(unified_diff(before, after, "old", "new"),
            "--- old\n+++ new\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
}

TEST(UnifiedDiff, FarApartChangesAreTwoHunks) {
  std::string before, after;
  for (int i = 1; i <= 20; ++i) {
    before += std::to_string(i) + "\n";
    after += (i == 2 || i == 19 ? "x" : std::to_string(i)) + "\n";
  }
  std::string d = unified_diff(before, after, "a", "b", 1);
  EXPECT_EQ(d, "--- a\n+++ b\n@@ -1,3 +1,3 @@\n 1\n-2\n+x\n 3\n@@ -18,3 +18,3 @@\n 18\n-19\n+x\n 20\n");
}

TEST(UnifiedDiff, FromNothingAndWithoutAFinalNewline) {
  EXPECT_EQ(unified_diff("", "a\nb", "a", "b"),
            "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+a\n+b\n\\ No newline at end of file\n");
  EXPECT_EQ(unified_diff("a\nb\n", "a\n", "a", "b"), "--- a\n+++ b\n@@ -1,2 +1 @@\n a\n-b\n");
}

}  // namespace
}  // namespace pgdeploy
