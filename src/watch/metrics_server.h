// Serves the watcher's metrics over HTTP on a local address (cpp-httplib, a Debian package).
#pragma once

#include <functional>
#include <memory>
#include <string>

namespace pgdeploy {

class MetricsServer {
 public:
  // `text` is called for each GET /metrics.
  explicit MetricsServer(std::function<std::string()> text);
  ~MetricsServer();
  // Binds "host:port" and serves from a thread of its own; false with the reason.
  bool start(const std::string& listen, std::string* err);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgdeploy
