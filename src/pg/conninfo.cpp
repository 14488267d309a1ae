#include "pg/conninfo.h"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <memory>

namespace pgdeploy {
namespace {

using Parsed = std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)>;

// libpq's own parse of a connection string; null with libpq's reason in `err`.
Parsed parsed(const std::string& conninfo, std::string* err) {
  char* errmsg = nullptr;
  Parsed options(PQconninfoParse(conninfo.c_str(), &errmsg), PQconninfoFree);
  if (!options) {
    *err = errmsg ? errmsg : "out of memory";
    while (!err->empty() && err->back() == '\n') err->pop_back();
    PQfreemem(errmsg);
  }
  return options;
}

// keyword='value' pairs, in libpq's own quoting (a backslash before \\ and ').
std::string render_conninfo(const ConnOptions& options) {
  std::string out;
  for (const auto& [key, value] : options) {
    if (!out.empty()) out += ' ';
    out += key + "='";
    for (char c : value) {
      if (c == '\\' || c == '\'') out += '\\';
      out += c;
    }
    out += '\'';
  }
  return out;
}

}  // namespace

bool parse_conninfo(const std::string& conninfo, ConnOptions* out, std::string* err) {
  Parsed options = parsed(conninfo, err);
  if (!options) return false;
  out->clear();
  for (PQconninfoOption* o = options.get(); o->keyword; ++o) {
    if (o->val && *o->val) (*out)[o->keyword] = o->val;
  }
  return true;
}

std::string redacted_conninfo(const std::string& conninfo) {
  ConnOptions options;
  std::string err;
  if (!parse_conninfo(conninfo, &options, &err)) return "a connection string libpq cannot parse";
  bool secret = false;
  for (const char* key : {"password", "sslpassword"}) {
    auto it = options.find(key);
    if (it != options.end()) {
      it->second = "***";
      secret = true;
    }
  }
  if (!secret) return conninfo;
  return render_conninfo(options);
}

bool conninfo_with_dbname(const std::string& conninfo, const std::string& dbname, std::string* out,
                          std::string* err) {
  ConnOptions options;
  if (!parse_conninfo(conninfo, &options, err)) return false;
  options["dbname"] = dbname;
  *out = render_conninfo(options);
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

bool conninfo_env(const std::string& conninfo, std::vector<std::string>* env, std::string* err) {
  Parsed options = parsed(conninfo, err);
  if (!options) return false;
  env->clear();
  for (PQconninfoOption* o = options.get(); o->keyword; ++o) {
    if (!o->val || !*o->val) continue;
    std::string value = o->val;
    if (!o->envvar) {
      *err = std::string("keyword ") + o->keyword + " has no environment variable for psql";
      return false;
    }
    if (std::any_of(value.begin(), value.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
      *err = std::string("the value of ") + o->keyword + " has a control character";
      return false;
    }
    env->push_back(std::string(o->envvar) + "=" + value);
  }
  return true;
}

}  // namespace pgdeploy
