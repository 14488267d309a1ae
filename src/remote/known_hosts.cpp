#include "remote/known_hosts.h"

#include <sstream>

namespace pgdeploy {
namespace {

// The file as an operator types it: ~ for the home directory, quoted if it needs it.
std::string shell_word(const std::string& s) {
  if (s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./:@%+=,~-") ==
          std::string::npos &&
      !s.empty())
    return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

std::set<std::string> revoked_keys(const std::string& text) {
  std::set<std::string> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string marker, hosts, type, blob;
    if (fields >> marker >> hosts >> type >> blob && marker == "@revoked") out.insert(blob);
  }
  return out;
}

std::string known_hosts_name(const std::string& host, unsigned port) {
  return port == 22 ? host : "[" + host + "]:" + std::to_string(port);
}

std::string unknown_host_key_message(const std::string& fingerprint, const std::string& host, unsigned port,
                                     const std::string& file) {
  std::string scan = "ssh-keyscan " + (port == 22 ? "" : "-p " + std::to_string(port) + " ") + host;
  return "unknown host key " + fingerprint + " refused: check it out of band and add it with " + scan +
         " >> " + shell_word(file) + ", or run once with --strict-host-key-checking=accept-new";
}

std::string changed_host_key_message(const std::string& fingerprint, const std::string& host, unsigned port,
                                     const std::string& file, bool other_type) {
  return std::string(other_type ? "host key of another type than known_hosts holds" : "host key CHANGED") +
         " (now " + fingerprint + "): possible man-in-the-middle, refused; if the change is " +
         "legitimate, run ssh-keygen -f " + shell_word(file) + " -R " +
         shell_word(known_hosts_name(host, port));
}

}  // namespace pgdeploy
