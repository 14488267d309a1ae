// Test helper: a stand-in for PgBouncer's admin console on a unix socket. It speaks just enough of
// the PostgreSQL protocol (startup, simple query, terminate) to test the push program's own client;
// the real PgBouncer is in the integration tests.
#pragma once

#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pgdeploy {

class FakeConsole {
 public:
  // Listens on `socket_path`. With want_password, every login is asked for an MD5 password and
  // nothing more happens on that connection.
  explicit FakeConsole(std::string socket_path, bool want_password = false);
  ~FakeConsole();
  FakeConsole(const FakeConsole&) = delete;
  FakeConsole& operator=(const FakeConsole&) = delete;

  // Queries starting with `prefix` get an ErrorResponse with `message` from now on.
  void fail(const std::string& prefix, const std::string& message);
  // "user/database" of each login, and every query received, in order.
  std::vector<std::string> logins();
  std::vector<std::string> queries();

 private:
  void serve();
  void session(int fd);

  std::string path_;
  bool want_password_;
  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> failures_;
  std::vector<std::string> logins_, queries_;
  std::thread thread_;
};

}  // namespace pgdeploy
