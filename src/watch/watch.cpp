#include "watch/watch.h"

#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <future>
#include <memory>
#include <mutex>
#include <ostream>
#include <set>

#include "agent/check.h"
#include "agent/fence.h"  // [fence]
#include "agent/newer.h"  // [fence]
#include "agent/last_push.h"
#include "agent/proof.h"
#include "deploy/fingerprint.h"
#include "pg/pg.h"
#include "report/report.h"
#include "util/lock.h"
#include "util/text.h"
#include "watch/fleet.h"
#include "util/handoff.h"
#include "watch/metrics.h"
#include "watch/metrics_server.h"
#include "watch/state.h"

namespace pgdeploy {
namespace {

constexpr double kPromotionPoll = 0.1;  // seconds between hurry() questions
constexpr double kHurryFor = 10;        // seconds of back-to-back rounds after a promotion
constexpr double kHurryPace = 0.02;     // seconds between those rounds

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

class Watcher {
 public:
  Watcher(const Options& opts, Database& db, std::ostream& out, std::ostream& err)
      : opts_(opts),
        db_(db),
        out_(out),
        err_(err),
        remote_(std::make_unique<SshRemote>(ssh_settings(opts))),
        fleet_(opts.parallel, opts.host_timeout, opts.interval) {}

  // What a round came to, for a hook that handed its event over.
  enum class Outcome { pushed, refused, standby, busy };

  // One round: prove, then (on the proven primary only) converge every app server. Hooks that
  // handed their event over since the last round get its report and exit code.
  void round() {
    in_round_ = true;
    std::vector<Hook> hooks;
    {
      std::lock_guard<std::mutex> guard(hook_mu_);
      hooks.swap(hooks_);
    }
    if (!hooks.empty()) fleet_.uncut();  // this round is theirs
    // A hook whose time passed before its round began (it waited for another hook's round) does
    // the one-shot with the time it kept back.
    std::erase_if(hooks, [](Hook& h) {
      if (!h.within.expired()) return false;
      h.reply({-1, false, ""});
      return true;
    });
    RunReport report;
    if (!hooks.empty()) report.event = hooks.front().request.line + " (run by the watcher of this node)";
    // A hook's round answers within the least time a hook gives it (util/handoff).
    Deadline deadline = Deadline::after(opts_.deadline);
    for (const auto& h : hooks) deadline = deadline.min(h.within);
    Outcome o = round(&report, !hooks.empty(), deadline);
    for (auto& h : hooks) {
      if (o == Outcome::standby || o == Outcome::busy) {
        h.reply({-1, false, ""});  // not ours after all: the hook does the one-shot
        continue;
      }
      int code = exit_code(report);
      h.reply({code, code == kExitRefused, h.request.json ? format_json(report) : format_text(report)});
    }
    in_round_ = false;
    answer_checks();  // taken as the round began, or kept back for a hook's round
  }

  // On the socket's thread: a hook's event, taken ("") when this watcher pushes or its node is
  // writable (a promotion under way), else declined with the reason.
  std::string take(const HookRequest& request, HandoffServer::Reply reply) {
    // Any node's watcher runs a check, if it would ask what the check asks, and not while a round
    // or another check is under way (a slow one would hold the check up): the check then asks
    // over new logins.
    if (request.ask == HookRequest::Ask::check) {
      Check c{std::move(reply), opts_, answer_within(request)};
      std::string why;
      if (!check_options_from(request.line, opts_, &c.opts, &why)) return why;
      c.opts.json = request.json;
      std::lock_guard<std::mutex> guard(hook_mu_);
      if (in_round_ || checking_) return in_round_ ? "a round is under way" : "a check is under way";
      checks_.push_back(std::move(c));
      kill(getpid(), SIGUSR1);
      return "";
    }
    if (!accepting_) return "this node's watcher does not push (another node is the proven primary, or none is)";
    {
      std::lock_guard<std::mutex> guard(hook_mu_);
      // A check under way would hold the hook's round up: the hook does the one-shot itself.
      if (checking_) return "this node's watcher is running a check";
      hooks_.push_back({request, std::move(reply), answer_within(request)});
    }
    log("a hook handed over " + request.line);
    fleet_.cut();  // a round under way ends now (its hung servers too): the hook's round starts at once
    kill(getpid(), SIGUSR1);  // ends the wait between rounds
    return "";
  }

