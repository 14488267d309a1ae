#include "cluster/catalog.h"

#include <gtest/gtest.h>

namespace pgdeploy {
namespace {

TEST(Catalog, ParseIdTakesWholeIntsOnly) {
  EXPECT_EQ(parse_id(std::string("3")), 3);
  EXPECT_EQ(parse_id(std::string("-7")), -7);
  EXPECT_EQ(parse_id(std::string("2147483647")), 2147483647);
  // NULL, a bigint beyond int, text that is no number: never an exception (std::stoi aborted).
  EXPECT_EQ(parse_id(std::nullopt), std::nullopt);
  for (const char* bad :
       {"2147483648", "99999999999999999999", "-2147483649", "", "abc", "3x", " 3", "3 ", "+3", "3.0"})
    EXPECT_EQ(parse_id(std::string(bad)), std::nullopt) << bad;
}

TEST(Catalog, RowLabelNamesTheIdAsItIs) {
  EXPECT_EQ(row_label("id", std::string("3"), "app1"), "id 3 (app1)");
  EXPECT_EQ(row_label("node_id", std::nullopt, "node3"), "node_id NULL (node3)");
  EXPECT_EQ(row_label("id", std::string("99999999999"), "x"), "id '99999999999' (x)");
}

}  // namespace
}  // namespace pgdeploy
