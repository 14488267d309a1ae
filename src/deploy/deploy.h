// Deploy orchestration: render every server's files once, push them to all app servers in
// parallel (a bounded worker pool), one server's trouble never holding up another.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster/conninfo.h"
#include "cluster/facts.h"
#include "remote/push_script.h"
#include "remote/remote.h"
#include "render/token.h"
#include "util/deadline.h"

namespace pgdeploy {

struct DeployConfig {
  std::string cluster;
  std::string include_dir = "/etc/pgbouncer/databases";  // <cluster>.ini is written here
  std::string userlist = "/etc/pgbouncer/userlist.txt";
  std::string pgpass = "~/.pgpass";   // on the app server
  std::string reload_command;         // "" = by user: root runs service, others sudo -n service
  bool force = false;
  bool drain_sessions = false;  // PAUSE (bounded) instead of KILL when the primary moved
  int pause_wait_seconds = 2;
  int parallel = 32;
  double host_timeout = 5.0;
  PushRequest::Mode mode = PushRequest::Mode::push;  // check: ask, read only (pgdeploy check, --dry-run)
};

// The files for every server, rendered once: they differ only by application_name.
struct Rendered {
  Token token;
  std::map<std::string, TokenedFile> includes;  // application_name -> include file
  TokenedFile userlist;
  TokenedFile pgpass;                            // empty content: no local ~/.pgpass
  Endpoint primary;                              // where every include file routes
  std::vector<std::string> listed;               // databases with a line of their own
  std::vector<std::string> fallback;             // databases routed through the "*" line
  std::vector<std::string> skipped;             // names no file format can carry
};

Rendered render_all(const ClusterFacts& facts, const Endpoint& primary, const Token& token,
                    const std::string& local_pgpass);

// The request one server gets, or false with what in its app_servers row cannot be sent
// (admin_conninfo that libpq rejects or psql cannot take from the environment, ...).
bool build_request(const AppServer& server, const Rendered& files, const DeployConfig& config,
                   PushRequest* out, std::string* err);

struct ServerReport {
  AppServer server;
  enum class Result { updated, unchanged, skipped_newer, failed };
  Result result = Result::failed;
  std::vector<std::string> changed;  // paths replaced
  bool reloaded = false;
  bool confirmed = false;  // PgBouncer's admin console showed the new routes after the reload
  std::string sessions;  // "cut" / "not cut: why" / "" (primary unchanged)
  std::string error;     // "stage: detail" when failed; the newer header when skipped
  std::string note;
  double seconds = 0;
  CheckAnswer check;  // in check mode: what the server answered (result unchanged, or failed);
                      // `changed` then lists the files a deploy would replace, and
  std::string diff;   // the include file's change as a unified diff ("" = none)
};

// What every server would get, in one digest: the primary, the timeline, each file's content, the
// servers and how they are reached and reloaded. Not the generation: a later run that would push
// the same has the same fingerprint.
std::string deploy_fingerprint(const std::vector<AppServer>& servers, const Rendered& files,
                               const DeployConfig& config);

// One server's push, however the request travels: `send` delivers it and returns the program's
// answer. Builds the request (a config error is the server's failure), maps the answer.
using Send = std::function<ExecResult(const PushRequest&, const Deadline&)>;
ServerReport push_to(const AppServer& server, const Rendered& files, const DeployConfig& config,
                     const Send& send, const Deadline& deadline);

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
  bool decided_ = false;  // push() was called, or the deployment was dropped
  const Rendered* files_ = nullptr;  // set by push(): the work to do; null: none
  const DeployConfig* config_ = nullptr;
  std::vector<std::thread> pool_;
};

// Deployment and push() in one.
std::vector<ServerReport> deploy_all(const std::vector<AppServer>& servers, const Rendered& files,
                                     const DeployConfig& config, Remote& remote,
                                     const Deadline& run_deadline);

}  // namespace pgdeploy
