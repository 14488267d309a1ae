// Remote over SSH with libssh: our own TCP connect (so the connect timeout is only that), host
// keys checked against known_hosts, public-key authentication; then one exec channel.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "remote/remote.h"

namespace pgdeploy {

// The most a server may answer, stdout and stderr together: the push program says a few lines;
// a host that streams without end must not grow the agent (on a database node) without bound.
constexpr size_t kMaxRemoteOutput = 1 << 20;

struct SshSettings {
  double connect_timeout = 1.0;         // TCP connect only
  bool accept_new_host_keys = false;    // record unknown host keys (accept-new) instead of refusing
  std::string known_hosts;              // "" = libssh's default, ~/.ssh/known_hosts
  std::vector<std::string> identities;  // private key files to try first; "" = the defaults
};

class SshRemote : public Remote {
 public:
  explicit SshRemote(SshSettings settings);
  ~SshRemote() override;
  std::unique_ptr<Session> login(const Host& host, const Deadline& deadline, LoginFailure* failure) override;

 private:
  struct Keys;
  SshSettings settings_;
  std::unique_ptr<Keys> keys_;  // loaded once, shared by every connection
  std::once_flag keys_loaded_;
  const Keys& keys();
  // The @revoked keys of each known_hosts file in use, read once per run.
  bool revoked(const std::string& file, const std::string& blob);
  std::mutex revoked_mu_;
  std::map<std::string, std::set<std::string>> revoked_;
};

}  // namespace pgdeploy
