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
  // PgBouncer's routes, as SHOW DATABASES shows them (name, host, port), are read from
  // `include_file` now and at every RELOAD, the way PgBouncer reads its %include; SHOW SERVERS
  // shows `servers` (database, addr, port).
  void route_from(const std::string& include_file);
  // A RELOAD that answers OK and keeps the old routes, as PgBouncer 1.18 does with a file it rejects.
  void reject_reloads() {
    std::lock_guard<std::mutex> lock(mu_);
    reject_ = true;
  }
  // SHOW VERSION answers one row holding `text` (PgBouncer: "PgBouncer 1.18.0"); "": no row.
  void set_version(std::string text) {
    std::lock_guard<std::mutex> lock(mu_);
    version_ = std::move(text);
  }
  // A KILL of a database closes its server connections.
  void set_servers(std::vector<std::vector<std::string>> servers);
  void clear_failures() {
    std::lock_guard<std::mutex> lock(mu_);
    failures_.clear();
  }
  // (host, port) of a database as SHOW DATABASES shows it, or ("", "") where it has none.
  std::pair<std::string, std::string> route(const std::string& name);
  size_t server_count() {
    std::lock_guard<std::mutex> lock(mu_);
    return servers_.size();
  }
  // Whether a PAUSE or KILL was sent for the database without a RESUME after it.
  bool waiting(const std::string& quoted_name);
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
  std::string include_file_;
  bool reject_ = false;
  std::string version_;
  std::vector<std::vector<std::string>> routes_, servers_;
  std::thread thread_;
};

}  // namespace pgdeploy
