#include "watch/round.h"

#include <dirent.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <ostream>

#include "agent/check.h"
#include "agent/fence.h"
#include "agent/last_push.h"
#include "agent/proof.h"
#include "deploy/fingerprint.h"
#include "util/lock.h"
#include "util/text.h"

namespace pgdeploy {
namespace {

// A warm session is a descriptor: a watcher started from a shell (a soft limit of 1024 on Debian)
// takes its hard limit, up to 65536. Nothing here uses select(), so a descriptor past 1024 is
// safe. Returns the soft limit now in force (0: unknown).
rlim_t raise_descriptor_limit() {
  rlimit l{};
  if (getrlimit(RLIMIT_NOFILE, &l) != 0) return 0;
  rlim_t want = std::min<rlim_t>(l.rlim_max, 65536);
  if (l.rlim_cur < want) {
    rlimit raised{want, l.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) l.rlim_cur = want;
  }
  return l.rlim_cur;
}

// Descriptors open in this process (-1: unknown), as /proc/self/fd lists them, less the one
// that reads the list.
long open_descriptors() {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  long n = 0;
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n - 1;
}

}  // namespace

Watcher::Watcher(const Options& opts, Database& db, MakeRemote make_remote, std::function<void()> wake,
                 std::ostream& out, std::ostream& err)
    : opts_(opts),
      db_(db),
      out_(out),
      err_(err),
      make_remote_(std::move(make_remote)),
      remote_(make_remote_()),
      fleet_(opts.parallel, opts.host_timeout, opts.interval),
      handover_(
          opts, std::move(wake), [this] { fleet_.cut(); }, [this] { fleet_.uncut(); },
          [this](const std::string& l) { log(l); }),
      promotion_(
          db, [this](bool yes) { handover_.accept(yes); }, [this](const std::string& l) { log(l); }),
      warming_(fleet_, promotion_, [this](const std::vector<Fleet::Result>& r) { said_warm(r); }),
      descriptors_(raise_descriptor_limit()) {}

void Watcher::round() {
  std::vector<Handover::Hook> hooks = handover_.begin_round();
  RunReport report;
  if (!hooks.empty()) report.event = hooks.front().request.line + " (run by the watcher of this node)";
  // A hook's round answers within the least time a hook gives it (util/handoff).
  Deadline deadline = Deadline::after(opts_.deadline);
  for (const auto& h : hooks) deadline = deadline.min(h.within);
  Outcome o = converge(&report, !hooks.empty(), deadline);
  handover_.end_round(hooks, o != Outcome::standby && o != Outcome::busy, report);
  answer_checks();  // taken as the round began, or kept back for a hook's round
}

bool Watcher::answer_checks() {
  return handover_.answer_checks([this](Handover::Check& c) {
    CheckAsker warm;
    warm.ask = [this](const std::vector<AppServer>& servers, const Rendered& files,
                      const DeployConfig& config, const Deadline& deadline) {
      return fleet_.check(servers, files, config, *remote_, deadline);
    };
    CheckReport check = check_cluster(c.opts, db_, warm, Deadline::after(c.opts.deadline).min(c.within));
    truth_.learn(check.run.servers);  // a check's headers are evidence too (agent/newer)
    versions_.learn(check.run.servers);
    check.watcher = status_line();
    check.by_watcher = true;
    c.reply({check_status(check), false, c.opts.json ? format_check_json(check) : format_check_text(check)});
  });
}

void Watcher::reread() {
  warming_.settle(true);  // its pings use the transport replaced here
  fleet_.drop_all();
  remote_ = make_remote_();
  log("SIGHUP: SSH keys and known_hosts read again; sessions are made again");
}

std::string Watcher::metrics() {
  WatchMetrics m;
  {
    std::lock_guard<std::mutex> guard(mu_);
    m = metrics_;
  }
  m.open_fds = static_cast<double>(open_descriptors());
  if (descriptors_ > 0 && descriptors_ != RLIM_INFINITY) m.max_fds = static_cast<double>(descriptors_);
  return metrics_text(m);
}

std::string Watcher::status() {
  std::lock_guard<std::mutex> guard(mu_);
  return status_;
}

std::string Watcher::status_line() {
  std::lock_guard<std::mutex> guard(mu_);
  std::string converged = metrics_.last_converge > 0 ? std::to_string(static_cast<long>(
                                                           std::time(nullptr) - metrics_.last_converge)) +
                                                           " s ago"
                                                     : "never";
  return status_ + (metrics_.pushing ? "; every app server last current " + converged : "");
}

void Watcher::log(const std::string& line) {
  std::lock_guard<std::mutex> guard(log_mu_);                    // the hook socket's thread logs too
  err_ << "pgdeploy watch: " << escape_text(line) << std::endl;  // names from the database
}

bool Watcher::note(const std::string& subject, const std::string& state, const std::string& line) {
  if (!changes_.changed(subject, state)) return false;
  log(line);
  return true;
}

void Watcher::said_warm(const std::vector<Fleet::Result>& pinged) {
  for (const auto& r : pinged) {
    if (!r.asked) continue;
    std::string label = server_label(r.report.server);
    bool bad = failing(r.state);
    note(label, bad ? "warm: " + std::string(state_name(r.state)) : "warm",
         label + (bad ? ": no warm session: " + r.report.error : ": session warm"));
  }
}

void Watcher::auth_lookup(const Proof& proof, RunReport* report, const Deadline& deadline) {
  std::vector<std::string> databases = auth_lookup_databases(opts_, proof);
  std::string key = std::to_string(proof.decision.primary->id) + " " +
                    std::to_string(proof.decision.timeline);
  for (const auto& d : databases) key += '\0' + d;
  double now = seconds_since(Clock::time_point{});
  if (key != lookup_key_ || (!lookup_warnings_.empty() && now - lookup_asked_ >= 60)) {
    lookup_warnings_ = check_auth_lookup(opts_, proof, databases, db_,
                                         Deadline::after(opts_.probe_timeout).min(deadline));
    lookup_key_ = key;
    lookup_asked_ = now;
  }
  report->warnings.insert(report->warnings.end(), lookup_warnings_.begin(), lookup_warnings_.end());
}

Watcher::Outcome Watcher::converge(RunReport* out, bool for_hook, const Deadline& deadline) {
  warming_.settle(false);  // a standby's pings that ended since: what they found is said here
  auto start = Clock::now();
  RunReport& report = *out;
  report.cluster = opts_.cluster;
  Proof proof;
  bool proven = prove(
      opts_, db_, deadline, &report, &proof, [](const NodeProbe&, const ClusterFacts&) {},
      versions_.limits());
  // Stale primaries named (fenced with --fence-stale) every round, proven or not.
  fence_stale(proof, opts_.fence_stale, opts_.fence_stop, db_,
              Deadline::after(opts_.probe_timeout).min(deadline), &report);
  for (const auto& st : report.stale) note("stale " + st.substr(0, st.find(':')), st, "STALE PRIMARY " + st);
  auto done = [&](const std::string& status, bool pushing, Outcome outcome) {
    handover_.accept(promotion_.round_ended(pushing));
    report.seconds = seconds_since(start);
    std::lock_guard<std::mutex> guard(mu_);
    metrics_.database_up = proven || !proof.database_failed;
    metrics_.pushing = pushing;
    metrics_.timeline = proven ? proof.decision.timeline : 0;
    if (!proven) ++metrics_.proofs_refused;
    if (!pushing) metrics_.servers.clear();
    metrics_.ssh_logins = fleet_.logins();
    metrics_.reconnects = fleet_.reconnects();
    metrics_.bytes_sent = fleet_.bytes_sent();
    metrics_.bytes_received = fleet_.bytes_received();
    metrics_.warm_sessions = fleet_.sessions();
    metrics_.observe_round(seconds_since(start));
    metrics_.stale_writable = report.stale_writable;
    metrics_.stale_fenced = static_cast<int>(report.stale.size()) - report.stale_writable;
    metrics_.fences_raised += report.fences_raised;
    metrics_.fences_failed += report.fences_failed;
    metrics_.newer_truth = !report.newer_truth.empty();
    metrics_.newer_truth_refusals += !report.newer_truth.empty();
    status_ = status;
    return outcome;
  };

  if (!proven) {
    // Nothing is written while the truth is uncertain; said once per change, not every round.
    // The warm sessions stay: a promotion under way is proven a moment later, and pushes at once.
    if (proof.database_failed) {
      note("database", report.refusal, "database unreachable, writing nothing: " + report.refusal);
    } else {
      note("database", "up", "database reachable");
      note("proof", report.refusal, "primary not proven, writing nothing: " + report.refusal);
    }
    return done("refused: " + report.refusal, false, Outcome::refused);
  }
  note("database", "up", "database reachable");
  std::string proof_line = report.primary + " timeline " + std::to_string(report.timeline);
  note("proof", proof_line, "proven primary: " + proof_line);
  // A session per server, on the primary and on a standby alike, and a few for the database,
  // the hook socket and the metrics: said once, when the limit (raised at the start as far as it
  // may be) is short.
  if (size_t need = proof.facts.servers.size() + 32; descriptors_ > 0 && need > descriptors_)
    note("descriptors", "short",
         "warning: " + std::to_string(proof.facts.servers.size()) + " app servers need about " +
             std::to_string(need) + " descriptors and the limit is " + std::to_string(descriptors_) +
             " (LimitNOFILE, ulimit -n): some sessions will fail");
  else changes_.forget("descriptors");
  if (!proof.self_is_primary) {
    // The proven primary's own watcher pushes: the same truth from here would only double the
    // work, and a node that is not writable has no say. The sessions are kept warm (a ping
    // each), so that this node's first push after its promotion needs no login.
    note("role", "standby",
         "this node is not the primary: the watcher on " + report.primary +
             " pushes; this one keeps its sessions warm");
    warming_.keep_warm(proof.facts.servers, *remote_, deadline);
    return done("standby; primary " + proof_line, false, Outcome::standby);
  }
  note("role", "primary", "this node is the proven primary: this watcher pushes");

  // A one-shot run here (the repmgr hook) holds the lock: it pushes this truth or a newer one.
  FileLock lock;
  std::string why;
  if (!lock.acquire(opts_.lock_file, Deadline::after(0), &why)) {
    note("lock", "busy", "a one-shot run holds " + opts_.lock_file + ": it pushes; rounds wait for it");
    return done("waiting for a one-shot run", true, Outcome::busy);
  }
  changes_.forget("lock");

  DeployConfig config = deploy_config(opts_);
  // A newer truth on any app server (agent/newer, security review 3 N8) stops the push for every
  // server while a node is unseen: asked first, read only, once per term; remembered from every
  // answer after.
  if (truth_.ask_first(proof.decision.primary->id, proof.decision.timeline, proof.probes)) {
    DeployConfig ask = config;
    ask.mode = PushRequest::Mode::check;
    std::vector<ServerReport> asked = fleet_.check(proof.facts.servers, proof.files, ask, *remote_, deadline);
    truth_.learn(asked);
    versions_.learn(asked);
  }
  if (report.newer_truth = truth_.refusal(proof.decision.timeline, proof.probes);
      !report.newer_truth.empty()) {
    note("proof", report.newer_truth, "NEWER TRUTH, writing nothing: " + report.newer_truth);
    return done("refused: " + report.newer_truth, false, Outcome::refused);
  }
  auto results = fleet_.push(proof.facts.servers, proof.files, config, *remote_, deadline, for_hook);
  bool news = false;
  std::map<ServerState, int> by_state;
  uint64_t updated = 0, failed = 0;
  for (auto& r : results) {
    ++by_state[r.state];
    if (r.asked) {
      std::string label = server_label(r.report.server);
      std::string state = state_name(r.state);
      bool bad = failing(r.state);
      if (r.state == ServerState::updated) state = "current";  // updated is news of its own
      // Unreachable is one state whatever the error (refused connection, lost session, timeout).
      bool detailed = r.state == ServerState::refused || r.state == ServerState::failed;
      news |= note(label, detailed ? state + ": " + r.report.error : state,
                   label + ": " + state_name(r.state) + (bad ? ": " + r.report.error : ""));
    }
    updated += r.state == ServerState::updated;
    failed += r.state == ServerState::failed || r.state == ServerState::refused;
    report.servers.push_back(std::move(r.report));
  }
  add_conflicts(proof.plan, &report);
  auth_lookup(proof, &report, deadline);
  truth_.learn(report.servers);
  versions_.learn(report.servers);
  report.newer_truth = truth_.refusal(proof.decision.timeline, proof.probes);  // exit 5
  for (const auto& c : proof.plan.conflicts)
    news |= note(server_label(c.server), "conflict", server_label(c.server) + ": config: " + c.error);
  report.seconds = seconds_since(start);
  // The one-shot's report, for every round that changed something; each warning when it appears.
  if (updated > 0 || news) {
    RunReport shown = report;
    shown.warnings = fresh_warnings(report.warnings, &warned_);
    if (size_t known = report.warnings.size() - shown.warnings.size())
      shown.warnings.push_back(std::to_string(known) + " more, as in an earlier report");
    out_ << format_text(shown) << std::flush;
  }

  // Every server asked (none held back) and as the proof says.
  bool converged = std::all_of(results.begin(), results.end(),
                               [](const Fleet::Result& r) {
                                 return r.asked &&
                                        (r.state == ServerState::current || r.state == ServerState::updated);
                               }) &&
                   proof.plan.conflicts.empty();
  // As a one-shot run records it: a repmgr hook right after this (--recent) has nothing to do.
  if (updated > 0 && converged)
    remember_push(opts_.lock_file + ".last", deploy_fingerprint(proof.facts.servers, proof.files, config),
                  proof.decision.timeline, err_);
  {
    std::lock_guard<std::mutex> guard(mu_);
    metrics_.pushes_updated += updated;
    metrics_.pushes_failed += failed;
    if (converged) metrics_.last_converge = static_cast<double>(std::time(nullptr));
    metrics_.servers = by_state;
  }
  if (!report.newer_truth.empty()) {  // this round's answers: it counts as not pushing
    note("proof", report.newer_truth, "NEWER TRUTH, writing nothing more: " + report.newer_truth);
    return done("refused: " + report.newer_truth, false, Outcome::refused);
  }
  return done(std::to_string(by_state[ServerState::current] + by_state[ServerState::updated]) + " of " +
                  std::to_string(results.size()) + " app servers current; primary " + proof_line,
              true, Outcome::pushed);
}

}  // namespace pgdeploy
