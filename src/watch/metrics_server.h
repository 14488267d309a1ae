// Serves the watcher's metrics over HTTP on a local address: GET /metrics, one thread, a poll()
// loop with a fixed number of connections, so that no client can take more than that many of
// the watcher's descriptors nor hold the endpoint up for more than kMetricsClientTime.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace pgdeploy {

inline constexpr size_t kMetricsClients = 8;       // connections served at once
inline constexpr double kMetricsClientTime = 2.0;  // seconds from accept to the answer sent

class MetricsServer {
 public:
  // `text` is called for each GET /metrics, on the server's thread.
  explicit MetricsServer(std::function<std::string()> text) : text_(std::move(text)) {}
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  // Binds "host:port" and serves from a thread of its own; false with the reason.
  bool start(const std::string& listen, std::string* err);

 private:
  void serve();

  std::function<std::string()> text_;
  int listener_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace pgdeploy
