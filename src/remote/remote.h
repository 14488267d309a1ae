// The narrow interface between deploy logic and the network: log in to one host, then run one
// command there, feeding it `input`, within a deadline. SshRemote is the real one; unit tests use
// fakes. The two steps are apart so that logins can be made while the primary is still being
// proven, and only the command is left when the files are known. Transport only: hosts, users,
// bytes and deadlines; what the bytes say is pgbouncer/push's business.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "util/deadline.h"

namespace pgdeploy {

// Where to log in: a name or address (an alias of ~/.ssh/config works: it may set the port),
// and the user.
struct Host {
  std::string address;
  std::string user;
};

struct ExecResult {
  bool ok = false;    // the command ran and its exit status arrived
  std::string stage;  // where it failed: connect, handshake, host key, auth, exec, timeout,
                      // output (too long, or a garbled frame: nothing of it trusted)
  std::string error;  // why, for an operator
  std::string note;   // something worth saying even on success (a newly recorded host key)
  int exit_status = -1;
  std::string out, err;
  // The channel's bytes this call wrote and read (a stream's exchange: the request, the framed
  // answer), for the watcher's metrics.
  uint64_t bytes_sent = 0, bytes_received = 0;
};

// Why a login failed, and what is worth saying about it anyway.
struct LoginFailure {
  std::string stage;  // connect, handshake, host key, auth
  std::string error;
  std::string note;  // a host key recorded before the login failed
};

// A command that keeps running on a session and answers one request after another (the
// watcher's resident push program), each answer one frame (remote/frame.h).
class Stream {
 public:
  virtual ~Stream() = default;
  // Sends `input` and reads exactly one frame; r.out is the answer it holds. Not ok: the stream
  // is broken (lost, timed out, a garbled or too long frame, bytes where no answer was due) and
  // must be dropped: where the next answer would start is unknown.
  virtual ExecResult exchange(const std::string& input, const Deadline& deadline) = 0;
};

// One logged-in host. Logging out is the destructor's job.
class Session {
 public:
  virtual ~Session() = default;
  // Runs `command`; the login's note (a newly recorded host key) comes back in ExecResult::note.
  virtual ExecResult run(const std::string& command, const std::string& input, const Deadline& deadline) = 0;
  // Starts `command` to be fed with Stream::exchange; null with `failed` set when it cannot
  // start. The stream must not outlive the session. The default starts nothing.
  virtual std::unique_ptr<Stream> start(const std::string&, const Deadline&, ExecResult* failed) {
    failed->stage = "exec";
    failed->error = "this remote keeps no program running";
    return nullptr;
  }
};

class Remote {
 public:
  virtual ~Remote() = default;
  // A session, or null with `failure` filled in.
  virtual std::unique_ptr<Session> login(const Host& host, const Deadline& deadline,
                                         LoginFailure* failure) = 0;
};

}  // namespace pgdeploy
