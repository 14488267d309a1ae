// The narrow interface between deploy logic and the network: run one command on one app server,
// feeding it `input`, within a deadline. SshRemote is the real one; unit tests use fakes.
#pragma once

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

class Remote {
 public:
  virtual ~Remote() = default;
  virtual ExecResult run(const AppServer& server, const std::string& command,
                         const std::string& input, const Deadline& deadline) = 0;
};

}  // namespace pgdeploy
