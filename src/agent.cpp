#include "agent.h"

#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <optional>
#include <ostream>
#include <sstream>

#include "cluster/catalog.h"
#include "cluster/primary.h"
#include "cluster/servers.h"
#include "deploy/deployment.h"
#include "deploy/fingerprint.h"
#include "deploy/request.h"
#include "deploy/event.h"
#include "pg/conninfo.h"
#include "render/pgbouncer.h"
#include "render/token.h"
#include "report/check.h"
#include "report/report.h"
#include "util/file.h"
#include "util/handoff.h"
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

// Read and written without following a symlink (util/file): a link planted there is ignored with
// a warning, and replaced by the next record.
LastPush read_last_push(const std::string& path, std::vector<std::string>* warnings) {
  LastPush last;
  std::string text, why;
  if (!read_own_file(path, &text, &why)) {
    if (!why.empty()) warnings->push_back("record of the last push ignored: " + why);
    return last;
  }
  std::istringstream in(text);
  long when = 0;
  if (in >> when >> last.fingerprint) last.age = static_cast<long>(std::time(nullptr)) - when;
  if (!(in >> last.timeline)) last.timeline = 0;
  return last;
}

// What a one-shot's own timeouts allow it: the database and the catalog (2 x --probe-timeout),
// the other nodes' probes (--probe-timeout; the SSH logins overlap them), the push
// (--host-timeout). A hand-over to the watcher keeps this much of the deadline back.
double one_shot_seconds(const Options& opts) { return 3 * opts.probe_timeout + opts.host_timeout; }

int finish(const Options& opts, RunReport& report, std::ostream& out, std::ostream& err) {
  rusage self{};
  if (getrusage(RUSAGE_SELF, &self) == 0) {
    auto secs = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
    report.cpu_seconds = secs(self.ru_utime) + secs(self.ru_stime);
    report.max_rss_kb = self.ru_maxrss;
  }
  int code = exit_code(report);
  if (opts.json) out << format_json(report);
  else (code == kExitRefused || code == kExitHandedOver ? err : out) << format_text(report);
  return code;
}

}  // namespace

bool prove(const Options& opts, Database& db, const Deadline& run_deadline, RunReport* report, Proof* p,
           const std::function<void(const NodeProbe& self, const ClusterFacts& facts)>& meanwhile) {
  p->self_is_primary = false;
  auto refuse = [report](const std::string& why) {
    report->refusal = why;
    return false;
  };
  std::string why;
  Deadline db_deadline = Deadline::after(opts.probe_timeout * 2).min(run_deadline);
  p->database_failed = true;
  if (!db.connect(db_deadline, &why)) return refuse(why);
  ClusterFacts& facts = p->facts;
  if (!read_cluster_facts(db, opts.cluster, opts.public_net, db_deadline, &facts, &why))
    return refuse(why);
  if (facts.servers.empty())
    return refuse("no enabled app server in " + facts.schema + ".app_servers");
  if (facts.databases.empty()) return refuse("no database to route");
  // One server per host: rows that disagree about a host are reported failed, not deployed.
  p->plan = plan_servers(facts.servers);
  facts.servers = p->plan.deploy;
  facts.warnings.insert(facts.warnings.end(), p->plan.warnings.begin(), p->plan.warnings.end());
  if (facts.servers.empty())
    return refuse("no app server to deploy to: " + p->plan.conflicts.at(0).error);

  // Prove the primary: ask every node what it is, right now.
  NodeProbe self = db.probe_self_and_close(db_deadline);
  meanwhile(self, facts);
  p->database_failed = false;
  auto probes = db.probe_nodes(facts.nodes, Deadline::after(opts.probe_timeout).min(run_deadline));
  p->decision = decide_primary(facts.nodes, probes, self.instance, opts.force);
  const PrimaryDecision& decision = p->decision;
  report->seen = decision.seen;
  report->warnings.insert(report->warnings.begin(), facts.warnings.begin(), facts.warnings.end());
  report->warnings.insert(report->warnings.end(), decision.warnings.begin(), decision.warnings.end());
  if (!decision.ok) return refuse(decision.refusal);
  const Node& primary = *decision.primary;
  for (const NodeProbe& probe : probes)
    if (probe.node_id == primary.id && !self.instance.empty() && probe.instance == self.instance)
      p->self_is_primary = true;
  report->primary = primary.name + " (id " + std::to_string(primary.id) + ")";
  report->timeline = decision.timeline;

  std::string address = primary.conninfo;
  if (opts.public_net) {
    auto it = facts.public_conninfo.find(primary.id);
    if (it == facts.public_conninfo.end())
      return refuse("--public-net: node_public_info has no row for node " + report->primary);
    address = it->second;
  }
  if (!endpoint_of(address, &report->endpoint, &why))
    return refuse("cannot address the primary " + report->primary + ": " + why);
  if (!host_ok(report->endpoint.host))
    return refuse("the primary " + report->primary + "'s host cannot be written into PgBouncer's "
                  "configuration (white space, a quote or a control character in it)");

  // Render once, for every server.
  Token token{opts.cluster, primary.id, decision.timeline, decision.lsn};
  std::string pgpass = read_local_pgpass();
  p->files = render_all(facts, report->endpoint, token, pgpass);
  for (const auto& s : p->files.skipped)
    report->warnings.push_back(s + " cannot be written to PgBouncer's files: left out");
  if (pgpass.empty()) report->warnings.push_back("no local ~/.pgpass: none copied to app servers");
  return true;
}

