#include "cli/options.h"

#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>

#include "deploy/event.h"

namespace pgdeploy {
namespace {

int parse(std::vector<const char*> args, Options* o, std::string* err_text = nullptr) {
  args.insert(args.begin(), "pgdeploy");
  std::ostringstream out, err;
  int code = parse_options(static_cast<int>(args.size()), args.data(), o, out, err);
  if (err_text) *err_text = err.str() + out.str();
  return code;
}

TEST(Options, SeedCommandLine) {
  Options o;
  ASSERT_EQ(parse({"-c", "main", "-p", "host=/tmp port=5433", "-t", "3", "-P"}, &o), -1);
  EXPECT_EQ(o.cluster, "main");
  EXPECT_EQ(o.conninfo, "host=/tmp port=5433");
  EXPECT_EQ(o.connect_timeout, 3);
  EXPECT_TRUE(o.public_net);
}

TEST(Options, Defaults) {
  Options o;
  ASSERT_EQ(parse({"--cluster", "main"}, &o), -1);
  EXPECT_EQ(o.conninfo, "host=/var/run/postgresql");
  EXPECT_EQ(o.connect_timeout, 1);
  EXPECT_FALSE(o.public_net);
  EXPECT_FALSE(o.events.empty());
  EXPECT_NE(o.lock_file.find(".pgdeploy-main.lock"), std::string::npos);
}

// With HOME unset or empty the lock (and the hook's socket beside it) goes to the home the passwd
// entry names, never to a directory every user can write such as /tmp.
TEST(Options, WithoutHomeTheLockIsInThePasswdHomeNotTmp) {
  const char* saved = std::getenv("HOME");
  std::string home = saved ? saved : "";
  const passwd* pw = getpwuid(geteuid());
  ASSERT_NE(pw, nullptr);
  for (bool empty : {false, true}) {
    if (empty) setenv("HOME", "", 1);
    else unsetenv("HOME");
    Options o;
    EXPECT_EQ(parse({"--cluster", "main"}, &o), -1);
    EXPECT_EQ(o.lock_file, std::string(pw->pw_dir) + "/.pgdeploy-main.lock") << "empty HOME: " << empty;
  }
  if (saved) setenv("HOME", home.c_str(), 1);
  else unsetenv("HOME");
}

TEST(Options, DefaultEventsArePromoteFailoverSwitchoverFollowAndRegister) {
  Options o;
  ASSERT_EQ(parse({"--cluster", "main"}, &o), -1);
  for (const char* e : {"standby_promote", "repmgrd_failover_promote", "standby_switchover", "standby_follow",
                        "repmgrd_failover_follow", "primary_register", "master_register"})
    EXPECT_EQ(skip_reason({e, "1"}, o.events), "") << e;
  EXPECT_NE(skip_reason({"repmgrd_start", "1"}, o.events), "");
}

TEST(Options, SessionsAreAutoUnlessCutOrDrainIsAsked) {
  Options o;
  ASSERT_EQ(parse({"-c", "main"}, &o), -1);
  EXPECT_EQ(o.sessions, Sessions::by_event);
  ASSERT_EQ(parse({"-c", "main", "--sessions", "drain"}, &o), -1);
  EXPECT_EQ(o.sessions, Sessions::drain);
  ASSERT_EQ(parse({"-c", "main", "--sessions", "cut"}, &o), -1);
  EXPECT_EQ(o.sessions, Sessions::cut);
  EXPECT_EQ(parse({"-c", "main", "--sessions", "sometimes"}, &o), kExitUsage);
}

TEST(Options, AuthModeAndRoutesDefaultToTheSeedsAndAreReadAsGiven) {
  Options o;
  ASSERT_EQ(parse({"-c", "main"}, &o), -1);
  EXPECT_EQ(o.auth, AuthMode::file);
  EXPECT_TRUE(o.routes.fallback_allowed()) << "every database, under its own name";
  ASSERT_EQ(parse({"-c", "main", "--auth", "query", "--databases", "app*,billing", "--exclude-databases",
                   "postgres", "--db-prefix", "c1_", "--db-suffix", ".ro"},
                  &o),
            -1);
  EXPECT_EQ(o.auth, AuthMode::query);
  EXPECT_EQ(o.routes.include, (std::vector<std::string>{"app*", "billing"}));
  EXPECT_EQ(o.routes.exclude, (std::vector<std::string>{"postgres"}));
  EXPECT_EQ(o.routes.prefix, "c1_");
  EXPECT_EQ(o.routes.suffix, ".ro");
  EXPECT_EQ(o.auth_lookup, "pgbouncer_auth.lookup(text)") << "the worked example's function";
  ASSERT_EQ(parse({"-c", "main", "--auth-lookup", ""}, &o), -1);
  EXPECT_EQ(o.auth_lookup, "") << "checks nothing";
  std::string err;
  EXPECT_EQ(parse({"-c", "main", "--auth", "scram"}, &o), kExitUsage);
  EXPECT_EQ(parse({"-c", "main", "--db-prefix", "c 1"}, &o, &err), kExitUsage);
  EXPECT_NE(err.find("invalid --db-prefix/--db-suffix 'c 1'"), std::string::npos) << err;
  EXPECT_EQ(parse({"check", "-c", "main", "--db-suffix", "="}, &o), kCheckUsage);
}

TEST(Options, ClusterIsRequired) {
  Options o;
  std::string err;
  EXPECT_EQ(parse({"-p", "dbname=x"}, &o, &err), kExitUsage);
  EXPECT_NE(err.find("cluster"), std::string::npos);
}

TEST(Options, RefusesClusterNamesThatAreNotSafeIdentifiers) {
  for (const char* bad : {"a;b", "../x", "a b", "x'y", "", "a/b", "é"}) {
    Options o;
    std::string err;
    EXPECT_EQ(parse({"-c", bad}, &o, &err), kExitUsage) << bad;
    EXPECT_NE(err.find("invalid cluster name"), std::string::npos) << bad;
  }
  EXPECT_TRUE(valid_cluster_name("prod-eu_1"));
  EXPECT_FALSE(valid_cluster_name(std::string(57, 'a')));
}

TEST(Options, HelpAndVersionExitZero) {
  Options o;
  std::string text;
  EXPECT_EQ(parse({"--help"}, &o, &text), kExitOk);
  EXPECT_NE(text.find("Exit codes"), std::string::npos);
  EXPECT_EQ(parse({"--version"}, &o, &text), kExitOk);
  EXPECT_NE(text.find("pgdeploy"), std::string::npos);
}

TEST(Options, RepmgrPlaceholders) {
  Options o;
  ASSERT_EQ(parse({"-c", "main", "--event", "standby_promote", "--node-id", "2", "--success", "1",
                   "--details", "node 2 promoted", "--events", "a,b"},
                  &o),
            -1);
  EXPECT_EQ(o.event, "standby_promote");
  EXPECT_EQ(o.node_id, 2);
  EXPECT_EQ(o.success, "1");
  EXPECT_EQ(o.events, (std::vector<std::string>{"a", "b"}));
}

TEST(Options, RejectsNonsenseNumbers) {
  Options o;
  EXPECT_EQ(parse({"-c", "main", "-t", "-1"}, &o), kExitUsage);
  EXPECT_EQ(parse({"-c", "main", "--parallel", "0"}, &o), kExitUsage);
}

TEST(Options, HostKeyCheckingRefusesUnknownKeysUnlessAcceptNew) {
  Options o;
  ASSERT_EQ(parse({"-c", "main"}, &o), -1);
  EXPECT_EQ(o.host_key_checking, "yes");
  Options a;
  ASSERT_EQ(parse({"-c", "main", "--strict-host-key-checking=accept-new"}, &a), -1);
  EXPECT_EQ(a.host_key_checking, "accept-new");
  Options y;
  ASSERT_EQ(parse({"-c", "main", "--strict-host-key-checking", "yes"}, &y), -1);
  EXPECT_EQ(y.host_key_checking, "yes");
  // The old flag still parses and means the default.
  Options old;
  ASSERT_EQ(parse({"-c", "main", "--strict-host-keys"}, &old), -1);
  EXPECT_EQ(old.host_key_checking, "yes");
  std::string err;
  Options bad;
  EXPECT_EQ(parse({"-c", "main", "--strict-host-key-checking", "no"}, &bad, &err), kExitUsage);
  EXPECT_NE(err.find("--strict-host-key-checking"), std::string::npos) << err;
  Options both;
  EXPECT_EQ(parse({"-c", "main", "--strict-host-keys", "--strict-host-key-checking=accept-new"}, &both, &err),
            kExitUsage);
  EXPECT_NE(err.find("--strict-host-keys contradicts --strict-host-key-checking=accept-new"),
            std::string::npos)
      << err;
}

TEST(Options, CheckTakesTheDeployOptionsAndItsThresholds) {
  Options o;
  ASSERT_EQ(parse({"check", "-c", "main", "-p", "dbname=x", "-w", "2", "--critical-unreachable", "5", "-v",
                   "--json", "--host-timeout", "3"},
                  &o),
            -1);
  EXPECT_EQ(o.command, Command::check);
  EXPECT_EQ(o.cluster, "main");
  EXPECT_EQ(o.conninfo, "dbname=x");
  EXPECT_EQ(o.warning_unreachable, 2);
  EXPECT_EQ(o.critical_unreachable, 5);
  EXPECT_TRUE(o.verbose && o.json);
  EXPECT_EQ(o.host_timeout, 3);
  Options after;
  ASSERT_EQ(parse({"-c", "main", "check"}, &after), -1);  // as the integration tests call it
  EXPECT_EQ(after.command, Command::check);
  EXPECT_EQ(after.warning_unreachable, 1);
  EXPECT_EQ(after.critical_unreachable, 0);
  Options deploy;
  ASSERT_EQ(parse({"-c", "main"}, &deploy), -1);
  EXPECT_EQ(deploy.command, Command::deploy);
}

TEST(Options, WatchIsItsOwnCommandWithItsInterval) {
  Options o;
  ASSERT_EQ(parse({"watch", "-c", "main", "--interval", "0.5"}, &o), -1);
  EXPECT_EQ(o.command, Command::watch);
  EXPECT_EQ(o.interval, 0.5);
  Options after;
  ASSERT_EQ(parse({"-c", "main", "watch"}, &after), -1);
  EXPECT_EQ(after.command, Command::watch);
  std::string err;
  EXPECT_EQ(parse({"watch", "-c", "main", "--dry-run"}, &o, &err), kExitUsage);
  EXPECT_NE(err.find("watch takes no --dry-run"), std::string::npos) << err;
}

TEST(Options, ACheckUsageErrorIsUnknownAsForAPlugin) {
  Options o;
  std::string err;
  EXPECT_EQ(parse({"check", "-c", "main", "-w", "many"}, &o, &err), kCheckUsage);
  EXPECT_EQ(parse({"check", "-p", "x"}, &o, &err), kCheckUsage);  // no cluster
  EXPECT_EQ(parse({"check", "-c", "main", "--dry-run"}, &o, &err), kCheckUsage);
  EXPECT_NE(err.find("read only already"), std::string::npos);
  EXPECT_EQ(parse({"-c", "main", "-w", "1"}, &o, &err), kExitUsage) << "a deploy has no thresholds";
}

}  // namespace
}  // namespace pgdeploy

namespace pgdeploy {
namespace {

TEST(Options, FenceStaleAndRequireMajority) {
  Options o;
  ASSERT_EQ(parse({"-c", "main"}, &o), -1);
  EXPECT_FALSE(o.fence_stale);
  EXPECT_FALSE(o.fence_stop);
  EXPECT_FALSE(o.require_majority);
  Options sessions;
  ASSERT_EQ(parse({"-c", "main", "--fence-stale", "--require-majority"}, &sessions), -1);
  EXPECT_TRUE(sessions.fence_stale);
  EXPECT_FALSE(sessions.fence_stop);
  EXPECT_TRUE(sessions.require_majority);
  Options stop;
  ASSERT_EQ(parse({"watch", "-c", "main", "--fence-stale=stop"}, &stop), -1);
  EXPECT_TRUE(stop.fence_stale);
  EXPECT_TRUE(stop.fence_stop);
  Options named;
  ASSERT_EQ(parse({"-c", "main", "--fence-stale=sessions"}, &named), -1);
  EXPECT_TRUE(named.fence_stale);
  EXPECT_FALSE(named.fence_stop);
  Options bad;
  std::string err;
  EXPECT_EQ(parse({"-c", "main", "--fence-stale=all"}, &bad, &err), kExitUsage);
  EXPECT_NE(err.find("--fence-stale"), std::string::npos) << err;
}

}  // namespace
}  // namespace pgdeploy
