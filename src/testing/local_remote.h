// Test helper: a Remote that runs the command with a local shell instead of over SSH, so the
// push program's logic is tested for real against a temporary directory.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "remote/remote.h"

namespace pgdeploy {

class LocalRemote : public Remote {
 public:
  // `shell` runs the command (like a login shell would); `env` lines "K=V" are added.
  LocalRemote(std::string shell, std::vector<std::string> env)
      : shell_(std::move(shell)), env_(std::move(env)) {}
  std::unique_ptr<Session> login(const Host&, const Deadline&, LoginFailure*) override;
  // The same as login() then run(): one command, no session kept.
  ExecResult run(const std::string& command, const std::string& input, const Deadline& deadline) const;
  // The same as login() then start(): a program kept running, on pipes.
  std::unique_ptr<Stream> start(const std::string& command, const Deadline& deadline,
                                ExecResult* failed) const;

 private:
  pid_t spawn(const std::string& command, int in[2], int out[2], int err[2]) const;
  std::string shell_;
  std::vector<std::string> env_;
};

// A fresh temporary directory, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& content);

}  // namespace pgdeploy