DeployConfig deploy_config(const Options& opts) {
  DeployConfig config;
  config.cluster = opts.cluster;
  config.include_dir = opts.include_dir;
  config.userlist = opts.userlist;
  config.reload_command = opts.reload_command;
  config.force = opts.force;
  config.drain_sessions = opts.sessions == Sessions::drain ||
                          (opts.sessions == Sessions::by_event && opts.event == "standby_switchover");
  config.pause_wait_seconds = opts.pause_timeout;
  config.parallel = opts.parallel;
  config.host_timeout = opts.host_timeout;
  return config;
}

// Rows that disagree about a host: reported failed, never asked nor written.
void add_conflicts(const ServerPlan& plan, RunReport* report) {
  for (const auto& c : plan.conflicts) {
    ServerReport failed;
    failed.server = c.server;
    failed.error = "config: " + c.error;  // result: failed
    report->servers.push_back(failed);
  }
}

SshSettings ssh_settings(const Options& opts) {
  return {opts.connect_timeout, opts.host_key_checking == "accept-new", opts.known_hosts,
          opts.identities};
}

void remember_push(const std::string& path, const std::string& fingerprint, long timeline,
                   std::ostream& err) {
  std::string why;
  if (!replace_own_file(path, std::to_string(std::time(nullptr)) + ' ' + fingerprint + ' ' +
                                  std::to_string(timeline) + '\n', &why))
    err << "pgdeploy: warning: this push is not recorded (--recent will not see it): " << why << "\n";
}

namespace {

// The options that shape a check's facts: a watcher runs a check only when its own are these.
std::string check_identity(const Options& o) {
  std::ostringstream id;
  id << o.cluster << '\x1f' << o.conninfo << '\x1f' << o.public_net << '\x1f' << o.include_dir
     << '\x1f' << o.userlist << '\x1f' << o.force << '\x1f' << o.deadline << '\x1f'
     << o.host_timeout << '\x1f' << o.probe_timeout << '\x1f' << o.connect_timeout << '\x1f'
     << o.parallel << '\x1f' << o.host_key_checking << '\x1f' << o.known_hosts;
  for (const auto& i : o.identities) id << '\x1f' << i;
  return digest_of(id.str());
}

}  // namespace

std::string check_handoff_line(const Options& opts) {
  return std::to_string(opts.verbose) + " " + std::to_string(opts.warning_unreachable) + " " +
         std::to_string(opts.critical_unreachable) + " " + check_identity(opts);
}

bool check_options_from(const std::string& line, const Options& own, Options* check, std::string* why) {
  std::istringstream in(line);
  std::string identity;
  *check = own;
  if (!(in >> check->verbose >> check->warning_unreachable >> check->critical_unreachable >> identity)) {
    *why = "malformed check request";
    return false;
  }
  if (identity != check_identity(own)) {
    *why = "the check's options (cluster, connection, files, deadlines, SSH) differ from this watcher's";
    return false;
  }
  return true;
}

