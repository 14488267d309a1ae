// The narrow interface between deploy logic and the network: log in to one app server, then run one
// command there, feeding it `input`, within a deadline. SshRemote is the real one; unit tests use
// fakes. The two steps are apart so that logins can be made while the primary is still being
// proven, and only the command is left when the files are known.
#pragma once

#include <memory>
#include <string>

#include "cluster/facts.h"
#include "util/deadline.h"

namespace pgdeploy {

struct ExecResult {
  bool ok = false;      // the command ran and its exit status arrived
  std::string stage;    // where it failed: connect, handshake, host key, auth, exec, timeout
  std::string error;    // why, for an operator
  std::string note;     // something worth saying even on success (a newly recorded host key)
  int exit_status = -1;
  std::string out, err;
};

// One app server, logged in, or why not (failed.stage set). Logging out is the destructor's job.
struct Login {
  explicit Login(AppServer s) : server(std::move(s)) {}
  virtual ~Login() = default;
  AppServer server;
  ExecResult failed;  // stage and error when the login failed; note in any case
};

class Remote {
 public:
  virtual ~Remote() = default;
  // The default logs in nowhere: for remotes that need no login.
  virtual std::unique_ptr<Login> login(const AppServer& server, const Deadline&) {
    return std::make_unique<Login>(server);
  }
  // Runs `command` on a login that did not fail.
  virtual ExecResult run(Login& login, const std::string& command, const std::string& input,
                         const Deadline& deadline) = 0;
};

}  // namespace pgdeploy
