// The hand-over queue: the events this node's repmgr hook and the checks `pgdeploy check` hand
// to the watcher (util/handoff: taken on the socket's thread), and who waits for whom. A hook's
// event is pushed by the next round, which starts at once (the round under way is cut short); a
// check is answered between rounds, never beside a round or another check, and after the round
// of a hook that waits. Neither waits behind the other: a hook that would wait for a check, or a
// check that would wait for a round, is declined with the reason and runs by itself.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "cli/options.h"
#include "report/report.h"
#include "util/deadline.h"
#include "util/handoff.h"

namespace pgdeploy {

class Handover {
 public:
  // `wake` ends the wait between rounds (run_watch: SIGUSR1); `cut` ends the push under way
  // and `uncut` says the hooks' round has begun (Fleet::cut, Fleet::uncut); `log` says a line.
  // `wake`, `cut` and `log` are called on the socket's thread.
  Handover(const Options& opts, std::function<void()> wake, std::function<void()> cut,
           std::function<void()> uncut, std::function<void(const std::string&)> log)
      : opts_(opts),
        wake_(std::move(wake)),
        cut_(std::move(cut)),
        uncut_(std::move(uncut)),
        log_(std::move(log)) {}

  struct Hook {
    HookRequest request;
    HandoffServer::Reply reply;
    Deadline within;  // answer_within(request), from when it was taken
  };
  struct Check {
    HandoffServer::Reply reply;
    Options opts;     // the watcher's own, with the check's -w, -c, --verbose and --json
    Deadline within;  // the hook's answer_within()
  };

  // On the socket's thread: a hook's event, taken ("") when this watcher pushes or its node is
  // writable (a promotion under way), else declined with the reason.
  std::string take(const HookRequest& request, HandoffServer::Reply reply);
  // Whether a hook's event is taken: the last round pushed, or this node is writable.
  void accept(bool yes) { accepting_ = yes; }

  // A round begins: the hooks handed over since the last one began. A hook whose time passed
  // before its round began (it waited for another hook's round) is told to do the one-shot with
  // the time it kept back, and is not among them.
  std::vector<Hook> begin_round();
  // The round ended: each hook gets its report and exit code, or, when the round was not this
  // watcher's to push after all (`ours` false), is told to do the one-shot.
  void end_round(std::vector<Hook>& hooks, bool ours, const RunReport& report);

  // Between rounds: `answer` runs on each check handed over since (on this thread). A hook
  // waiting for a round goes first: then nothing is run and the answer is true (the checks are
  // answered after that round).
  bool answer_checks(const std::function<void(Check&)>& answer);

 private:
  // When a hook stops waiting for its answer, less the time the answer takes to get there.
  static Deadline answer_within(const HookRequest& r) {
    return Deadline::after(r.wait > 0 ? r.wait - kHandoffAck : 1e9);
  }

  const Options& opts_;
  std::function<void()> wake_, cut_, uncut_;
  std::function<void(const std::string&)> log_;
  std::mutex mu_;
  std::vector<Hook> hooks_;    // handed over since the last round began
  std::vector<Check> checks_;  // handed over, answered between rounds
  bool checking_ = false;      // answer_checks() runs them (guarded by mu_)
  std::atomic<bool> accepting_{false};
  std::atomic<bool> in_round_{false};
};

}  // namespace pgdeploy