CheckReport check_cluster(const Options& opts, Database& db, const CheckAsker& asker,
                          const Deadline& run_deadline) {
  auto start = Clock::now();
  CheckReport check;
  check.run.cluster = opts.cluster;
  check.thresholds = {opts.warning_unreachable, opts.critical_unreachable};
  check.verbose = opts.verbose;
  DeployConfig config = deploy_config(opts);
  config.mode = PushRequest::Mode::check;
  Proof proof;
  bool proven = prove(opts, db, run_deadline, &check.run, &proof,
                      [&](const NodeProbe&, const ClusterFacts& facts) { asker.meet(facts.servers, run_deadline); });
  check.database_failed = !proven && proof.database_failed;
  if (proven) {
    check.run.servers = asker.ask(proof.facts.servers, proof.files, config, run_deadline);
    add_conflicts(proof.plan, &check.run);
    check.listed = proof.files.listed;
    for (const Node& n : proof.facts.nodes) {  // to name a node in the status line
      auto pub = proof.facts.public_conninfo.find(n.id);
      bool public_net = opts.public_net && pub != proof.facts.public_conninfo.end();
      Endpoint e;
      std::string why;
      if (endpoint_of(public_net ? pub->second : n.conninfo, &e, &why))
        check.node_names[e.host + ":" + std::to_string(e.port)] = n.name;
    }
  }
  check.timed_out = run_deadline.expired();
  check.run.seconds = seconds_since(start);
  return check;
}

namespace {

// pgdeploy check: run by this node's watcher over its warm sessions when one runs with the same
// options and answers at once; else the proof as a deploy makes it, then every server asked over
// a new login, read only. Takes no lock, here or there: a check never holds up a deploy.
int run_check(const Options& opts, Database& db, Remote& remote, std::ostream& out) {
  Deadline run_deadline = Deadline::after(opts.deadline);  // one for the whole check, either way
  std::string why;
  if (!private_directory(opts.lock_file, &why)) {  // whoever may write there may answer for the watcher
    out << "PGDEPLOY UNKNOWN - " << why << "\n";
    return kCheckUnknown;
  }
  std::string socket = handoff_socket(opts.lock_file);
  HookRequest by_watcher{HookRequest::Ask::check, opts.json, check_handoff_line(opts), 0};
  by_watcher.wait = handoff_wait(run_deadline.remaining_ms() / 1000.0, one_shot_seconds(opts));
  HookAnswer answer;
  if (!socket.empty() && by_watcher.wait > 0 &&
      hand_off(socket, by_watcher, run_deadline, &answer) == Handoff::answered) {
    out << answer.text;
    return answer.code;
  }
  std::optional<Deployment> asking;
  CheckAsker cold;
  // Read only, so the logins may start during the proof wherever the check runs.
  cold.meet = [&](const std::vector<AppServer>& servers, const Deadline& deadline) {
    asking.emplace(servers, opts.parallel, opts.host_timeout, remote, deadline);
  };
  cold.ask = [&](const std::vector<AppServer>&, const Rendered& files, const DeployConfig& config,
                 const Deadline&) { return asking->push(files, config); };
  CheckReport check = check_cluster(opts, db, cold, run_deadline);
  asking.reset();
  // What this node's watcher last saw, if one runs (the same facts as its metrics).
  HookRequest ask_watcher;
  ask_watcher.ask = HookRequest::Ask::status;
  HookAnswer watcher;
  if (!socket.empty() &&
      hand_off(socket, ask_watcher, Deadline::after(kHandoffAck), &watcher) == Handoff::answered)
    check.watcher = watcher.text;
  out << (opts.json ? format_check_json(check) : format_check_text(check));
  return check_status(check);
}

}  // namespace

