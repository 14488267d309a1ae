#include "watch/metrics_server.h"

#include <httplib.h>

#include <thread>

namespace pgdeploy {

struct MetricsServer::Impl {
  httplib::Server server;
  std::thread thread;
};

MetricsServer::MetricsServer(std::function<std::string()> text) : impl_(std::make_unique<Impl>()) {
  impl_->server.Get("/metrics", [text](const httplib::Request&, httplib::Response& res) {
    res.set_content(text(), "text/plain; version=0.0.4; charset=utf-8");
  });
}

MetricsServer::~MetricsServer() {
  if (impl_->thread.joinable()) {
    impl_->server.stop();
    impl_->thread.join();
  }
}

bool MetricsServer::start(const std::string& listen, std::string* err) {
  size_t colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? "" : listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  try {
    size_t used = 0;
    port = colon == std::string::npos ? 0 : std::stoi(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1) port = 0;
  } catch (const std::exception&) {
    port = 0;
  }
  if (host.empty() || port < 1 || port > 65535) {
    *err = "--metrics-listen wants HOST:PORT, e.g. 127.0.0.1:9187: " + listen;
    return false;
  }
  if (!impl_->server.bind_to_port(host, port)) {
    *err = "cannot listen on " + listen + " (in use, or not an address of this host)";
    return false;
  }
  impl_->thread = std::thread([this] { impl_->server.listen_after_bind(); });
  return true;
}

}  // namespace pgdeploy
