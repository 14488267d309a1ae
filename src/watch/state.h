// The watcher's bookkeeping, pure: what state each app server is in after a round, when to try
// a lost one again, and which lines are news (one log line per change of state, not per round).
#pragma once

#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "deploy/outcome.h"

namespace pgdeploy {

enum class ServerState {
  current,      // answered: every file as the proof says
  updated,      // this round wrote, reloaded or cut there
  newer,        // holds a newer truth than ours: left alone
  unreachable,  // no connection, no answer in time, the session broke
  refused,      // host key or authentication refused: retried slowly, never in a tight loop
  failed,       // answered, but the push failed (a reload failed, a config error, ...)
};
inline constexpr ServerState kAllServerStates[] = {ServerState::current, ServerState::updated,
                                                   ServerState::newer,   ServerState::unreachable,
                                                   ServerState::refused, ServerState::failed};

const char* state_name(ServerState state);

// Unreachable, refused or failed: the server is not as the proof says, and is tried again later.
inline bool failing(ServerState s) {
  return s == ServerState::unreachable || s == ServerState::refused || s == ServerState::failed;
}

// The state a round's report puts a server in.
ServerState state_of(const ServerReport& report);

// Seconds, from the end of its last try, until a server that failed `failures` times in a row is
// tried again. Unreachable: the next round (a refused connection or a lost session costs the
// round nothing, and a server that comes back must be converged within an interval or two).
// Failed (it answered, the push did not work: a reload that fails, ...): the next two rounds,
// then doubling up to 60 s. `slow`, a try that failed only after waiting out a timeout (the host
// hangs, or its packets vanish): 1, 2, 4 ... intervals, up to 60 s, so that such a host cannot
// hold every round up by its host timeout. Refused host key or login: from 60 s up to 10
// minutes (a person must act; asking each round only fills the log). A change of what the
// server should get resets the count (watch/fleet).
double retry_delay(int failures, ServerState state, double interval, bool slow = false);

// What was last said about each subject ("database", "proof", a server's address, ...).
class Changes {
 public:
  // True when `state` differs from what was last said about `subject` (and remembers it).
  bool changed(const std::string& subject, const std::string& state);
  void forget(const std::string& subject) { last_.erase(subject); }

 private:
  std::map<std::string, std::string> last_;
};

// The report a watcher prints names each warning when it appears, not in every report: of
// `warnings`, those not in the last report printed (`said`, which then becomes `warnings`).
std::vector<std::string> fresh_warnings(const std::vector<std::string>& warnings,
                                        std::set<std::string>* said);

// userlist.txt and .pgpass follow the database's users: any user who may change their own
// password changes them, and each change costs every PgBouncer a reload. So a change of the
// users alone (the server's routes as it last had them) reaches a server at most once per
// users_every(--interval) seconds, the latest users then; a change of routes (a new primary,
// a database added or dropped, the server's row) is never held back, and takes the users along.
double users_every(double interval);  // max(interval, 10 s)

// One server's pace of users-only changes. Times are seconds on a steady clock.
class UsersPace {
 public:
  // Seconds until the server may be sent `routes` and `users` (digests): 0 = now. Only a change
  // of users alone, within `every` of the last one it took, waits.
  double wait(const std::string& routes, const std::string& users, double now, double every) const;
  // The server answered a push of them (current or, `updated`, changed there).
  void sent(const std::string& routes, const std::string& users, double now, bool updated);

 private:
  bool known_ = false;  // it answered a push since the watcher started
  std::string routes_, users_;
  double users_at_ = -std::numeric_limits<double>::infinity();  // when it last took a change of users alone
};

// The PgBouncer version of each app server (by address), as the last push or check that said
// one reported it: the watcher renders each server's files to its limits (pgbouncer/version). A
// report that says none (no console, nothing to do, garbage) changes nothing: an unchanged push
// does not ask, and must not move the render back and forth.
class VersionMemory {
 public:
  void learn(const std::vector<ServerReport>& reports);
  // The limits of every server whose version is known (render_all's `limits`).
  ServerLimits limits() const;

 private:
  std::map<std::string, PgBouncerVersion> versions_;
};

}  // namespace pgdeploy
