#include "watch/fleet.h"

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <optional>
#include <thread>

#include "deploy/deployment.h"
#include "deploy/fingerprint.h"
#include "deploy/request.h"
#include "pgbouncer/push.h"
#include "pgbouncer/token.h"

namespace pgdeploy {
namespace {

constexpr double kSlowTry = 1.0;  // seconds: a failed try this long waited out a timeout

std::string key_of(const AppServer& s) { return s.user + "@" + s.address; }

// What routes the server, in one digest: its row, the primary and its include file; all it
// gets but the users (watch/state: UsersPace).
std::string routes_of(const AppServer& s, const Rendered& files) {
  auto include = files.includes.find(s.application_name);
  std::string all = include == files.includes.end() ? "" : include->second.digest;
  // Appended piece by piece (GCC bug 105329, see deploy/fingerprint.cpp).
  all.append("|")
      .append(std::to_string(files.token.primary_id))
      .append("|")
      .append(std::to_string(files.token.timeline));
  append_row(&all, s);
  return digest_of(all);
}

std::string users_of(const AppServer& s, const Rendered& files) {
  return files.userlist_for(s).digest + "|" + files.pgpass.digest;
}

double seconds_of(Clock::time_point t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); }

}  // namespace

size_t Fleet::sessions() {
  std::lock_guard<std::mutex> guard(map_mu_);
  size_t n = 0;
  for (const auto& [key, w] : warm_) n += w->open;
  return n;
}

std::vector<Fleet::Result> Fleet::keep_warm(const std::vector<AppServer>& servers, Remote& remote,
                                            const Deadline& deadline) {
  return each(servers, nullptr, DeployConfig{}, remote, deadline, false);
}

std::vector<Fleet::Result> Fleet::push(const std::vector<AppServer>& servers, const Rendered& files,
                                       const DeployConfig& config, Remote& remote, const Deadline& deadline,
                                       bool now) {
  return each(servers, &files, config, remote, deadline, now);
}

std::vector<ServerReport> Fleet::check(const std::vector<AppServer>& servers, const Rendered& files,
                                       const DeployConfig& config, Remote& remote, const Deadline& deadline) {
  std::vector<ServerReport> reports;
  for (auto& r : each(servers, &files, config, remote, deadline, true))
    reports.push_back(std::move(r.report));
  return reports;
}

struct Fleet::Job {
  Job(const std::vector<AppServer>& s, const Rendered* f, const DeployConfig& c, Remote& r, const Deadline& d,
      bool n)
      : servers(s),
        files(f ? std::make_optional(*f) : std::nullopt),
        config(c),
        remote(r),
        deadline(d),
        now(n),
        results(s.size()),
        done(s.size(), false) {}
  // Copies: the workers of a push cut short go on after each() has returned.
  const std::vector<AppServer> servers;
  const std::optional<Rendered> files;
  const DeployConfig config;
  Remote& remote;  // lives until drop_all() has waited for every worker
  const Deadline deadline;
  const bool now;
  std::vector<std::shared_ptr<Warm>> lanes;
  std::mutex mu;  // guards the rest
  std::condition_variable changed;
  std::vector<Result> results;
  std::vector<bool> done;
  size_t next = 0;
  int running = 0;  // workers not yet ended
  bool cut = false;
};

void Fleet::cut() {
  std::lock_guard<std::mutex> guard(cut_mu_);
  if (!cuttable_) {
    cut_next_ = true;
    return;
  }
  {
    std::lock_guard<std::mutex> job(cuttable_->mu);
    cuttable_->cut = true;
  }
  cuttable_->changed.notify_all();
}

void Fleet::uncut() {
  std::lock_guard<std::mutex> guard(cut_mu_);
  cut_next_ = false;
}

void Fleet::drop_all() {
  std::vector<std::pair<std::shared_ptr<Job>, std::vector<std::thread>>> left;
  {
    std::lock_guard<std::mutex> guard(cut_mu_);
    left.swap(stragglers_);
  }
  for (auto& [job, threads] : left)
    for (auto& t : threads) t.join();  // each within its server's deadline
  std::lock_guard<std::mutex> guard(map_mu_);
  warm_.clear();
}

void Fleet::run(Job& job) {
  for (;;) {
    size_t i;
    {
      std::lock_guard<std::mutex> guard(job.mu);
      if (job.cut || job.next >= job.servers.size()) break;
      i = job.next++;
    }
    // The lane is waited for within this server's own time: a worker of a push cut short may
    // still be on it (a host that hangs), and a hook's push must not wait for more than that.
    Deadline deadline = Deadline::after(host_timeout_).min(job.deadline);
    auto start = Clock::now();
    Result r;
    std::unique_lock<std::timed_mutex> lane(job.lanes[i]->lane, std::defer_lock);
    if (lane.try_lock_for(std::chrono::milliseconds(deadline.remaining_ms()))) {
      r = work(job.servers[i], *job.lanes[i], job.files ? &*job.files : nullptr, job.config, job.remote,
               deadline, job.now);
      lane.unlock();
    } else {
      r.report.server = job.servers[i];
      r.report.error =
          "timeout: an earlier push to it has not ended within this push's time "
          "(a host that hangs?)";
      r.report.seconds = seconds_since(start);
      r.state = ServerState::unreachable;
    }
    std::lock_guard<std::mutex> guard(job.mu);
    job.results[i] = std::move(r);
    job.done[i] = true;
  }
  std::lock_guard<std::mutex> guard(job.mu);
  --job.running;
  job.changed.notify_all();
}

std::vector<Fleet::Result> Fleet::each(const std::vector<AppServer>& servers, const Rendered* files,
                                       const DeployConfig& config, Remote& remote, const Deadline& deadline,
                                       bool now) {
  auto job = std::make_shared<Job>(servers, files, config, remote, deadline, now);
  // Forget what is no longer listed (a disabled or deleted row): its session closes now, or
  // when a worker still on it is done.
  {
    std::lock_guard<std::mutex> guard(map_mu_);
    std::map<std::string, std::shared_ptr<Warm>> kept;
    for (const AppServer& s : servers) {
      std::shared_ptr<Warm>& w = kept[key_of(s)];
      if (!w) {
        auto it = warm_.find(key_of(s));
        w = it != warm_.end() ? it->second : std::make_shared<Warm>();
      }
      job->lanes.push_back(w);
    }
    warm_ = std::move(kept);
  }

  // A push of the rounds may be cut for a hook; a hook's own push, a check or a ping never is.
  bool cuttable = files && config.mode == PushRequest::Mode::push && !now;
  {
    std::lock_guard<std::mutex> guard(cut_mu_);
    // Reap the workers of pushes cut earlier that have ended since.
    std::erase_if(stragglers_, [](auto& s) {
      {
        std::lock_guard<std::mutex> job(s.first->mu);
        if (s.first->running > 0) return false;
      }
      for (auto& t : s.second) t.join();
      return true;
    });
    if (cuttable) {
      job->cut = cut_next_;  // a hook came before this push began: it waits for none
      cut_next_ = false;
      cuttable_ = job;
    }
  }
  std::vector<std::thread> pool;
  size_t n = job->cut ? 0 : std::min(servers.size(), static_cast<size_t>(std::max(1, parallel_)));
  job->running = static_cast<int>(n);
  for (size_t t = 0; t < n; ++t) pool.emplace_back([this, job] { run(*job); });

  std::vector<Result> results(servers.size());
  bool ended;
  {
    std::unique_lock<std::mutex> guard(job->mu);
    job->changed.wait(guard, [&] { return job->running == 0 || job->cut; });
    ended = job->running == 0;
    for (size_t i = 0; i < servers.size(); ++i) {
      if (job->done[i]) {
        results[i] = job->results[i];
        continue;
      }
      // Cut short for a hook: not asked in this round; a worker still on it finishes in its lane.
      results[i].report.server = servers[i];
      results[i].report.error = "busy: this round was cut short for a hook's round";
      results[i].state = ServerState::unreachable;
      results[i].asked = false;
    }
  }
  std::lock_guard<std::mutex> guard(cut_mu_);
  if (cuttable_ == job) cuttable_.reset();
  if (ended) {
    for (auto& t : pool) t.join();
  } else {
    stragglers_.emplace_back(job, std::move(pool));
  }
  return results;
}

