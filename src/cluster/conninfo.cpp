#include "cluster/conninfo.h"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>

namespace pgdeploy {

bool parse_conninfo(const std::string& conninfo, ConnOptions* out, std::string* err) {
  char* errmsg = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &errmsg);
  if (!options) {
    *err = errmsg ? errmsg : "out of memory";
    while (!err->empty() && err->back() == '\n') err->pop_back();
    PQfreemem(errmsg);
    return false;
  }
  out->clear();
  for (PQconninfoOption* o = options; o->keyword; ++o) {
    if (o->val && *o->val) (*out)[o->keyword] = o->val;
  }
  PQconninfoFree(options);
  return true;
}

bool endpoint_of(const std::string& conninfo, Endpoint* out, std::string* err) {
  ConnOptions options;
  if (!parse_conninfo(conninfo, &options, err)) return false;
  // hostaddr is what libpq really connects to when both are given.
  std::string host = options.count("hostaddr") ? options["hostaddr"] : options["host"];
  if (host.empty()) {
    *err = "conninfo has no host";
    return false;
  }
  if (host.find(',') != std::string::npos) {
    *err = "conninfo lists several hosts (" + host + "); PgBouncer needs exactly one";
    return false;
  }
  if (host[0] == '/' || host[0] == '@') {
    *err = "conninfo host " + host + " is a Unix socket, which app servers cannot reach";
    return false;
  }
  out->host = host;
  out->port = 5432;
  if (options.count("port")) {
    const std::string& p = options["port"];
    int port = 0;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
    if (ec != std::errc() || end != p.data() + p.size() || port < 1 || port > 65535) {
      *err = "conninfo has an invalid port '" + p + "'";
      return false;
    }
    out->port = port;
  }
  return true;
}

bool socket_login_of(const std::string& conninfo, SocketLogin* out) {
  ConnOptions o;
  std::string err;
  if (!parse_conninfo(conninfo, &o, &err) || o.size() != 4) return false;
  const std::string &host = o["host"], &port = o["port"];
  if (host.empty() || host[0] != '/' || host.find(',') != std::string::npos || port.empty() ||
      port.find_first_not_of("0123456789") != std::string::npos || o["user"].empty() ||
      o["dbname"].empty())
    return false;
  SocketLogin s{host + "/.s.PGSQL." + port, o["user"], o["dbname"]};
  // The request carries it as one line of tab-separated fields; sockaddr_un holds 107 bytes.
  for (const std::string* v : {&s.path, &s.user, &s.dbname})
    if (v->find_first_of(std::string("\t\n\r\0", 4)) != std::string::npos) return false;
  if (s.path.size() > 107) return false;
  *out = s;
  return true;
}

bool conninfo_env(const std::string& conninfo, std::vector<std::string>* env, std::string* err) {
  char* errmsg = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &errmsg);
  if (!options) {
    *err = errmsg ? errmsg : "out of memory";
    while (!err->empty() && err->back() == '\n') err->pop_back();
    PQfreemem(errmsg);
    return false;
  }
  env->clear();
  bool ok = true;
  for (PQconninfoOption* o = options; o->keyword && ok; ++o) {
    if (!o->val || !*o->val) continue;
    std::string value = o->val;
    if (!o->envvar) {
      *err = std::string("keyword ") + o->keyword + " has no environment variable for psql";
      ok = false;
    } else if (std::any_of(value.begin(), value.end(),
                           [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
      *err = std::string("the value of ") + o->keyword + " has a control character";
      ok = false;
    } else {
      env->push_back(std::string(o->envvar) + "=" + value);
    }
  }
  PQconninfoFree(options);
  return ok;
}

}  // namespace pgdeploy
