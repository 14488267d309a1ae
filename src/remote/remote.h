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

// A command that keeps running on a login and answers one request after another (the watcher's
// resident push program). Each answer ends with a line that starts with the `end` given.
class Stream {
 public:
  virtual ~Stream() = default;
  // Sends `input` and reads until the end line has arrived; r.out is the whole answer. Not ok:
  // the stream is broken (lost, timed out, garbled) and must be dropped.
  virtual ExecResult exchange(const std::string& input, const std::string& end,
                              const Deadline& deadline) = 0;
  // Starts `command` on a login that did not fail, to be fed with Stream::exchange; null with
  // `failed` set when it cannot start. The stream must not outlive the login.
  // The default starts nothing: for remotes that only run commands.
  virtual std::unique_ptr<Stream> start(Login&, const std::string&, const Deadline&,
                                        ExecResult* failed) {
    failed->stage = "exec";
    failed->error = "this remote keeps no program running";
    return nullptr;
  }
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
  // Starts `command` on a login that did not fail, to be fed with Stream::exchange; null with
  // `failed` set when it cannot start. The stream must not outlive the login.
  // The default starts nothing: for remotes that only run commands.
  virtual std::unique_ptr<Stream> start(Login&, const std::string&, const Deadline&,
                                        ExecResult* failed) {
    failed->stage = "exec";
    failed->error = "this remote keeps no program running";
    return nullptr;
  }
};

}  // namespace pgdeploy
