// The repmgr hook hands its event to the local watcher (pgdeploy watch), over a Unix socket
// beside the lock file, and answers with the watcher's report and exit code. The watcher says
// at once whether it takes the event; a hook that hears nothing within kHandoffAck (no watcher,
// a hung or stopped one) does the one-shot itself, so a watcher never makes the hook slower
// than before, nor changes its exit codes.
//
//   hook -> watcher:  "PGDEPLOY-HOOK 1 <text|json|status|check-text|check-json>\n<line>\n"
//                     (the line: the event; status: what the watcher last saw, answered at once,
//                     nothing run; check: pgdeploy check run by the watcher over its warm
//                     sessions, the line its parameters, see agent.h check_handoff_line)
//   watcher -> hook:  "ACCEPTED\n" or "DECLINED <why>\n", then, once the round is done,
//                     "EXIT <code> <out|err> <length>\n<length bytes of report>"
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "util/deadline.h"

namespace pgdeploy {

inline constexpr double kHandoffAck = 0.2;  // seconds the hook waits for ACCEPTED

// "<lock file>.sock", or "" when that path is too long for a Unix socket (no handoff then).
std::string handoff_socket(const std::string& lock_file);

struct HookRequest {
  bool json = false;
  bool status = false;  // only ask what the watcher last saw (pgdeploy check)
  std::string event;  // as the report shows it: "standby_promote on node 2: ..."; a check's parameters
  bool check = false;   // pgdeploy check, run by the watcher
};

struct HookAnswer {
  int code = 0;
  bool to_stderr = false;
  std::string text;
};

// The hook's side: true with the watcher's answer; false (do the one-shot) when no watcher
// accepted at once, or it went away before answering.
bool hand_off(const std::string& socket_path, const HookRequest& request, const Deadline& deadline,
              HookAnswer* answer);

// The watcher's side: listens on the socket; each connection's request goes to `take`, on the
// listening thread, which returns "" to accept (and later answers through the reply function
// it is given) or the reason to decline.
class HandoffServer {
 public:
  using Reply = std::function<void(const HookAnswer&)>;
  using Take = std::function<std::string(const HookRequest&, Reply reply)>;
  using Status = std::function<std::string()>;
  // `status` answers a status request, on the listening thread.
  HandoffServer(Take take, Status status);
  ~HandoffServer();
  // Binds `path` (a stale socket there is replaced: the caller holds the watcher's lock) and
  // starts listening; false with the reason.
  bool start(const std::string& path, std::string* err);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgdeploy
