#include "pg/pg_database.h"

#include <gtest/gtest.h>

namespace pgdeploy {
namespace {

TEST(PgDatabase, WitnessesAreNotProbed) {
  PgDatabase db("host=/nonexistent");
  auto probes = db.probe_nodes({{9, "witness", "witness", true, "host=w"}}, Deadline::after(0.1));
  EXPECT_TRUE(probes.empty());
}

}  // namespace
}  // namespace pgdeploy