Fleet::Result Fleet::work(const AppServer& server, Warm& w, const Rendered* files, const DeployConfig& config,
                          Remote& remote, const Deadline& deadline, bool now) {
  auto start = Clock::now();
  bool checking = files && config.mode == PushRequest::Mode::check;  // leaves the schedule alone
  bool pushing = files && !checking;
  std::string routes = pushing ? routes_of(server, *files) : "",
              users = pushing ? users_of(server, *files) : "";
  if (pushing && routes != w.wanted) {  // not a change of users: a password changed in a loop resets nothing
    w.wanted = routes;
    w.failures = 0;
    w.retry_at = {};
  }
  // It answered the last push, so its routes are as it should have them: a change of its users
  // alone waits for the rest of their period (watch/state: UsersPace). A hook's round does not.
  bool answered = w.last == ServerState::current || w.last == ServerState::updated;
  double users_wait = pushing && !now && answered
                          ? w.pace.wait(routes, users, seconds_of(start), users_every(interval_))
                          : 0;
  Result res;
  res.report.server = server;
  auto count = [this](const ExecResult& x) {
    bytes_sent_ += x.bytes_sent;
    bytes_received_ += x.bytes_received;
  };
  auto failed = [&](const ExecResult& x) {
    add_note(&res.report.note, x.note);
    res.report.error = x.stage + ": " + x.error;
  };
  if (server.address.empty()) {
    res.report.error = "config: ip_addr is empty";
  } else if (!now && start < w.retry_at) {
    double wait = std::chrono::duration<double>(w.retry_at - start).count();
    res.report.error = "waiting: next try in " + std::to_string(static_cast<long>(std::ceil(wait))) +
                       " s; last: " + w.last_error;
    res.state = w.last;
    res.asked = false;
    return res;
  } else if (users_wait > 0) {
    res.report.result = ServerReport::Result::unchanged;
    res.report.note = "a change of database users alone, held back " +
                      std::to_string(static_cast<long>(std::ceil(users_wait))) + " s (one at most every " +
                      std::to_string(static_cast<long>(users_every(interval_))) + " s)";
    res.state = ServerState::current;
    res.asked = false;
    return res;
  } else if (!w.stream) {
    LoginFailure failure;
    w.login = remote.login({server.address, server.user}, deadline, &failure);
    ++logins_;
    if (w.connected_before) ++reconnects_;
    ExecResult why;
    if (w.login) {
      w.stream = w.login->start(serve_command(), deadline, &why);
      w.held.clear();
    } else {
      why.stage = failure.stage;
      why.error = failure.error;
    }
    res.report.note = failure.note;  // a newly recorded host key
    if (!w.stream) {
      w.login.reset();
      failed(why);
    } else {
      w.connected_before = true;
    }
  }
  // An exchange that failed (lost, timed out, a garbled frame) leaves the stream at an unknown
  // place: whatever the report's stage, the session is made again, never read on out of step.
  bool lost = false;
  if (w.stream && !files) {  // keeping warm: a ping, answered by the resident program itself
    ExecResult x = w.stream->exchange(ping_payload(), deadline);
    count(x);
    lost = !x.ok || x.out != kPingAnswer;
    if (x.ok && x.out == kPingAnswer) res.report.result = ServerReport::Result::unchanged;
    else if (x.ok) res.report.error = "exec: the ping was answered with garbage";
    else failed(x);
  } else if (w.stream) {
    // A file whose content this stream's program already got travels as its header line alone
    // (build_request with w.held): an idle round's bytes and copies do not grow with the files.
    // Should the program not hold it after all, it says so (nothing done) and the request goes
    // again, whole.
    auto send = [&](const PushRequest& req, const Deadline& d) {
      ExecResult x = w.stream->exchange(push_payload(req), d);
      count(x);
      PushRequest whole;
      std::string why;
      if (x.ok && asks_for_content(x.out) && build_request(server, *files, config, &whole, &why)) {
        whole.budget_ms = req.budget_ms;
        x = w.stream->exchange(push_payload(whole), d);
        count(x);
      }
      lost = lost || !x.ok;
      w.held.clear();
      if (x.ok)
        for (const auto& f : req.files) w.held[f.path] = f.digest;
      return x;
    };
    std::string note = res.report.note;
    res.report = push_to(server, *files, config, send, deadline, &w.held);
    if (!note.empty()) res.report.note = note + (res.report.note.empty() ? "" : "; " + res.report.note);
  }
  res.report.seconds = seconds_since(start);
  res.state = state_of(res.report);
  if (lost || res.state == ServerState::unreachable || res.state == ServerState::refused) {
    w.stream.reset();  // nothing more on it can be trusted: a new session next time
    w.login.reset();
  }
  w.open = w.stream != nullptr;
  if (checking) return res;
  if (pushing && (res.state == ServerState::current || res.state == ServerState::updated))
    w.pace.sent(routes, users, seconds_of(Clock::now()), res.state == ServerState::updated);
  w.failures = failing(res.state) ? w.failures + 1 : 0;
  w.last = res.state;
  w.last_error = res.report.error;
  // A try that failed only after a second or more waited out a timeout (a connect that is never
  // answered, a host that hangs): tried again with back-off, not at the cost of every round.
  bool slow = failing(res.state) && res.report.seconds >= kSlowTry;
  w.retry_at = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                                  retry_delay(w.failures, res.state, interval_, slow)));
  return res;
}

}  // namespace pgdeploy
