// The watcher's app servers, each with a warm session: one SSH login and one resident push
// program (push.pl serve) kept across rounds, so that a round costs each server one request and
// one answer, and an idle round starts no process there. A lost session is made again, with
// its host key checked again, on the schedule of watch/state (retry_delay). A change of the
// database users alone reaches each server at most once per users_every(interval) (UsersPace).
//
// Each server is a lane: one worker at a time works on it. Rounds may overlap (a standby's pings
// run beside the watcher's loop; a push cut short for a hook leaves its workers to finish): a
// push then waits only for the lanes still busy, and only within its own deadline for each server
// (--host-timeout from when it turns to the server), so a host that hangs holds up its own lane
// and nothing else.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "deploy/config.h"
#include "deploy/files.h"
#include "deploy/outcome.h"
#include "remote/remote.h"
#include "watch/state.h"

namespace pgdeploy {

class Fleet {
 public:
  Fleet(int parallel, double host_timeout, double interval)
      : parallel_(parallel), host_timeout_(host_timeout), interval_(interval) {}
  ~Fleet() { drop_all(); }
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  struct Result {
    ServerReport report;
    ServerState state;  // a server not asked this round keeps the state that put it off
    bool asked = true;  // false: its retry time had not come (report.error says when it has)
  };
  // Pushes `files` to every server in parallel, over its warm session (made now if there is
  // none and its retry time has come). Sessions of servers no longer listed are closed.
  // `now`: every server is tried, whatever its retry time or users' pace (a hook waits for
  // this round). A server held back (retry time, users' pace) is not asked: `asked` false.
  std::vector<Result> push(const std::vector<AppServer>& servers, const Rendered& files,
                           const DeployConfig& config, Remote& remote, const Deadline& deadline,
                           bool now = false);
  // pgdeploy check over the same sessions (`config.mode` check): read only on every server, every
  // server asked now (a lost session made again), and no server's retry schedule changed.
  std::vector<ServerReport> check(const std::vector<AppServer>& servers, const Rendered& files,
                                  const DeployConfig& config, Remote& remote, const Deadline& deadline);
  // The same sessions, kept open with a ping each (a standby's watcher: when its node is
  // promoted, its first push needs no login). Sends no request, writes nothing anywhere.
  std::vector<Result> keep_warm(const std::vector<AppServer>& servers, Remote& remote,
                                const Deadline& deadline);
  // Ends the push under way (or, if none is, the next one until uncut()) at once, for a hook's
  // round to start now (util/handoff): the servers it has not finished are reported unreachable
  // and not asked, their workers finish in their lanes. A hook's own push (`now`) is never cut.
  // Any thread.
  void cut();
  void uncut();  // the hook's round has begun
  // Forgets every session (one still in use closes when its worker is done with it), after the
  // workers of a push cut short have finished: they may use the transport the caller replaces.
  void drop_all();
  size_t sessions();
  uint64_t logins() const { return logins_; }
  uint64_t reconnects() const { return reconnects_; }
  // The warm sessions' channel bytes, requests written and answers read, since the start.
  uint64_t bytes_sent() const { return bytes_sent_; }
  uint64_t bytes_received() const { return bytes_received_; }

 private:
  struct Warm {
    std::timed_mutex lane;          // held by the one worker on this server
    std::atomic<bool> open{false};  // stream is set: read by sessions() without the lane
    std::unique_ptr<Session> login;
    std::unique_ptr<Stream> stream;  // declared after the session: closed before it
    bool connected_before = false;
    // path -> digest of the content the program on `stream` got (pgbouncer/push_payload): such a
    // file travels as its header line alone. Emptied with every new stream.
    std::map<std::string, std::string> held;
    std::string wanted;  // its routes (its row, the primary, its include file): a change resets failures
    UsersPace pace;      // when a change of the users alone may reach it
    int failures = 0;
    ServerState last = ServerState::current;
    std::string last_error;
    Clock::time_point retry_at{};
  };
  struct Job;  // one call of each(), shared with its workers (which may outlive a cut)
  // files null: keep warm only.
  std::vector<Result> each(const std::vector<AppServer>& servers, const Rendered* files,
                           const DeployConfig& config, Remote& remote, const Deadline& deadline, bool now);
  void run(Job& job);  // a worker: takes the job's servers one after another
  // `deadline`: this server's (--host-timeout and the round's), the wait for its lane included.
  Result work(const AppServer& server, Warm& warm, const Rendered* files, const DeployConfig& config,
              Remote& remote, const Deadline& deadline, bool now);

  int parallel_;
  double host_timeout_, interval_;
  std::mutex map_mu_;                                  // guards warm_ (not the Warm: its lane does)
  std::map<std::string, std::shared_ptr<Warm>> warm_;  // by user@address: what a session is made to
  std::atomic<uint64_t> logins_{0}, reconnects_{0}, bytes_sent_{0}, bytes_received_{0};
  std::mutex cut_mu_;              // guards the three below
  std::shared_ptr<Job> cuttable_;  // the push under way that cut() ends
  bool cut_next_ = false;          // cut() came when none was under way
  std::vector<std::pair<std::shared_ptr<Job>, std::vector<std::thread>>> stragglers_;  // cut jobs' workers
};

}  // namespace pgdeploy
