#include "testing/fake_console.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace pgdeploy {
namespace {

// Reads exactly n bytes, waiting at most 5 s for each piece; false on EOF, error or timeout.
bool read_exactly(int fd, std::string* out, size_t n) {
  out->assign(n, '\0');
  for (size_t got = 0; got < n;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) return false;
    ssize_t r = read(fd, out->data() + got, n - got);
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

uint32_t be32(const std::string& s, size_t at) {
  uint32_t v;
  std::memcpy(&v, s.data() + at, 4);
  return ntohl(v);
}

void send_message(int fd, char type, const std::string& body) {
  uint32_t len = htonl(static_cast<uint32_t>(body.size() + 4));
  std::string m(1, type);
  m.append(reinterpret_cast<const char*>(&len), 4);
  m += body;
  if (write(fd, m.data(), m.size()) != static_cast<ssize_t>(m.size())) return;  // client gone
}

std::string int32(uint32_t v) {
  v = htonl(v);
  return std::string(reinterpret_cast<const char*>(&v), 4);
}

// A result: RowDescription (text columns), one DataRow per row.
void send_rows(int fd, const std::vector<std::string>& columns,
               const std::vector<std::vector<std::string>>& rows) {
  auto int16 = [](uint16_t v) { return std::string{static_cast<char>(v >> 8), static_cast<char>(v & 0xff)}; };
  std::string desc = int16(static_cast<uint16_t>(columns.size()));
  for (const auto& c : columns)
    desc += c + '\0' + int32(0) + int16(0) + int32(25) + int16(0xffff) + int32(0) + int16(0);
  send_message(fd, 'T', desc);
  for (const auto& row : rows) {
    std::string data = int16(static_cast<uint16_t>(row.size()));
    for (const auto& v : row) data += int32(static_cast<uint32_t>(v.size())) + v;
    send_message(fd, 'D', data);
  }
}

}  // namespace

void FakeConsole::route_from(const std::string& include_file) {
  std::lock_guard<std::mutex> lock(mu_);
  include_file_ = include_file;
  routes_.clear();
  std::ifstream in(include_file);
  for (std::string l; std::getline(in, l);) {  // "name = host=H port=P ..."
    std::istringstream words(l);
    std::string name, eq, host, port;
    words >> name >> eq >> host >> port;
    if (name != "*" && eq == "=" && host.rfind("host=", 0) == 0 && port.rfind("port=", 0) == 0)
      routes_.push_back({name, host.substr(5), port.substr(5)});
  }
}

void FakeConsole::set_servers(std::vector<std::vector<std::string>> servers) {
  std::lock_guard<std::mutex> lock(mu_);
  servers_ = std::move(servers);
}

std::pair<std::string, std::string> FakeConsole::route(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& r : routes_)
    if (r[0] == name) return {r[1], r[2]};
  return {"", ""};
}

bool FakeConsole::waiting(const std::string& quoted_name) {
  std::lock_guard<std::mutex> lock(mu_);
  bool held = false;
  for (const auto& q : queries_) {
    if (q == "PAUSE " + quoted_name || q == "KILL " + quoted_name) held = true;
    if (q == "RESUME " + quoted_name) held = false;
  }
  return held;
}

FakeConsole::FakeConsole(std::string socket_path, bool want_password)
    : path_(std::move(socket_path)), want_password_(want_password) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof addr.sun_path) throw std::runtime_error("socket path too long");
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listen_fd_, 8) != 0 || pipe(stop_pipe_) != 0)
    throw std::runtime_error("fake console on " + path_ + ": " + std::strerror(errno));
  thread_ = std::thread([this] { serve(); });
}

FakeConsole::~FakeConsole() {
  if (write(stop_pipe_[1], "x", 1) != 1) {
  }  // the thread also stops on its own poll timeout
  thread_.join();
  close(listen_fd_);
  close(stop_pipe_[0]);
  close(stop_pipe_[1]);
  unlink(path_.c_str());
}

void FakeConsole::fail(const std::string& prefix, const std::string& message) {
  std::lock_guard<std::mutex> lock(mu_);
  failures_.emplace_back(prefix, message);
}

std::vector<std::string> FakeConsole::logins() {
  std::lock_guard<std::mutex> lock(mu_);
  return logins_;
}

std::vector<std::string> FakeConsole::queries() {
  std::lock_guard<std::mutex> lock(mu_);
  return queries_;
}

void FakeConsole::serve() {
  for (;;) {
    pollfd p[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (poll(p, 2, 30000) <= 0 || (p[1].revents & POLLIN)) return;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    session(fd);
    close(fd);
  }
}

void FakeConsole::session(int fd) {
  std::string len, startup;
  if (!read_exactly(fd, &len, 4) || !read_exactly(fd, &startup, be32(len, 0) - 4)) return;
  // protocol version, then "key\0value\0" pairs, then "\0"
  std::string user, database;
  for (size_t at = 4; at < startup.size() && startup[at];) {
    std::string key = startup.c_str() + at;
    at += key.size() + 1;
    std::string value = startup.c_str() + at;
    at += value.size() + 1;
    if (key == "user") user = value;
    if (key == "database") database = value;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    logins_.push_back(user + "/" + database);
  }
  if (want_password_) {
    send_message(fd, 'R', int32(5) + "salt");  // AuthenticationMD5Password
    return;
  }
  send_message(fd, 'R', int32(0));
  send_message(fd, 'Z', "I");
  for (;;) {
    std::string head, body;
    if (!read_exactly(fd, &head, 5) || !read_exactly(fd, &body, be32(head, 1) - 4)) return;
    if (head[0] == 'X') return;
    if (head[0] != 'Q') continue;
    std::string query = body.c_str();
    std::string error, include, version;
    std::vector<std::vector<std::string>> databases, servers;
    {
      std::lock_guard<std::mutex> lock(mu_);
      queries_.push_back(query);
      for (const auto& [prefix, message] : failures_)
        if (query.rfind(prefix, 0) == 0) error = message;
      include = reject_ ? "" : include_file_;
      if (error.empty() && query.rfind("KILL ", 0) == 0) {
        std::string name = query.substr(5);
        if (name.size() > 1 && name[0] == '"') name = name.substr(1, name.size() - 2);
        std::erase_if(servers_, [&](const auto& s) { return s[0] == name; });
      }
      databases = routes_;
      servers = servers_;
      version = version_;
    }
    if (error.empty() && query == "RELOAD" && !include.empty()) route_from(include);
    if (error.empty() && query == "SHOW DATABASES")
      send_rows(fd, {"name", "host", "port", "database", "paused"}, [&] {
        for (auto& r : databases) r.insert(r.end(), {r[0], "0"});
        return databases;
      }());
    if (error.empty() && query == "SHOW SERVERS")
      send_rows(fd, {"type", "user", "database", "state", "addr", "port"}, [&] {
        for (auto& r : servers) r.insert(r.begin(), {"S", "app"}), r.insert(r.begin() + 3, "active");
        return servers;
      }());
    if (error.empty() && query == "SHOW VERSION" && !version.empty()) send_rows(fd, {"version"}, {{version}});
    if (error.empty()) send_message(fd, 'C', query.substr(0, query.find(' ')) + '\0');
    else send_message(fd, 'E', std::string("SERROR\0M", 8) + error + std::string("\0\0", 2));
    send_message(fd, 'Z', "I");
  }
}

}  // namespace pgdeploy
