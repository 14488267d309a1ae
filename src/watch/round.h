// The watcher's state across rounds, and one round: prove, then (on the proven primary only)
// converge every app server over its warm session (watch/fleet), with the hooks handed over
// since the last round (watch/handover) and, on a standby, the sessions kept warm while the
// promotion is looked for (watch/promotion). What it saw goes to the log once per change, to
// the metrics and to the status line. The loop that runs the rounds, with signals and systemd,
// is watch/watch. The database and the transport come from outside: main.cpp gives the real
// ones, the unit tests (round_test) the fakes of src/testing.
#pragma once

#include <sys/resource.h>

#include <functional>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "agent/newer.h"
#include "agent/proof.h"
#include "cli/options.h"
#include "cluster/database.h"
#include "remote/remote.h"
#include "report/report.h"
#include "watch/fleet.h"
#include "watch/handover.h"
#include "watch/metrics.h"
#include "watch/promotion.h"
#include "watch/state.h"

namespace pgdeploy {

// A new transport, with the SSH keys and known_hosts read now: at the start and after SIGHUP.
using MakeRemote = std::function<std::unique_ptr<Remote>()>;

class Watcher {
 public:
  // `wake` ends the loop's wait between rounds (run_watch: SIGUSR1 to itself); it is called on
  // the hook socket's thread. `out` gets the reports, `err` the log.
  Watcher(const Options& opts, Database& db, MakeRemote make_remote, std::function<void()> wake,
          std::ostream& out, std::ostream& err);

  // What a round came to, for a hook that handed its event over.
  enum class Outcome { pushed, refused, standby, busy };

  // One round, with the hooks handed over since the last: each gets the round's report and exit
  // code. Then the checks taken as the round began, or kept back for a hook's round.
  void round();
  // On the socket's thread: a hook's event or a check (watch/handover).
  std::string take(const HookRequest& request, HandoffServer::Reply reply) {
    return handover_.take(request, std::move(reply));
  }
  // Between rounds: the checks handed over since, each proven afresh and asked over the warm
  // sessions (read only; no server's schedule changes). True: a hook waits for a round.
  bool answer_checks();
  // After SIGHUP: keys and known_hosts read again, every session made again (host keys checked).
  void reread();

  // The promotion poll between rounds (watch/promotion).
  bool hurry() { return promotion_.hurry(); }
  double pause() const { return promotion_.pause(); }

  std::string metrics();
  std::string status();
  // For pgdeploy check: the last round's summary, and how long ago every server was current.
  std::string status_line();
  void log(const std::string& line);

 private:
  // Prove, then converge every app server: one round's work, into `report`.
  Outcome converge(RunReport* report, bool for_hook, const Deadline& deadline);
  // --auth-lookup's warnings into `report`, asked only when they may have changed.
  void auth_lookup(const Proof& proof, RunReport* report, const Deadline& deadline);
  // Logs `line` when `state` is news for `subject`.
  bool note(const std::string& subject, const std::string& state, const std::string& line);
  void said_warm(const std::vector<Fleet::Result>& pinged);

  const Options& opts_;
  Database& db_;
  std::ostream& out_;
  std::ostream& err_;
  MakeRemote make_remote_;
  std::unique_ptr<Remote> remote_;
  Fleet fleet_;
  Changes changes_;
  TruthMemory truth_;             // the newest truth app servers showed (agent/newer)
  VersionMemory versions_;        // each server's PgBouncer version: its files' limits
  std::set<std::string> warned_;  // the warnings of the last report printed
  // --auth-lookup: asked once per term and routed databases (the key), and again a minute later
  // while some database lacks the function or could not be asked, so that a fix is seen.
  std::string lookup_key_;
  std::vector<std::string> lookup_warnings_;
  double lookup_asked_ = 0;  // when, by the monotonic clock
  std::mutex mu_;            // guards what the metrics thread reads
  WatchMetrics metrics_;
  std::string status_ = "starting";
  std::mutex log_mu_;
  Handover handover_;
  Promotion promotion_;
  // The standby's pings. Declared after fleet_ and remote_: at exit its destructor waits for
  // them before the fleet and the transport they use go (and says nothing after "stopped").
  Warming warming_;
  const rlim_t descriptors_;  // the limit raised once, at the start (0: unknown)
};

}  // namespace pgdeploy
