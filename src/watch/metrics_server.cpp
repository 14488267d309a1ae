#include "watch/metrics_server.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <vector>

namespace pgdeploy {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxRequest = 8192;  // bytes of request line and headers; more: dropped
constexpr int kBacklog = 16;          // connections the kernel holds for us before accept
constexpr int kStopPoll = 200;        // ms: how often the loop looks whether to stop

struct Client {
  int fd;
  Clock::time_point deadline;
  std::string in, out;  // the request head read so far; the answer, once there is one
  size_t sent = 0;
};

std::string reply(const std::string& status, const std::string& body,
                  const std::string& type = "text/plain; charset=utf-8") {
  return "HTTP/1.1 " + status + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n" +
         (status.rfind("405", 0) == 0 ? "Allow: GET\r\n" : "") + "\r\n" + body;
}

// The answer to a request's head: GET /metrics, else 404, 405 or 400.
std::string answer(const std::string& head, const std::function<std::string()>& text) {
  std::string line = head.substr(0, head.find("\r\n"));
  size_t first = line.find(' '), last = line.rfind(' ');
  if (first == std::string::npos || last == first || line.compare(last + 1, 5, "HTTP/") != 0)
    return reply("400 Bad Request", "bad request\n");
  std::string target = line.substr(first + 1, last - first - 1);
  if (target.substr(0, target.find('?')) != "/metrics")
    return reply("404 Not Found", "not found: try /metrics\n");
  if (line.compare(0, first, "GET") != 0) return reply("405 Method Not Allowed", "GET only\n");
  return reply("200 OK", text(), "text/plain; version=0.0.4; charset=utf-8");
}

// Reads or writes what `c` is ready for; false once it is done with (answered, gone, too long).
bool step(Client& c, const std::function<std::string()>& text) {
  if (c.out.empty()) {
    char buf[4096];
    ssize_t n = recv(c.fd, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return false;
    if (n > 0) c.in.append(buf, static_cast<size_t>(n));
    size_t end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) return c.in.size() <= kMaxRequest;
    c.out = answer(c.in.substr(0, end), text);
  }
  ssize_t n = send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
  if (n < 0) return errno == EAGAIN || errno == EINTR;
  c.sent += static_cast<size_t>(n);
  return c.sent < c.out.size();
}

}  // namespace

MetricsServer::~MetricsServer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listener_ >= 0) close(listener_);
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
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) == 0) {
    for (addrinfo* a = found; a && listener_ < 0; a = a->ai_next) {
      listener_ = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
      int yes = 1;
      if (listener_ >= 0 &&
          (setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes) != 0 ||
           bind(listener_, a->ai_addr, a->ai_addrlen) != 0 || ::listen(listener_, kBacklog) != 0)) {
        close(listener_);
        listener_ = -1;
      }
    }
    freeaddrinfo(found);
  }
  if (listener_ < 0) {
    *err = "cannot listen on " + listen + " (in use, or not an address of this host)";
    return false;
  }
  thread_ = std::thread([this] { serve(); });
  return true;
}

// One thread, at most kMetricsClients connections, each given kMetricsClientTime in all (no
// keep-alive). A connection past the limit closes the oldest one instead of waiting: an idle or
// slow client holds a place for two seconds at most, and a scrape, which sends its request at
// once, is answered in the loop's next turn.
void MetricsServer::serve() {
  std::vector<Client> clients;  // oldest first
  while (!stop_) {
    std::vector<pollfd> fds{{listener_, POLLIN, 0}};
    auto now = Clock::now();
    int wait_ms = kStopPoll;
    for (const Client& c : clients) {
      fds.push_back({c.fd, static_cast<short>(c.out.empty() ? POLLIN : POLLOUT), 0});
      auto left = std::chrono::ceil<std::chrono::milliseconds>(c.deadline - now).count();
      wait_ms = std::clamp(static_cast<int>(left), 0, wait_ms);
    }
    if (poll(fds.data(), fds.size(), wait_ms) < 0) continue;  // EINTR
    now = Clock::now();
    for (size_t i = clients.size(); i-- > 0;) {  // from the back: fds[i + 1] stays clients[i]
      if (now < clients[i].deadline && (!fds[i + 1].revents || step(clients[i], text_))) continue;
      close(clients[i].fd);
      clients.erase(clients.begin() + static_cast<long>(i));
    }
    for (size_t k = 0; (fds[0].revents & POLLIN) && k < kMetricsClients; ++k) {
      int fd = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        // Out of descriptors (or memory): the connection stays queued; do not spin on it.
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
          std::this_thread::sleep_for(std::chrono::milliseconds(kStopPoll));
        break;
      }
      if (clients.size() == kMetricsClients) {
        close(clients.front().fd);
        clients.erase(clients.begin());
      }
      clients.push_back({fd,
                         now + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(kMetricsClientTime)),
                         "", "", 0});
    }
  }
  for (const Client& c : clients) close(c.fd);
}

}  // namespace pgdeploy
