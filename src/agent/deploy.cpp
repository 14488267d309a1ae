#include "agent/deploy.h"

#include <sys/resource.h>

#include <cstdio>
#include <optional>
#include <ostream>

#include "agent/fence.h"
#include "agent/last_push.h"
#include "agent/newer.h"
#include "agent/proof.h"
#include "deploy/deployment.h"
#include "deploy/event.h"
#include "deploy/fingerprint.h"
#include "deploy/request.h"
#include "report/exit_codes.h"
#include "report/report.h"
#include "util/handoff.h"
#include "util/lock.h"

namespace pgdeploy {
namespace {

// Prints the report, with the run's CPU time and peak memory, and returns its exit code: JSON on
// `out`, or text (a refusal's, exit 1 or 4, on `err`).
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

// An app server's newer timeline (agent/newer) in the report, while a node is unseen: exit 5.
// --force writes over it.
void newer_truth(const Options& opts, const Proof& proof, RunReport* report) {
  NewerTruth seen;
  learn_truth(report->servers, &seen);
  if (!opts.force && newer_than(seen, proof.decision.timeline) && could_be_unseen(proof.probes))
    report->newer_truth = newer_truth_text(seen, proof.decision.timeline);
}

}  // namespace

int run_deploy(const Options& opts, Database& db, Remote& remote, std::ostream& out, std::ostream& err) {
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
      report.handed_over =
          "this node's watcher took the event and gave no answer (it went away, or "
          "took longer than the " +
          std::string(waited) +
          " s the hook gives it): it "
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
      })) {
    fence_stale(proof, opts.fence_stale && !opts.dry_run, opts.fence_stop, db,
                Deadline::after(opts.probe_timeout).min(run_deadline), &report);
    return refuse(report.refusal);
  }
  const Rendered& files = proof.files;

  // A dry run asks every server, read only, what a deploy would change there.
  if (opts.dry_run) {
    config.mode = PushRequest::Mode::check;
    report.dry_run = true;
    report.servers = Deployment(proof.facts.servers, config.parallel, config.host_timeout, remote,
                                run_deadline)
                         .push(files, config);
    add_conflicts(proof.plan, &report);
    newer_truth(opts, proof, &report);
    fence_stale(proof, false, false, db, run_deadline, &report);  // named only
    for (auto& w : check_auth_lookup(opts, proof, auth_lookup_databases(opts, proof), db,
                                     Deadline::after(opts.probe_timeout).min(run_deadline)))
      report.warnings.push_back(w);
    report.seconds = seconds_since(start);
    return finish(opts, report, out, err);
  }

  // 7. Push to every app server in parallel.
  std::string fingerprint = deploy_fingerprint(proof.facts.servers, files, config);
  if (recent && last.fingerprint == fingerprint) {
    report.skipped = "every app server got exactly this from this node " + std::to_string(last.age) +
                     " s ago: nothing to do";
    return finish(opts, report, out, err);
  }
  if (!deployment)
    deployment.emplace(proof.facts.servers, config.parallel, config.host_timeout, remote, run_deadline);
  report.servers = deployment->push(files, config);
  add_conflicts(proof.plan, &report);
  // A server that answered NEWER proves this proof stale: the run counts as not pushing. The
  // others were written in the same parallel round: a one-shot has no second round trip to ask
  // first (docs/fencing.md, "the remaining window").
  newer_truth(opts, proof, &report);
  // A stale primary the proof shows is named, and with --fence-stale fenced: after the push, which
  // is what repmgr waits for.
  fence_stale(proof, opts.fence_stale, opts.fence_stop, db,
              Deadline::after(opts.probe_timeout).min(run_deadline), &report);
  // With auth_query, the lookup function in every routed database: after the push and the fence.
  for (auto& w : check_auth_lookup(opts, proof, auth_lookup_databases(opts, proof), db,
                                   Deadline::after(opts.probe_timeout).min(run_deadline)))
    report.warnings.push_back(w);

  // 8. Report, and remember a push that reached every server.
  report.seconds = seconds_since(start);
  int code = finish(opts, report, out, err);
  if (code == kExitOk) remember_push(last_push_file, fingerprint, proof.decision.timeline, err);
  return code;
}

}  // namespace pgdeploy
