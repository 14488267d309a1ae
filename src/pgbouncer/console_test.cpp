#include "pgbouncer/console.h"

#include <gtest/gtest.h>

#include "pg/conninfo.h"

namespace pgdeploy {
namespace {

// admin_conninfo as the request is built from it: parsed by libpq, judged here.
bool socket_login_of(const std::string& conninfo, SocketLogin* out) {
  ConnOptions options;
  std::string err;
  return parse_conninfo(conninfo, &options, &err) && socket_login_of(options, out);
}

TEST(Console, AnAdminConsoleOnASocketWithNothingElseNeedsNoPsql) {
  SocketLogin s;
  ASSERT_TRUE(socket_login_of("host=/run/postgresql port=6432 dbname=pgbouncer user=pgbouncer", &s));
  EXPECT_EQ(s.path, "/run/postgresql/.s.PGSQL.6432");
  EXPECT_EQ(s.user, "pgbouncer");
  EXPECT_EQ(s.dbname, "pgbouncer");
  ASSERT_TRUE(socket_login_of("host='/run/my dir' port=6432 dbname=pgbouncer user='o\\'k'", &s));
  EXPECT_EQ(s.path, "/run/my dir/.s.PGSQL.6432");
  EXPECT_EQ(s.user, "o'k");
  // Anything more, or less, is psql's: a password, TLS, TCP, defaults from the environment.
  for (const char* c : {"host=/run/postgresql port=6432 dbname=pgbouncer user=pgbouncer password=x",
                        "host=/run/postgresql port=6432 dbname=pgbouncer",
                        "host=/run/postgresql dbname=pgbouncer user=pgbouncer",
                        "host=127.0.0.1 port=6432 dbname=pgbouncer user=pgbouncer",
                        "host=/a,/b port=6432 dbname=pgbouncer user=pgbouncer",
                        "host=/run port=64x2 dbname=pgbouncer user=pgbouncer",
                        "host=/run port=6432 dbname=pgbouncer user='a\tb'", "not a conninfo"})
    EXPECT_FALSE(socket_login_of(c, &s)) << c;
  EXPECT_FALSE(socket_login_of("host=/" + std::string(120, 'x') + " port=6432 dbname=d user=u", &s));
}

TEST(Console, TheReloadDefaultsToTheConsoleElseServiceBySudoUnlessRoot) {
  EXPECT_EQ(default_reload_command("postgres", false), "sudo -n service pgbouncer reload");
  EXPECT_EQ(default_reload_command("root", false), "service pgbouncer reload");
  EXPECT_EQ(default_reload_command("postgres", true), "");
}

TEST(Console, APauseLeavesHalfTheHostsTimeAndLastsASecondAtLeast) {
  EXPECT_EQ(pause_seconds(2, 5.0), 2);
  EXPECT_EQ(pause_seconds(10, 5.0), 2);
  EXPECT_EQ(pause_seconds(3, 1.0), 1);
}

}  // namespace
}  // namespace pgdeploy
