// Test helper: a Remote that runs the command with a local shell instead of over SSH, so the
// push script's logic is tested for real against a temporary directory.
#pragma once

#include <string>

#include "remote/remote.h"

namespace pgdeploy {

class LocalRemote : public Remote {
 public:
  // `shell` runs the command (like a login shell would); `env` lines "K=V" are added.
  LocalRemote(std::string shell, std::vector<std::string> env) : shell_(std::move(shell)), env_(std::move(env)) {}
  ExecResult run(Login& login, const std::string& command, const std::string& input,
                 const Deadline& deadline) override;
  std::unique_ptr<Stream> start(Login& login, const std::string& command, const Deadline& deadline,
                                ExecResult* failed) override;

 private:
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
