#include "pgbouncer/console.h"

#include <algorithm>

namespace pgdeploy {

bool socket_login_of(const std::map<std::string, std::string>& options, SocketLogin* out) {
  auto value = [&](const char* key) {
    auto it = options.find(key);
    return it == options.end() ? std::string() : it->second;
  };
  if (options.size() != 4) return false;
  const std::string host = value("host"), port = value("port");
  if (host.empty() || host[0] != '/' || host.find(',') != std::string::npos || port.empty() ||
      port.find_first_not_of("0123456789") != std::string::npos || value("user").empty() ||
      value("dbname").empty())
    return false;
  SocketLogin s{host + "/.s.PGSQL." + port, value("user"), value("dbname")};
  // One line each in the request (control characters are refused there); sockaddr_un holds 107 bytes.
  for (const std::string* v : {&s.path, &s.user, &s.dbname})
    if (v->find_first_of(std::string("\t\n\r\0", 4)) != std::string::npos) return false;
  if (s.path.size() > 107) return false;
  *out = s;
  return true;
}

std::string default_reload_command(const std::string& ssh_user, bool console) {
  if (console) return "";
  return ssh_user == "root" ? "service pgbouncer reload" : "sudo -n service pgbouncer reload";
}

int pause_seconds(int wanted, double host_timeout) {
  return std::max(1, std::min(wanted, static_cast<int>(host_timeout / 2)));
}

}  // namespace pgdeploy