  // Between rounds: the checks handed over since, each proven afresh and asked over the warm
  // sessions (read only; no server's schedule changes). A hook waiting for a round goes first:
  // then nothing is run and the answer is true (the checks are answered after that round).
  bool answer_checks() {
    std::vector<Check> checks;
    {
      std::lock_guard<std::mutex> guard(hook_mu_);
      if (!hooks_.empty()) return true;
      checks.swap(checks_);
      checking_ = !checks.empty();
    }
    for (auto& c : checks) {
      CheckAsker warm;
      warm.ask = [this](const std::vector<AppServer>& servers, const Rendered& files,
                        const DeployConfig& config, const Deadline& deadline) {
        return fleet_.check(servers, files, config, *remote_, deadline);
      };
      CheckReport check = check_cluster(c.opts, db_, warm, Deadline::after(c.opts.deadline).min(c.within));
      truth_.learn(check.run.servers);  // [fence] a check's headers are evidence too (agent/newer)
      check.watcher = status_line();
      check.by_watcher = true;
      c.reply({check_status(check), false, c.opts.json ? format_check_json(check) : format_check_text(check)});
    }
    std::lock_guard<std::mutex> guard(hook_mu_);
    checking_ = false;
    return !hooks_.empty();
  }

  // After SIGHUP: keys and known_hosts read again, every session made again (host keys checked).
  void reread() {
    settle_warming(true);  // its pings use the transport replaced here
    fleet_.drop_all();
    remote_ = std::make_unique<SshRemote>(ssh_settings(opts_));
    log("SIGHUP: SSH keys and known_hosts read again; sessions are made again");
  }

  std::string metrics() {
    WatchMetrics m;
    {
      std::lock_guard<std::mutex> guard(mu_);
      m = metrics_;
    }
    m.open_fds = static_cast<double>(open_descriptors());
    if (descriptors_ > 0 && descriptors_ != RLIM_INFINITY) m.max_fds = static_cast<double>(descriptors_);
    return metrics_text(m);
  }

  std::string status() {
    std::lock_guard<std::mutex> guard(mu_);
    return status_;
  }

  // For pgdeploy check: the last round's summary, and how long ago every server was current.
  std::string status_line() {
    std::lock_guard<std::mutex> guard(mu_);
    std::string converged = metrics_.last_converge > 0
        ? std::to_string(static_cast<long>(std::time(nullptr) - metrics_.last_converge)) + " s ago"
        : "never";
    return status_ + (metrics_.pushing ? "; every app server last current " + converged : "");
  }

  void log(const std::string& line) {
    std::lock_guard<std::mutex> guard(log_mu_);  // the hook socket's thread logs too
    err_ << "pgdeploy watch: " << escape_text(line) << std::endl;  // names from the database
  }

  // Between rounds, where the last round did not push: is this node writable now? A cheap local
  // question (one query on a kept connection) asked every kPromotionPoll, so that a promotion
  // starts a round at once rather than after the rest of the interval; and, for up to
  // kHurryFor, rounds follow each other every kHurryPace (repmgr records the promotion in its
  // catalog only after PostgreSQL promoted: the first rounds may not prove it yet, and the
  // round after the catalog names this node pushes). A node that stays writable unproven (a
  // stale primary) goes back to one round per interval.
  double pause() const { return hurrying() ? kHurryPace : kPromotionPoll; }
  bool hurrying() const {
    return !pushed_ && writable_since_ != Clock::time_point{} &&
           Clock::now() - writable_since_ < std::chrono::duration<double>(kHurryFor);
  }
  bool hurry() {
    if (pushed_) {
      writable_since_ = {};
      return false;
    }
    std::string why;
    Deadline deadline = Deadline::after(0.5);
    if (!local_) local_ = PgConn::connect(opts_.conninfo, deadline, &why);
    PgRow row;
    if (!local_ || !local_->query_row("SELECT pg_is_in_recovery()", {}, &row, deadline, &why)) {
      local_.reset();
      return false;
    }
    if (row.size() != 1 || row[0] != "f") {
      writable_since_ = {};
      accepting_ = false;
      return false;
    }
    if (writable_since_ == Clock::time_point{}) {
      writable_since_ = Clock::now();
      accepting_ = true;
      log("this node is writable and its watcher does not push yet: rounds at once for up to " +
          std::to_string(static_cast<int>(kHurryFor)) + " s");
    }
    return hurrying();
  }

