// Between rounds, where the last round did not push: is this node writable now? A cheap local
// question (Database::self_writable: one query on a kept connection) asked every kPromotionPoll,
// so that a promotion starts a round at once rather than after the rest of the interval; and,
// for up to kHurryFor, rounds follow each other every kHurryPace (repmgr records the promotion in
// its catalog only after PostgreSQL promoted: the first rounds may not prove it yet, and the
// round after the catalog names this node pushes). A node that stays writable unproven (a stale
// primary) goes back to one round per interval.
//
// And a standby's warm sessions (Warming): their pings run on a thread of their own while the
// promotion is looked for, so a host that hangs does not hide the promotion.
#pragma once

#include <functional>
#include <future>
#include <string>
#include <vector>

#include "cluster/database.h"
#include "remote/remote.h"
#include "util/deadline.h"
#include "watch/fleet.h"

namespace pgdeploy {

inline constexpr double kPromotionPoll = 0.1;  // seconds between hurry() questions
inline constexpr double kHurryFor = 10;        // seconds of back-to-back rounds after a promotion
inline constexpr double kHurryPace = 0.02;     // seconds between those rounds

class Promotion {
 public:
  using Now = std::function<Clock::time_point()>;  // the clock (tests: one they move)
  // `accept(yes)`: whether this watcher takes a hook's event now (watch/handover); `log` says a
  // line. Both on the loop's thread.
  Promotion(
      Database& db, std::function<void(bool)> accept, std::function<void(const std::string&)> log,
      Now now = [] { return Clock::now(); })
      : db_(db), accept_(std::move(accept)), log_(std::move(log)), now_(std::move(now)) {}

  // True while rounds should follow at once: this node became writable and its watcher does not
  // push yet, less than kHurryFor ago. Asks the database (unless the last round pushed).
  bool hurry();
  bool hurrying() const;
  double pause() const { return hurrying() ? kHurryPace : kPromotionPoll; }  // the next question's
  // A round ended: it pushed (this node is the proven primary) or not. Returns whether a hook's
  // event is taken now: it pushed, or this node was seen writable.
  bool round_ended(bool pushed);

 private:
  Database& db_;
  std::function<void(bool)> accept_;
  std::function<void(const std::string&)> log_;
  Now now_;
  bool pushed_ = false;                 // the last round pushed
  Clock::time_point writable_since_{};  // since when this node is writable, unpushed
};

// A standby's pings and reconnects run on a thread of their own, waited for as the round's work,
// but with this node's promotion looked for every kPromotionPoll meanwhile: once the node is
// writable the round ends, and the push that follows waits only for the servers still busy
// (watch/fleet lanes). So a host that hangs delays neither the sight of the promotion, nor the
// hook's hand-over, nor the other servers' push. Not two at once: while one still waits for a
// host, the next rounds start none.
class Warming {
 public:
  using Found = std::function<void(const std::vector<Fleet::Result>&)>;  // what pings found
  Warming(Fleet& fleet, Promotion& promotion, Found found)
      : fleet_(fleet), promotion_(promotion), found_(std::move(found)) {}
  // The destructor waits for the pings (std::future): declare it after the fleet and the
  // transport they use.

  // Pings every server over `remote` (which must live until settle(true)); returns when they are
  // done or when this node is writable.
  void keep_warm(const std::vector<AppServer>& servers, Remote& remote, const Deadline& deadline);
  // Gives what finished pings found to `found` (with `wait`, waits for them first).
  void settle(bool wait);

 private:
  bool warmed(double within) const;
  Fleet& fleet_;
  Promotion& promotion_;
  Found found_;
  std::future<std::vector<Fleet::Result>> pings_;
};

}  // namespace pgdeploy
