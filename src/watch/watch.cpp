#include "watch/watch.h"

#include <signal.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <ostream>

#include "report/exit_codes.h"
#include "util/handoff.h"
#include "util/lock.h"
#include "util/text.h"
#include "watch/metrics_server.h"
#include "watch/round.h"

namespace pgdeploy {
namespace {

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

int run_watch(const Options& opts, Database& db, const MakeRemote& make_remote, std::ostream& out,
              std::ostream& err) {
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
  // A hook or a check handed over ends the wait between rounds: SIGUSR1, taken below.
  Watcher watcher(
      opts, db, make_remote, [] { kill(getpid(), SIGUSR1); }, out, err);
  std::unique_ptr<MetricsServer> server;
  if (!opts.metrics_listen.empty()) {
    server = std::make_unique<MetricsServer>([&watcher] { return watcher.metrics(); });
    if (!server->start(opts.metrics_listen, &why)) {
      err << "pgdeploy: " << why << "\n";
      return kExitRefused;
    }
  }
  // The repmgr hook on this node hands its events over here (util/handoff).
  HandoffServer hooks([&watcher](const HookRequest& r,
                                 HandoffServer::Reply reply) { return watcher.take(r, std::move(reply)); },
                      [&watcher] { return watcher.status_line(); });
  std::string socket = handoff_socket(opts.lock_file);
  if (socket.empty() || !hooks.start(socket, &why))
    watcher.log("warning: hooks cannot hand their events over: " +
                (socket.empty() ? "the lock file's path is too long for a socket" : why));
  watcher.log("watching cluster " + opts.cluster + " every " + std::to_string(opts.interval).substr(0, 5) +
              " s" + (server ? ", metrics on http://" + opts.metrics_listen + "/metrics" : ""));
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
