#include "cli/options.h"

#include <pwd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <ostream>

#include "cluster/catalog.h"

namespace pgdeploy {

const std::vector<std::string>& default_deploy_events() {
  static const std::vector<std::string> events = {
      "standby_promote", "repmgrd_failover_promote", "standby_switchover",
      "standby_follow",  "repmgrd_failover_follow",  "primary_register",
      "master_register",  // repmgr 3's name for primary_register
  };
  return events;
}

bool valid_cluster_name(const std::string& name) {
  // "repmgr_" + name must fit PostgreSQL's 63-byte identifiers.
  if (name.empty() || name.size() > 56) return false;
  for (unsigned char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return false;
  return true;
}

int parse_options(int argc, const char* const argv[], Options* o, std::ostream& out, std::ostream& err) {
  CLI::App app{
      "pgdeploy: points every application server's PgBouncer at the current primary of a repmgr "
      "cluster, and fences the old one off.\nRun by repmgr as its event_notification_command, "
      "or by hand at any time.",
      "pgdeploy"};
  app.footer(
      "Exit codes:\n"
      "  0  every enabled app server is up to date (or the event needs no deploy)\n"
      "  1  refused: database unreachable, no or several primaries, stale primary, no app\n"
      "     server, ...; nothing was written on any server\n"
      "  2  usage error\n"
      "  3  at least one app server failed (named in the output); all others were updated\n"
      "  4  handed over to this node's watcher, which gave no answer in time, and the one-shot\n"
      "     after it was refused: the watcher may have written to some app servers, or to none\n"
      "  5  an app server holds a newer truth (a config of a newer timeline): this run's proof is\n"
      "     stale; servers written in the same parallel round are named\n"
      "  6  otherwise as 0, but a stale primary was found writable and --fence-stale raised its\n"
      "     fence, or failed to (the report says which)\n"
      "pgdeploy check exits as a monitoring plugin: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN\n"
      "  (see pgdeploy check --help); pgdeploy watch: see pgdeploy watch --help\n"
      "repmgr.conf: event_notification_command='pgdeploy -c CLUSTER --event %e --node-id %n "
      "--success %s --details \"%d\"'");
  app.set_version_flag("--version", std::string("pgdeploy ") + PGDEPLOY_VERSION);
  app.add_option("-c,--cluster", o->cluster,
                 "repmgr cluster name; names the include file <include-dir>/<cluster>.ini")
      ->required();
  app.add_option("-p,--pgconnstring", o->conninfo,
                 "libpq connection string of the local database (PG* variables apply)")
      ->capture_default_str();
  app.add_option("-t,--timeout", o->connect_timeout, "SSH connect timeout, seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_flag("-P,--public-net", o->public_net,
               "address the primary as table node_public_info says, not as the catalog's conninfo");
  app.add_option("--host-timeout", o->host_timeout, "deadline for all work on one app server, seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--deadline", o->deadline, "hard deadline for the whole run, seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--probe-timeout", o->probe_timeout, "deadline for asking each node what it is, seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--parallel", o->parallel, "app servers worked on at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--reload-command", o->reload_command,
                 "shell command that reloads PgBouncer on the app server (default: PgBouncer's admin "
                 "console RELOAD where admin_conninfo is set, else 'service pgbouncer reload' as root "
                 "and 'sudo -n service pgbouncer reload' as anyone else)");
  app.add_option("--strict-host-key-checking", o->host_key_checking,
                 "yes: refuse app servers whose host key is not in known_hosts (as OpenSSH's "
                 "StrictHostKeyChecking=yes); accept-new: record an unknown key on first contact. "
                 "A changed or @revoked key is refused either way")
      ->capture_default_str()
      ->check(CLI::IsMember({"yes", "accept-new"}));
  bool strict_host_keys = false;
  app.add_flag("--strict-host-keys", strict_host_keys,
               "the same as --strict-host-key-checking=yes (the default), kept for scripts");
  app.add_option("--known-hosts", o->known_hosts, "known_hosts file (default ~/.ssh/known_hosts)");
  app.add_option("-i,--identity", o->identities,
                 "private key file to authenticate with (default ~/.ssh/id_{ed25519,ecdsa,rsa}, "
                 "then ssh-agent and ~/.ssh/config IdentityFile)");
  app.add_option("--include-dir", o->include_dir, "directory of the include file on app servers")
      ->capture_default_str();
  app.add_option("--userlist", o->userlist, "PgBouncer auth_file on app servers")->capture_default_str();
  std::string auth = "file";
  app.add_option("--auth", auth,
                 "what PgBouncer's auth_file gets (an app_servers row's auth_mode wins): file (every "
                 "role that may log in, with its secret), query (nothing: PgBouncer's auth_query looks "
                 "secrets up; userlist.txt is the operator's), none (nothing)")
      ->capture_default_str()
      ->check(CLI::IsMember({"file", "query", "none"}));
  app.add_option("--auth-lookup", o->auth_lookup,
                 "with auth mode query, the function auth_query calls, as schema.name(argument "
                 "types): after the push, each routed database on the primary that lacks it is named "
                 "in a warning (\"\": not checked)")
      ->capture_default_str();
  app.add_option("--databases", o->routes.include,
                 "route only the databases matching these shell patterns, comma-separated (default: "
                 "every database)")
      ->delimiter(',');
  app.add_option("--exclude-databases", o->routes.exclude,
                 "do not route the databases matching these shell patterns, comma-separated (wins "
                 "over --databases)")
      ->delimiter(',');
  app.add_option("--db-prefix", o->routes.prefix,
                 "put this before each name PgBouncer shows (clients connect to <prefix><db>; the "
                 "server's database keeps its name)");
  app.add_option("--db-suffix", o->routes.suffix, "put this after each name PgBouncer shows");
  app.add_option("--lock-file", o->lock_file,
                 "local lock serialising runs, and the watcher's socket <lock-file>.sock (default "
                 "~/.pgdeploy-<cluster>.lock; without HOME, the passwd entry's home). Its directory "
                 "must be writable by no one but its owner, this user or root");
  app.add_flag("--force", o->force,
               "deploy the catalog's primary even when the proof disagrees, and over newer "
               "configs: for a human who knows better");
  std::string fence;
  CLI::Option* fence_stale =
      app.add_option("--fence-stale", fence,
                     "raise the fence of a proven stale primary (a node writable on an older timeline than "
                     "another node answers with): default_transaction_read_only on (ALTER SYSTEM, reload) "
                     "and its client sessions ended, not repmgr's nor replication's; =stop: then its "
                     "postmaster is stopped too (fast shutdown). Never the proven primary. Off by default "
                     "(docs/fencing.md)")
          ->expected(0, 1)
          ->check(CLI::IsMember({"sessions", "stop"}));
  app.add_flag("--require-majority", o->require_majority,
               "call no node primary unless more than half of repmgr's catalog nodes answer (a "
               "witness counts): a two-node cluster with one node down then cannot fail over");
  std::string sessions = "auto";
  app.add_option("--sessions", sessions,
                 "what happens to sessions on the old primary where admin_conninfo is set: cut "
                 "(KILL, RESUME), drain (PAUSE up to --pause-timeout, then cut what is left), or auto "
                 "(drain on standby_switchover, cut otherwise)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "cut", "drain"}));
  app.add_option("--pause-timeout", o->pause_timeout, "how long a drain may wait, seconds")
      ->capture_default_str()
      ->check(CLI::Range(1, 60));
  app.add_flag("--dry-run", o->dry_run,
               "prove the primary, ask every app server read only and show what a deploy would "
               "change there (a diff of the include file, the names of users added, removed or "
               "changed); write nothing");
  app.add_flag("--json", o->json,
               "print the report as JSON (one document; every value as it is, where the text "
               "report escapes control characters as \\xHH)");
  app.add_option("--event", o->event, "repmgr event (%e); without it every call deploys");
  app.add_option("--node-id", o->node_id, "node the event happened on (%n)");
  app.add_option("--success", o->success, "whether the event succeeded (%s: 1 or 0)");
  app.add_option("--details", o->details, "event details (%d), logged");
  app.add_option("--events", o->events, "events that warrant a deploy, comma-separated, or 'all'")
      ->delimiter(',')
      ->default_str("standby_promote,repmgrd_failover_promote,standby_switchover,...");
  app.add_option("--recent", o->recent,
                 "with --event: do nothing when a run on this node pushed exactly the same to every "
                 "app server within this many seconds (repmgr fires several events per failover); 0 = "
                 "always push")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  CLI::App* check = app.add_subcommand(
      "check",
      "prove the primary as a deploy does, then ask every enabled app server, read only (no "
      "lock, no write, no reload), where its PgBouncer routes and whether its files are current");
  check->fallthrough();  // every option above works after "check" too
  check->footer(
      "Exit codes (monitoring-plugin conventions):\n"
      "  0  OK: every app server routes to the proven primary, its files current\n"
      "  1  WARNING: files stale or a reload pending, routes right; or app servers unreachable "
      "(at least --warning-unreachable); a stale primary, fenced\n"
      "  2  CRITICAL: a PgBouncer routes or holds server connections to another node; the "
      "primary cannot be proven (none, two); unreachable app servers at least "
      "--critical-unreachable; a stale primary accepts writes; an app server holds a newer "
      "timeline than the proof\n"
      "  3  UNKNOWN: usage error, the database cannot be read (or names no app server or no "
      "database), the check's --deadline passed, the lock file's directory is writable by others");
  check
      ->add_option("-w,--warning-unreachable", o->warning_unreachable,
                   "WARNING when at least this many app servers cannot be asked")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  check
      ->add_option("--critical-unreachable", o->critical_unreachable,
                   "CRITICAL when at least this many app servers cannot be asked; 0 = only when "
                   "none can")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  check->add_flag("-v,--verbose", o->verbose, "a line for every app server, and for every node");
  CLI::App* watch = app.add_subcommand(
      "watch",
      "run until stopped: every --interval prove the primary as a deploy does and, on the proven "
      "primary, converge every enabled app server over warm SSH sessions (only what differs is "
      "written, only a change reloads; a change of the database users alone reaches a server at "
      "most once per max(--interval, 10 s))");
  watch->fallthrough();
  watch->footer(
      "Exit codes:\n"
      "  0  stopped by SIGTERM or SIGINT (after the round under way)\n"
      "  1  cannot start: another watcher of this cluster runs on this node, the lock file's "
      "directory is writable by others, or --metrics-listen cannot be bound\n"
      "  2  usage error\n"
      "Signals: SIGHUP re-reads the SSH keys and known_hosts files and makes every session again.");
  watch->add_option("--interval", o->interval, "seconds between rounds")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  watch->add_option("--metrics-listen", o->metrics_listen,
                    "serve Prometheus metrics at http://HOST:PORT/metrics (e.g. 127.0.0.1:9187)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e, out, err);
    bool checking = check->parsed() || (argc > 1 && std::string(argv[1]) == "check");
    return code == 0 ? kExitOk : checking ? kCheckUsage : kExitUsage;
  }
  o->command = check->parsed() ? Command::check : watch->parsed() ? Command::watch : Command::deploy;
  if (o->command == Command::watch && (o->dry_run || o->force || o->json || !o->event.empty())) {
    err << "pgdeploy: watch takes no --dry-run, --force, --json or --event: use a one-shot run\n";
    return kExitUsage;
  }
  o->fence_stale = fence_stale->count() > 0;  // without a value: sessions
  o->fence_stop = fence == "stop";
  o->sessions = sessions == "cut"     ? Sessions::cut
                : sessions == "drain" ? Sessions::drain
                                      : Sessions::by_event;
  if (o->command == Command::check && o->dry_run) {
    err << "pgdeploy: check is read only already: --dry-run is for a deploy\n";
    return kCheckUsage;
  }
  int usage = o->command == Command::check ? kCheckUsage : kExitUsage;
  if (strict_host_keys && o->host_key_checking != "yes") {
    err << "pgdeploy: --strict-host-keys contradicts --strict-host-key-checking=" << o->host_key_checking
        << "\n";
    return usage;
  }
  if (!valid_cluster_name(o->cluster)) {
    err << "pgdeploy: invalid cluster name '" << o->cluster
        << "': use up to 56 letters, digits, '_' or '-'\n";
    return usage;
  }
  for (const std::string* affix : {&o->routes.prefix, &o->routes.suffix})
    if (!route_affix_ok(*affix)) {
      err << "pgdeploy: invalid --db-prefix/--db-suffix '" << *affix
          << "': use up to 62 letters, digits, '_', '.' or '-'\n";
      return usage;
    }
  o->auth = *auth_mode_of(auth);
  if (o->events.empty()) o->events = default_deploy_events();
  if (o->lock_file.empty()) {
    // Never a shared directory such as /tmp: without HOME, the home the passwd entry names.
    const char* home = std::getenv("HOME");
    const passwd* pw = home && *home ? nullptr : getpwuid(geteuid());
    if (pw) home = pw->pw_dir;
    if (!home || !*home) {
      err << "pgdeploy: HOME is not set and user " << geteuid()
          << " has no home directory in the passwd database: give --lock-file\n";
      return usage;
    }
    o->lock_file = std::string(home) + "/.pgdeploy-" + o->cluster + ".lock";
  }
  return -1;
}

}  // namespace pgdeploy
