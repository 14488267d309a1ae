// The worker pool: every app server at once, at most `parallel` at a time, one server's trouble
// never holding up another.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "cluster/facts.h"
#include "deploy/config.h"
#include "deploy/files.h"
#include "deploy/outcome.h"
#include "pgbouncer/push.h"
#include "remote/remote.h"
#include "util/deadline.h"

namespace pgdeploy {

// One server's request, however it travels: `send` delivers it and returns the program's answer.
// Builds the request (a config error is the server's failure; `held` as build_request takes it)
// and maps the answer.
using Send = std::function<ExecResult(const PushRequest&, const Deadline&)>;
ServerReport push_to(const AppServer& server, const Rendered& files, const DeployConfig& config,
                     const Send& send, const Deadline& deadline,
                     const std::map<std::string, std::string>* held = nullptr);

// Pushes to every app server in parallel, at most `parallel` at once. Logging in starts at
// construction, so the logins can be made while the caller still proves the primary; push() then
// has only the request left to send on each. Destroyed without push() (a refusal, nothing to do),
// it waits for the logins under way and logs out without running anything.
class Deployment {
 public:
  Deployment(std::vector<AppServer> servers, int parallel, double host_timeout, Remote& remote,
             const Deadline& run_deadline);
  ~Deployment();
  Deployment(const Deployment&) = delete;
  Deployment& operator=(const Deployment&) = delete;

  // Reports come back in the order of the servers. Call at most once. In check mode (config.mode)
  // each server is only asked, over the same logins and within the same deadlines.
  std::vector<ServerReport> push(const Rendered& files, const DeployConfig& config);

 private:
  void work();

  std::vector<AppServer> servers_;
  double host_timeout_;
  Remote& remote_;
  Deadline run_deadline_;
  std::vector<ServerReport> reports_;
  std::atomic<size_t> next_{0};
  std::mutex mu_;
  std::condition_variable go_;
  bool decided_ = false;             // push() was called, or the deployment was dropped
  const Rendered* files_ = nullptr;  // set by push(): the work to do; null: none
  const DeployConfig* config_ = nullptr;
  std::vector<std::thread> pool_;
};

}  // namespace pgdeploy
