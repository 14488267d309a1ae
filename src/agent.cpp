#include "agent.h"

#include <sys/resource.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <optional>
#include <ostream>
#include <sstream>

#include "cluster/catalog.h"
#include "cluster/primary.h"
#include "cluster/probe.h"
#include "deploy/deploy.h"
#include "deploy/event.h"
#include "remote/ssh.h"
#include "render/pgbouncer.h"
#include "report/report.h"
#include "util/lock.h"

namespace pgdeploy {
namespace {

// The running user's ~/.pgpass (or $PGPASSFILE), as libpq would find it; "" if there is none.
std::string read_local_pgpass() {
  const char* env = std::getenv("PGPASSFILE");
  const char* home = std::getenv("HOME");
  std::string path = env ? env : std::string(home ? home : "") + "/.pgpass";
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return in ? text.str() : "";
}

// The last fully successful push from this node: "<unix time> <fingerprint> <timeline>".
struct LastPush {
  long age = -1;  // seconds
  std::string fingerprint;
  long timeline = 0;
};

LastPush read_last_push(const std::string& path) {
  std::ifstream in(path);
  long when = 0;
  LastPush last;
  if (in >> when >> last.fingerprint) last.age = static_cast<long>(std::time(nullptr)) - when;
  if (!(in >> last.timeline)) last.timeline = 0;
  return last;
}

void remember_push(const std::string& path, const std::string& fingerprint, long timeline) {
  std::ofstream(path, std::ios::trunc) << std::time(nullptr) << ' ' << fingerprint << ' '
                                       << timeline << '\n';
}

int finish(const Options& opts, RunReport& report, std::ostream& out, std::ostream& err) {
  rusage self{};
  if (getrusage(RUSAGE_SELF, &self) == 0) {
    auto secs = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
    report.cpu_seconds = secs(self.ru_utime) + secs(self.ru_stime);
    report.max_rss_kb = self.ru_maxrss;
  }
  int code = exit_code(report);
  if (opts.json) out << format_json(report);
  else (code == kExitRefused ? err : out) << format_text(report);
  return code;
}

}  // namespace

int run_agent(const Options& opts, std::ostream& out, std::ostream& err) {
  auto start = Clock::now();
  Deadline run_deadline = Deadline::after(opts.deadline);
  RunReport report;
  report.cluster = opts.cluster;
  auto refuse = [&](const std::string& why) {
    report.refusal = why;
    report.seconds = seconds_since(start);
    return finish(opts, report, out, err);
  };

  if (!opts.event.empty())
    report.event = opts.event + (opts.node_id ? " on node " + std::to_string(opts.node_id) : "") +
                   (opts.details.empty() ? "" : ": " + opts.details);

  // 1. Does this event warrant a deploy at all? Answer at once: repmgr is waiting.
  report.skipped = skip_reason({opts.event, opts.success}, opts.events);
  if (!report.skipped.empty()) return finish(opts, report, out, err);

  // 2. One run at a time on this node.
  FileLock lock;
  std::string why;
  if (!lock.acquire(opts.lock_file, run_deadline, &why)) return refuse(why);

  // 3. Cluster facts from the local database.
  Deadline db_deadline = Deadline::after(opts.probe_timeout * 2).min(run_deadline);
  auto local = PgConn::connect(opts.conninfo, db_deadline, &why);
  if (!local) return refuse("cannot connect to the database (" + opts.conninfo + "): " + why);
  ClusterFacts facts;
  if (!read_cluster_facts(*local, opts.cluster, opts.public_net, db_deadline, &facts, &why))
    return refuse(why);
  if (facts.servers.empty())
    return refuse("no enabled app server in " + facts.schema + ".app_servers");
  if (facts.databases.empty()) return refuse("no database to route");

  DeployConfig config;
  config.cluster = opts.cluster;
  config.include_dir = opts.include_dir;
  config.userlist = opts.userlist;
  config.reload_command = opts.reload_command;
  config.force = opts.force;
  config.drain_sessions = opts.sessions == "drain" ||
                          (opts.sessions == "auto" && opts.event == "standby_switchover");
  config.pause_wait_seconds = opts.pause_timeout;
  config.parallel = opts.parallel;
  config.host_timeout = opts.host_timeout;
  std::string last_push_file = opts.lock_file + ".last";
  LastPush last = read_last_push(last_push_file);
  bool recent = !opts.event.empty() && opts.recent > 0 && last.age >= 0 && last.age <= opts.recent;

  // 4. Prove the primary: ask every node what it is, right now. When this node is writable, log in
  // to the app servers meanwhile: after a failover the proof may wait out a dead node's timeout,
  // and the logins are most of the work. Not on a standby (no deploy is likely from there while
  // the primary is away), nor right after a push from here on this timeline (a repeated event,
  // likely nothing to do): there the logins would only cost the app servers CPU. Nothing is sent
  // before the proof.
  NodeProbe self = probe_connection(*local, db_deadline);
  local.reset();
  SshRemote remote({opts.connect_timeout, opts.strict_host_keys, opts.known_hosts, opts.identities});
  std::optional<Deployment> deployment;
  if (self.writable && !opts.dry_run && !(recent && last.timeline == self.timeline))
    deployment.emplace(facts.servers, config.parallel, config.host_timeout, remote, run_deadline);
  auto probes = probe_nodes(facts.nodes, Deadline::after(opts.probe_timeout).min(run_deadline));
  PrimaryDecision decision = decide_primary(facts.nodes, probes, self.instance, opts.force);
  report.seen = decision.seen;
  report.warnings = decision.warnings;
  if (!decision.ok) return refuse(decision.refusal);
  const Node& primary = *decision.primary;
  report.primary = primary.name + " (id " + std::to_string(primary.id) + ")";
  report.timeline = decision.timeline;

  std::string address = primary.conninfo;
  if (opts.public_net) {
    auto it = facts.public_conninfo.find(primary.id);
    if (it == facts.public_conninfo.end())
      return refuse("--public-net: node_public_info has no row for node " + report.primary);
    address = it->second;
  }
  if (!endpoint_of(address, &report.endpoint, &why))
    return refuse("cannot address the primary " + report.primary + ": " + why);
  if (!host_ok(report.endpoint.host))
    return refuse("the primary " + report.primary + "'s host cannot be written into PgBouncer's "
                  "configuration (white space, a quote or a control character in it)");

  // 5. Render once, for every server.
  Token token{opts.cluster, primary.id, decision.timeline, decision.lsn};
  std::string pgpass = read_local_pgpass();
  Rendered files = render_all(facts, report.endpoint, token, pgpass);
  for (const auto& s : files.skipped)
    report.warnings.push_back(s + " cannot be written to PgBouncer's files: left out");
  if (pgpass.empty()) report.warnings.push_back("no local ~/.pgpass: none copied to app servers");
  if (opts.dry_run) {
    for (const auto& [app, text] : files.includes)
      out << "# " << opts.include_dir << "/" << opts.cluster << ".ini"
          << (app.empty() ? "" : " (application_name " + app + ")") << "\n" << text.content;
    out << "# " << opts.userlist << ": " << facts.users.size() << " users (secrets not shown)\n";
    report.seconds = seconds_since(start);
    return finish(opts, report, out, err);
  }

  // 6. Push to every app server in parallel.
  std::string fingerprint = deploy_fingerprint(facts.servers, files, config);
  if (recent && last.fingerprint == fingerprint) {
    report.skipped = "every app server got exactly this from this node " +
                     std::to_string(last.age) + " s ago: nothing to do";
    return finish(opts, report, out, err);
  }
  if (!deployment)
    deployment.emplace(facts.servers, config.parallel, config.host_timeout, remote, run_deadline);
  report.servers = deployment->push(files, config);

  // 7. Report, and remember a push that reached every server.
  report.seconds = seconds_since(start);
  int code = finish(opts, report, out, err);
  if (code == kExitOk) remember_push(last_push_file, fingerprint, decision.timeline);
  return code;
}

}  // namespace pgdeploy
