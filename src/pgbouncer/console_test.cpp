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

TEST(Console, AdminSocketsListsOneDirectoryPerProcessByCommaOrSpace) {
  std::vector<std::string> dirs;
  std::string err;
  ASSERT_TRUE(socket_dirs_of(" /run/pgbouncer-1, /run/pgbouncer-2/\n/run/my_dir\t", &dirs, &err)) << err;
  EXPECT_EQ(dirs, (std::vector<std::string>{"/run/pgbouncer-1", "/run/pgbouncer-2", "/run/my_dir"}));
  ASSERT_TRUE(socket_dirs_of("", &dirs, &err)) << err;
  EXPECT_TRUE(dirs.empty()) << "empty: admin_conninfo's one console";
  ASSERT_TRUE(socket_dirs_of(" , ", &dirs, &err)) << err;
  EXPECT_TRUE(dirs.empty());
}

TEST(Console, AdminSocketsThatCannotNameProcessesAreRefusedAndSaySo) {
  std::string many;
  for (size_t i = 0; i <= kMaxProcesses; ++i) many += "/run/p" + std::to_string(i) + " ";
  for (const auto& [value, why] :
       std::vector<std::pair<std::string, std::string>>{{"run/pgbouncer", "not an absolute directory"},
                                                        {"/run/a,~/b", "not an absolute directory"},
                                                        {"/run/../etc", "'.' or '..'"},
                                                        {"/run/./a", "'.' or '..'"},
                                                        {"/run/a,/run/a/", "named twice"},
                                                        {std::string("/run/a\x01b"), "control character"},
                                                        {"/" + std::string(91, 'x'), "too long"},
                                                        {many, "more than 64"}}) {
    std::vector<std::string> dirs{"kept"};
    std::string err;
    EXPECT_FALSE(socket_dirs_of(value, &dirs, &err)) << value;
    EXPECT_NE(err.find(why), std::string::npos) << value << ": " << err;
    EXPECT_EQ(err.rfind("admin_sockets: ", 0), 0u) << err;
    EXPECT_EQ(dirs, std::vector<std::string>{"kept"}) << "nothing taken from a refused value";
  }
  std::vector<std::string> dirs;
  std::string err;
  EXPECT_TRUE(socket_dirs_of("/" + std::string(90, 'x'), &dirs, &err)) << "fits with .s.PGSQL.65535";
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
