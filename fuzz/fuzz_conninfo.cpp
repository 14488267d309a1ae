// The conninfo handling (src/cluster/conninfo.h) over libpq's own parser, PQconninfoParse.
//
// The whole input is one connection string (key=value or URI), as a repmgr node row or an
// app_servers.admin_conninfo may hold it. Beyond "no crash" (in our code and in libpq's):
// a refusal always says why, a node's endpoint is one network address PgBouncer can use, and a
// socket login is exactly what the push program's request line can carry.
#include <string>

#include "cluster/conninfo.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pgdeploy;
  using pgdeploy::fuzz::check;
  const std::string conninfo(reinterpret_cast<const char*>(data), size);

  ConnOptions options;
  std::string err;
  bool parsed = parse_conninfo(conninfo, &options, &err);
  if (!parsed) {
    check(!err.empty() && err.back() != '\n', "a refused conninfo says why, on one line", conninfo);
  } else {
    for (const auto& [keyword, value] : options)
      check(!keyword.empty() && !value.empty(), "only keywords that are set are listed", conninfo);
  }

  Endpoint e;
  err.clear();
  if (endpoint_of(conninfo, &e, &err)) {
    check(parsed, "an endpoint comes from a conninfo libpq accepts", conninfo);
    check(!e.host.empty() && e.host.find(',') == std::string::npos && e.host[0] != '/' &&
              e.host[0] != '@',
          "an endpoint is one network host", e.host);
    check(e.port >= 1 && e.port <= 65535, "an endpoint's port is a TCP port", conninfo);
    std::string from = options.count("hostaddr") ? options["hostaddr"] : options["host"];
    check(e.host == from, "the endpoint is the host libpq would connect to", conninfo);
  } else {
    check(!err.empty(), "a conninfo refused as an endpoint says why", conninfo);
  }

  SocketLogin s;
  if (socket_login_of(conninfo, &s)) {
    check(parsed && options.size() == 4, "a socket login sets host, port, user and dbname only",
          conninfo);
    const std::string suffix = "/.s.PGSQL." + options["port"];
    check(s.path == options["host"] + suffix && s.path[0] == '/' && s.path.size() <= 107,
          "the socket path is <dir>/.s.PGSQL.<port> and fits sockaddr_un", s.path);
    check(!s.user.empty() && !s.dbname.empty(), "a socket login names its user and database",
          conninfo);
    for (const std::string* v : {&s.path, &s.user, &s.dbname})
      check(v->find_first_of(std::string("\t\n\r\0", 4)) == std::string::npos,
            "a socket login field fits the request's tab-separated line", *v);
  }
  return 0;
}
