#include "deploy/deployment.h"

#include <algorithm>

#include "deploy/outcome.h"
#include "deploy/request.h"

namespace pgdeploy {
namespace {
constexpr int kAnswerMarginMs = 500;
}  // namespace

ServerReport push_to(const AppServer& server, const Rendered& files, const DeployConfig& config,
                     const Send& send, const Deadline& deadline,
                     const std::map<std::string, std::string>* held) {
  ServerReport rep;
  rep.server = server;
  PushRequest req;
  std::string why;
  if (!build_request(server, files, config, &req, &why, held)) {
    rep.error = "config: " + why;
    return rep;
  }
  // The program's waits (lock, console) end before ours, so that its answer can still arrive.
  req.budget_ms = std::max(0, deadline.remaining_ms() - kAnswerMarginMs);
  ExecResult x = send(req, deadline);
  rep.note = x.note;
  if (!x.ok) {
    rep.error = x.stage + ": " + x.error;
    return rep;
  }
  if (req.mode == PushRequest::Mode::check)
    take_check_answer(parse_check_output(x.exit_status, x.out, x.err), req.files.front().path,
                      files.includes.at(server.application_name).content, files.token, config.force, &rep);
  else take_push_answer(parse_push_output(x.exit_status, x.out, x.err), &rep);
  return rep;
}

Deployment::Deployment(std::vector<AppServer> servers, int parallel, double host_timeout, Remote& remote,
                       const Deadline& run_deadline)
    : servers_(std::move(servers)),
      host_timeout_(host_timeout),
      remote_(remote),
      run_deadline_(run_deadline),
      reports_(servers_.size()) {
  size_t n = std::min(servers_.size(), static_cast<size_t>(std::max(1, parallel)));
  for (size_t t = 0; t < n; ++t) pool_.emplace_back([this] { work(); });
}

Deployment::~Deployment() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    decided_ = true;
  }
  go_.notify_all();
  for (auto& t : pool_) t.join();
}

std::vector<ServerReport> Deployment::push(const Rendered& files, const DeployConfig& config) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    files_ = &files;
    config_ = &config;
    decided_ = true;
  }
  go_.notify_all();
  for (auto& t : pool_) t.join();
  pool_.clear();
  return reports_;
}

void Deployment::work() {
  for (size_t i; (i = next_++) < servers_.size();) {
    ServerReport& rep = reports_[i];
    rep.server = servers_[i];
    if (run_deadline_.expired()) {
      rep.error = "not attempted: the run's deadline had passed";
      continue;
    }
    if (servers_[i].address.empty()) {
      rep.error = "config: ip_addr is empty";
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (decided_ && !files_) return;  // dropped
    }
    // The server's own time counts against --host-timeout; waiting for the proof does not.
    auto start = Clock::now();
    LoginFailure failure;
    auto session = remote_.login(Host{servers_[i].address, servers_[i].user},
                                 Deadline::after(host_timeout_).min(run_deadline_), &failure);
    double login_seconds = seconds_since(start);
    {
      std::unique_lock<std::mutex> lock(mu_);
      go_.wait(lock, [this] { return decided_; });
      if (!files_) return;  // dropped: log out, start no more logins
    }
    if (!session) {
      rep.note = failure.note;
      rep.error = failure.stage + ": " + failure.error;
    } else {
      auto pushed = Clock::now();
      auto send = [&](const PushRequest& req, const Deadline& d) {
        return session->run(push_command(req), push_payload(req), d);
      };
      rep = push_to(servers_[i], *files_, *config_, send,
                    Deadline::after(std::max(0.0, host_timeout_ - login_seconds)).min(run_deadline_));
      rep.seconds = seconds_since(pushed);
    }
    rep.seconds += login_seconds;
  }
}

}  // namespace pgdeploy