 private:
  // A standby's pings and reconnects run on a thread of their own, waited for as the round's
  // work, but with this node's promotion looked for every kPromotionPoll meanwhile: once the
  // node is writable the round ends, and the push that follows waits only for the servers still
  // busy (watch/fleet lanes). So a host that hangs delays neither the sight of the promotion,
  // nor the hook's hand-over, nor the other servers' push. Not two at once: while one still
  // waits for a host, the next rounds start none.
  void keep_warm(const std::vector<AppServer>& servers, const Deadline& deadline) {
    if (warming_.valid() && !warmed(0)) return;
    settle_warming(false);
    warming_ = std::async(std::launch::async, [this, servers, deadline] {
      return fleet_.keep_warm(servers, *remote_, deadline);
    });
    while (!warmed(kPromotionPoll))
      if (hurry()) return;  // promoted: the pings finish on their own, the next round pushes
    settle_warming(false);
  }
  bool warmed(double within) const {
    return warming_.wait_for(std::chrono::duration<double>(within)) == std::future_status::ready;
  }
  // Takes what finished pings found (with `wait`, waits for them) and says it.
  void settle_warming(bool wait) {
    if (!warming_.valid() || (!wait && !warmed(0))) return;
    for (const auto& r : warming_.get()) {
      if (!r.asked) continue;
      std::string label = server_label(r.report.server);
      bool bad = failing(r.state);
      note(label, bad ? "warm: " + std::string(state_name(r.state)) : "warm",
           label + (bad ? ": no warm session: " + r.report.error : ": session warm"));
    }
  }

  // Logs `line` when `state` is news for `subject`.
  bool note(const std::string& subject, const std::string& state, const std::string& line) {
    if (!changes_.changed(subject, state)) return false;
    log(line);
    return true;
  }

  const Options& opts_;
  Database& db_;
  std::ostream& out_;
  std::ostream& err_;
  std::unique_ptr<SshRemote> remote_;
  Fleet fleet_;
  Changes changes_;
  std::set<std::string> warned_;  // the warnings of the last report printed
  std::mutex mu_;  // guards what the metrics thread reads
  WatchMetrics metrics_;
  std::string status_ = "starting";
  struct Hook {
    HookRequest request;
    HandoffServer::Reply reply;
    Deadline within;  // answer_within(request), from when it was taken
  };
  struct Check {
    HandoffServer::Reply reply;
    Options opts;  // the watcher's own, with the check's -w, -c, --verbose and --json
    Deadline within;  // the hook's answer_within()
  };
  Outcome round(RunReport* report, bool for_hook, const Deadline& deadline);
  // When a hook stops waiting for its answer, less the time the answer takes to get there.
  static Deadline answer_within(const HookRequest& r) {
    return Deadline::after(r.wait > 0 ? r.wait - kHandoffAck : 1e9);
  }

