// The repmgr hook hands its event to the local watcher (pgdeploy watch), over a Unix socket
// beside the lock file, and answers with the watcher's report and exit code. A watcher never
// makes the hook slower than the one-shot it replaces, and the hook's exit code always says what
// happened:
//
// - The hook gives the watcher at most handoff_wait(): what its --deadline leaves once a whole
//   one-shot's time (its own timeouts allow it 3 x --probe-timeout for the database and the
//   proof, then --host-timeout for the push) is kept back. When that leaves less than
//   kHandoffMinWait: no hand-over, the one-shot at once. A check is handed over the same way.
// - The watcher says at once whether it takes the event; a hook that hears nothing within
//   kHandoffAck (no watcher, a hung or stopped one) does the one-shot itself, as does one that
//   is declined, or told afterwards that the watcher did not push after all.
// - The watcher answers within that wait less kHandoffAck: a round under way is cut short for
//   the hook and its round starts at once, bounded by the hook's wait; a server still busy with
//   the round cut short is waited for only as long as the hook's round allows (watch/fleet). A
//   hook whose time passed while another hook's round ran is told "not pushed" (the one-shot).
// - A watcher that took the event and did not answer in time may have pushed: the hook says so
//   ("handed over to the watcher, no answer") and does the one-shot with the time it
//   kept back; that one-shot refused exits 4, never 1 ("nothing was written" is not known).
// - Only our own user is believed: the socket's directory must pass private_directory()
//   (util/lock), and the listener's uid (SO_PEERCRED) must be ours, else the hook does not hand
//   over. The watcher takes events only from its own uid, the socket is 0600.
//
//   hook -> watcher:  "PGDEPLOY-HOOK 2 <text|json|status|check-text|check-json> <wait ms>\n<line>\n"
//                     (the line: the event; status: what the watcher last saw, answered at once,
//                     nothing run; check: pgdeploy check run by the watcher over its warm
//                     sessions, the line its parameters, see agent/check.h check_handoff_line)
//   watcher -> hook:  "ACCEPTED\n" or "DECLINED <why>\n", then, once the round is done,
//                     "EXIT <code> <out|err> <length>\n<length bytes of report>"; ACCEPTED is
//                     always written before EXIT, and nothing after the connection is closed.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "util/deadline.h"

namespace pgdeploy {

inline constexpr double kHandoffAck = 0.2;      // seconds the hook waits for ACCEPTED
inline constexpr double kHandoffMinWait = 1.0;  // seconds: less, and the hook does not hand over

// Seconds the hook may wait for the watcher, when `left` seconds remain of its deadline and its
// own one-shot needs `one_shot` seconds; 0: do not hand over.
double handoff_wait(double left, double one_shot);

// "<lock file>.sock", or "" when that path is too long for a Unix socket (no handoff then).
std::string handoff_socket(const std::string& lock_file);

struct HookRequest {
  enum class Ask {
    event,   // a repmgr event: the watcher's round, with its report and exit code
    status,  // what the watcher last saw (pgdeploy check), answered at once, nothing run
    check,   // pgdeploy check, run by the watcher over its warm sessions
  };
  Ask ask = Ask::event;
  bool json = false;  // the answer as JSON (event, check)
  std::string line;   // event: as the report shows it ("standby_promote on node 2: ..."); check:
                      // its parameters (agent/check.h, check_handoff_line)
  double wait = 0;    // seconds the hook waits for the answer (0: until its deadline)
};

struct HookAnswer {
  int code = 0;
  bool to_stderr = false;
  std::string text;
};

enum class Handoff {
  declined,    // no watcher took the event (none, declined, hung, not ours, did not push after
               // all): nothing was done, the hook does the one-shot
  answered,    // the watcher's report and exit code are in the answer
  unanswered,  // the watcher took the event and gave no answer in time: it may have pushed
};

// The hook's side: waits for the answer until `deadline` and request.wait. `why`, when not
// null, gets what a hook should warn about (a listener of another user) or "".
Handoff hand_off(const std::string& socket_path, const HookRequest& request, const Deadline& deadline,
                 HookAnswer* answer, std::string* why = nullptr);

// The watcher's side: listens on the socket; each connection's request goes to `take`, on the
// listening thread, which returns "" to accept (and later answers through the reply function
// it is given, from any thread, at any time: even before `take` returns) or the reason to
// decline. A reply dropped uncalled closes the connection (the hook: no answer).
class HandoffServer {
 public:
  using Reply = std::function<void(const HookAnswer&)>;
  using Take = std::function<std::string(const HookRequest&, Reply reply)>;
  using Status = std::function<std::string()>;
  // `status` answers a status request, on the listening thread.
  HandoffServer(Take take, Status status);
  ~HandoffServer();
  // Binds `path` (a stale socket there is replaced: the caller holds the watcher's lock) and
  // starts listening; false with the reason (also when private_directory() refuses its
  // directory).
  bool start(const std::string& path, std::string* err);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgdeploy
