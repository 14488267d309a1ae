// Remote over SSH with libssh: our own TCP connect (so the connect timeout is only that), host
// keys checked against known_hosts, public-key authentication; then one exec channel.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "remote/remote.h"

namespace pgdeploy {

struct SshSettings {
  double connect_timeout = 1.0;  // TCP connect only
  bool strict_host_keys = false;  // refuse unknown hosts instead of recording them
  std::string known_hosts;        // "" = libssh's default, ~/.ssh/known_hosts
  std::vector<std::string> identities;  // private key files to try first; "" = the defaults
};

class SshRemote : public Remote {
 public:
  explicit SshRemote(SshSettings settings);
  ~SshRemote() override;
  std::unique_ptr<Login> login(const AppServer& server, const Deadline& deadline) override;
  ExecResult run(Login& login, const std::string& command, const std::string& input,
                 const Deadline& deadline) override;

 private:
  struct Keys;
  SshSettings settings_;
  std::unique_ptr<Keys> keys_;  // loaded once, shared by every connection
};

}  // namespace pgdeploy