int run_agent(const Options& opts, Database& db, Remote& remote, std::ostream& out,
              std::ostream& err) {
  if (opts.check) return run_check(opts, db, remote, out);
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

  // 2. A watcher on this node (pgdeploy watch) takes the event if it answers at once: its
  // sessions are warm. It gets what the deadline leaves once a whole one-shot's time is kept
  // back, so that the one-shot can still follow (util/handoff). Otherwise (none, hung, stopped,
  // not pushing, another user's listener, no time to share) the one-shot goes on here.
  if (!opts.event.empty() && !opts.dry_run && !opts.force) {
    std::string socket = handoff_socket(opts.lock_file);
    HookRequest event;
    event.json = opts.json;
    event.line = report.event;
    event.wait = handoff_wait(run_deadline.remaining_ms() / 1000.0, one_shot_seconds(opts));
    HookAnswer answer;
    std::string why;
    Handoff h = socket.empty() || event.wait <= 0 ? Handoff::declined
                                                  : hand_off(socket, event, run_deadline, &answer, &why);
    if (h == Handoff::answered) {
      (answer.to_stderr ? err : out) << answer.text;
      return answer.code;
    }
    if (!why.empty()) report.warnings.push_back(why);
    if (h == Handoff::unanswered) {
      char waited[16];
      std::snprintf(waited, sizeof waited, "%.1f", event.wait);
      report.handed_over = "this node's watcher took the event and gave no answer (it went away, or "
                           "took longer than the " + std::string(waited) + " s the hook gives it): it "
                           "may have pushed to some app servers, or to none; this run then tried the "
                           "one-shot itself";
      report.warnings.push_back("handed over to the watcher, no answer: " + report.handed_over);
    }
  }

  // 3. One run at a time on this node.
  FileLock lock;
  std::string why;
  if (!lock.acquire(opts.lock_file, run_deadline, &why)) return refuse(why);

  DeployConfig config = deploy_config(opts);
  std::string last_push_file = opts.lock_file + ".last";
  LastPush last = read_last_push(last_push_file, &report.warnings);
  bool recent = !opts.event.empty() && opts.recent > 0 && last.age >= 0 && last.age <= opts.recent;

  // 4-6. Cluster facts, the proof, the files. When this node is writable, log in to the app
  // servers while the other nodes are probed: after a failover the proof may wait out a dead
  // node's timeout, and the logins are most of the work. Not on a standby (no deploy is likely
  // from there while the primary is away), nor right after a push from here on this timeline (a
  // repeated event, likely nothing to do): there the logins would only cost the app servers CPU.
  // Nothing is sent before the proof.
  std::optional<Deployment> deployment;
  Proof proof;
  if (!prove(opts, db, run_deadline, &report, &proof, [&](const NodeProbe& self, const ClusterFacts& facts) {
        if (self.writable && !opts.dry_run && !(recent && last.timeline == self.timeline))
          deployment.emplace(facts.servers, config.parallel, config.host_timeout, remote, run_deadline);
      }))
    return refuse(report.refusal);
  const Rendered& files = proof.files;

  // A dry run asks every server, read only, what a deploy would change there.
  if (opts.dry_run) {
    config.mode = PushRequest::Mode::check;
    report.dry_run = true;
    report.servers = Deployment(proof.facts.servers, config.parallel, config.host_timeout, remote,
                                run_deadline).push(files, config);
    add_conflicts(proof.plan, &report);
    report.seconds = seconds_since(start);
    return finish(opts, report, out, err);
  }

  // 7. Push to every app server in parallel.
  std::string fingerprint = deploy_fingerprint(proof.facts.servers, files, config);
  if (recent && last.fingerprint == fingerprint) {
    report.skipped = "every app server got exactly this from this node " +
                     std::to_string(last.age) + " s ago: nothing to do";
    return finish(opts, report, out, err);
  }
  if (!deployment)
    deployment.emplace(proof.facts.servers, config.parallel, config.host_timeout, remote, run_deadline);
  report.servers = deployment->push(files, config);
  add_conflicts(proof.plan, &report);

  // 8. Report, and remember a push that reached every server.
  report.seconds = seconds_since(start);
  int code = finish(opts, report, out, err);
  if (code == kExitOk) remember_push(last_push_file, fingerprint, proof.decision.timeline, err);
  return code;
}

}  // namespace pgdeploy