  std::mutex log_mu_;
  std::mutex hook_mu_;
  std::vector<Hook> hooks_;  // handed over since the last round began
  std::vector<Check> checks_;  // handed over, answered between rounds
  bool checking_ = false;     // answer_checks() runs them (guarded by hook_mu_)
  std::atomic<bool> accepting_{false};
  std::atomic<bool> in_round_{false};
  bool pushed_ = false;  // the last round pushed (this node is the proven primary)
  TruthMemory truth_;    // [fence] the newest truth app servers showed (agent/newer)
  Clock::time_point writable_since_{};  // hurry(): since when this node is writable, unpushed
  std::unique_ptr<PgConn> local_;      // hurry()'s connection
  // keep_warm()'s pings. Declared after fleet_ and remote_: at exit its destructor waits for
  // them before the fleet and the transport they use go (and says nothing after "stopped").
  std::future<std::vector<Fleet::Result>> warming_;
  const rlim_t descriptors_ = raise_descriptor_limit();  // set once, at the start (0: unknown)
};

Watcher::Outcome Watcher::round(RunReport* out, bool for_hook, const Deadline& deadline) {
  settle_warming(false);  // a standby's pings that ended since: what they found is said here
  auto start = Clock::now();
  RunReport& report = *out;
  report.cluster = opts_.cluster;
  Proof proof;
  bool proven = prove(opts_, db_, deadline, &report, &proof, [](const NodeProbe&, const ClusterFacts&) {});
  // [fence] stale primaries named (fenced with --fence-stale) every round, proven or not.
  fence_stale(proof, opts_.fence_stale, opts_.fence_stop, db_,
              Deadline::after(opts_.probe_timeout).min(deadline), &report);
  for (const auto& st : report.stale)
    note("stale " + st.substr(0, st.find(':')), st, "STALE PRIMARY " + st);  // [fence]
  auto done = [&](const std::string& status, bool pushing, Outcome outcome) {
    pushed_ = pushing;
    accepting_ = pushing || writable_since_ != Clock::time_point{};
    report.seconds = seconds_since(start);
    std::lock_guard<std::mutex> guard(mu_);
    metrics_.database_up = proven || !proof.database_failed;
    metrics_.pushing = pushing;
    metrics_.timeline = proven ? proof.decision.timeline : 0;
    if (!proven) ++metrics_.proofs_refused;
    if (!pushing) metrics_.servers.clear();
    metrics_.ssh_logins = fleet_.logins();
    metrics_.reconnects = fleet_.reconnects();
    metrics_.warm_sessions = fleet_.sessions();
    metrics_.observe_round(seconds_since(start));
    metrics_.stale_writable = report.stale_writable;                                       // [fence]
    metrics_.stale_fenced = static_cast<int>(report.stale.size()) - report.stale_writable;  // [fence]
    metrics_.fences_raised += report.fences_raised;                                        // [fence]
    metrics_.fences_failed += report.fences_failed;                                        // [fence]
    metrics_.newer_truth = !report.newer_truth.empty();                                    // [fence]
    metrics_.newer_truth_refusals += !report.newer_truth.empty();                          // [fence]
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
    note("descriptors", "short", "warning: " + std::to_string(proof.facts.servers.size()) +
                                     " app servers need about " + std::to_string(need) +
                                     " descriptors and the limit is " + std::to_string(descriptors_) +
                                     " (LimitNOFILE, ulimit -n): some sessions will fail");
  else
    changes_.forget("descriptors");
  if (!proof.self_is_primary) {
    // The proven primary's own watcher pushes: the same truth from here would only double the
    // work, and a node that is not writable has no say. The sessions are kept warm (a ping
    // each), so that this node's first push after its promotion needs no login.
    note("role", "standby", "this node is not the primary: the watcher on " + report.primary +
                                " pushes; this one keeps its sessions warm");
    keep_warm(proof.facts.servers, deadline);
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
  // [fence] A newer truth on any app server (agent/newer, security review 3 N8) stops the push for
  // every server while a node is unseen: asked first, read only, once per term; remembered from
  // every answer after.
  if (truth_.ask_first(proof.decision.primary->id, proof.decision.timeline, proof.probes)) {
    DeployConfig ask = config;
    ask.mode = PushRequest::Mode::check;
    truth_.learn(fleet_.check(proof.facts.servers, proof.files, ask, *remote_, deadline));
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
  truth_.learn(report.servers);                                  // [fence]
  report.newer_truth = truth_.refusal(proof.decision.timeline, proof.probes);  // [fence] exit 5
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
  bool converged = std::all_of(results.begin(), results.end(), [](const Fleet::Result& r) {
                     return r.asked && (r.state == ServerState::current || r.state == ServerState::updated);
                   }) && proof.plan.conflicts.empty();
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
  if (!report.newer_truth.empty()) {  // [fence] this round's answers: it counts as not pushing
    note("proof", report.newer_truth, "NEWER TRUTH, writing nothing more: " + report.newer_truth);
    return done("refused: " + report.newer_truth, false, Outcome::refused);
  }
  return done(std::to_string(by_state[ServerState::current] + by_state[ServerState::updated]) +
                  " of " + std::to_string(results.size()) + " app servers current; primary " +
                  proof_line,
              true, Outcome::pushed);
}

// systemd's watchdog (WatchdogSec in the unit): WATCHDOG=1 at half the period it asks for, from
// the wait between rounds as well as after each round, so that a long --interval is not taken for
// a hang. Only the loop feeds it, never a thread of its own: a round that hangs past its
// --deadline still starves it, and systemd restarts the watcher.
class Watchdog {
 public:
  Watchdog() {
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
      every_ = std::chrono::duration_cast<Clock::duration>(std::chrono::microseconds(usec / 2));
  }
  // Seconds until the next WATCHDOG=1 is due (a day when systemd asks for none).
  double due_in() const {
    if (every_ == Clock::duration{}) return 86400;
    return std::max(0.0, std::chrono::duration<double>(fed_ + every_ - Clock::now()).count());
  }
  void fed() { fed_ = Clock::now(); }
  void feed_if_due() {
    if (every_ == Clock::duration{} || due_in() > 0) return;
    sd_notify(0, "WATCHDOG=1");
    fed();
  }

 private:
  Clock::duration every_{};  // zero: no watchdog
  Clock::time_point fed_ = Clock::now();
};

}  // namespace

int run_watch(const Options& opts, Database& db, std::ostream& out, std::ostream& err) {
  // Signals are taken by sigtimedwait between rounds, never in the middle of one: blocked here,
  // before any thread starts, so every thread inherits the mask.
  sigset_t stop_or_reread;
  sigemptyset(&stop_or_reread);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaddset(&stop_or_reread, s);  // USR1: a hook
  pthread_sigmask(SIG_BLOCK, &stop_or_reread, nullptr);

  FileLock one_watcher;
  std::string why;
  if (!private_directory(opts.lock_file, &why)) {  // a lock or socket others could take or serve
    err << "pgdeploy: " << why << "\n";
    return kExitRefused;
  }
  if (!one_watcher.acquire(opts.lock_file + ".watch", Deadline::after(0), &why)) {
    err << "pgdeploy: another watcher of cluster " << opts.cluster << " runs on this node: " << why << "\n";
    return kExitRefused;
  }
  Watcher watcher(opts, db, out, err);
  std::unique_ptr<MetricsServer> server;
  if (!opts.metrics_listen.empty()) {
    server = std::make_unique<MetricsServer>([&watcher] { return watcher.metrics(); });
    if (!server->start(opts.metrics_listen, &why)) {
      err << "pgdeploy: " << why << "\n";
      return kExitRefused;
    }
  }
  // The repmgr hook on this node hands its events over here (util/handoff).
  HandoffServer hooks([&watcher](const HookRequest& r, HandoffServer::Reply reply) {
    return watcher.take(r, std::move(reply));
  }, [&watcher] { return watcher.status_line(); });
  std::string socket = handoff_socket(opts.lock_file);
  if (socket.empty() || !hooks.start(socket, &why))
    watcher.log("warning: hooks cannot hand their events over: " +
                (socket.empty() ? "the lock file's path is too long for a socket" : why));
  watcher.log("watching cluster " + opts.cluster + " every " + std::to_string(opts.interval).substr(0, 5) + " s" +
              (server ? ", metrics on http://" + opts.metrics_listen + "/metrics" : ""));
  Watchdog watchdog;
  for (bool first = true;; first = false) {
    watcher.round();
    // systemd splits a notify message at line breaks: a node name must not add a command.
    std::string status = "STATUS=" + escape_text(watcher.status());
    sd_notify(0, ((first ? "READY=1\n" : "") + std::string("WATCHDOG=1\n") + status).c_str());
    watchdog.fed();
    int sig = -1;
    for (auto next = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(opts.interval));
         sig < 0 && Clock::now() < next;) {
      double left = std::chrono::duration<double>(next - Clock::now()).count();
      double wait = std::min({left, watcher.pause(), watchdog.due_in()});
      timespec ts{static_cast<time_t>(wait), static_cast<long>((wait - static_cast<time_t>(wait)) * 1e9)};
      sig = sigtimedwait(&stop_or_reread, nullptr, &ts);
      if (sig == SIGUSR1 && !watcher.answer_checks()) sig = -1;  // only checks: no round for them
      watchdog.feed_if_due();
      if (sig < 0 && watcher.hurry()) break;
    }
    if (sig == SIGTERM || sig == SIGINT) break;
    if (sig == SIGHUP) {
      sd_notify(0, "RELOADING=1");
      watcher.reread();
      sd_notify(0, "READY=1");
    }
  }
  sd_notify(0, "STOPPING=1");
  watcher.log("stopped");
  return kExitOk;
}

}  // namespace pgdeploy
