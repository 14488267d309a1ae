#include "pgbouncer/console.h"

#include <algorithm>
#include <set>

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

bool socket_dirs_of(const std::string& text, std::vector<std::string>* out, std::string* err) {
  std::vector<std::string> dirs;
  std::set<std::string> seen;
  const char* separators = ", \t\n\r";
  for (size_t at = text.find_first_not_of(separators); at != std::string::npos;
       at = text.find_first_not_of(separators, at)) {
    size_t end = std::min(text.find_first_of(separators, at), text.size());
    std::string dir = text.substr(at, end - at);
    at = end;
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    auto refuse = [&](const std::string& why) {
      *err = "admin_sockets: " + why;
      return false;
    };
    if (dir[0] != '/') return refuse("not an absolute directory: " + dir);
    if (std::any_of(dir.begin(), dir.end(), [](char c) { return (c >= 0 && c < 0x20) || c == 0x7f; }))
      return refuse("control character in a directory");
    if (("/" + dir + "/").find("/./") != std::string::npos ||
        ("/" + dir + "/").find("/../") != std::string::npos)
      return refuse("'.' or '..' in " + dir);
    // "<dir>/.s.PGSQL.65535" must fit in sockaddr_un's 107 bytes.
    if (dir.size() + 16 > 107) return refuse("directory too long for a unix socket: " + dir);
    if (!seen.insert(dir).second) return refuse(dir + " named twice");
    if (dirs.size() == kMaxProcesses)
      return refuse("more than " + std::to_string(kMaxProcesses) + " directories");
    dirs.push_back(dir);
  }
  *out = std::move(dirs);
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
