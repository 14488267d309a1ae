// The conninfo handling (src/pg/conninfo.h, src/pgbouncer/console.h) over libpq's own parser,
// PQconninfoParse.
//
// The whole input is one connection string (key=value or URI), as a repmgr node row or an
// app_servers.admin_conninfo may hold it. Beyond "no crash" (in our code and in libpq's):
// a refusal always says why, a node's endpoint is one network address PgBouncer can use, a
// socket login is exactly what the push program's request can carry, and the environment given
// to psql holds only PG* variables without control characters.
#include <string>
#include <vector>

#include "fuzz.h"
#include "pg/conninfo.h"
#include "pgbouncer/console.h"
#include "pgbouncer/push.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pgdeploy;
  using pgdeploy::fuzz::broken;
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
    check(!e.host.empty() && e.host.find(',') == std::string::npos && e.host[0] != '/' && e.host[0] != '@',
          "an endpoint is one network host", e.host);
    check(e.port >= 1 && e.port <= 65535, "an endpoint's port is a TCP port", conninfo);
    std::string from = options.count("hostaddr") ? options["hostaddr"] : options["host"];
    check(e.host == from, "the endpoint is the host libpq would connect to", conninfo);
  } else {
    check(!err.empty(), "a conninfo refused as an endpoint says why", conninfo);
  }

  SocketLogin s;
  if (parsed && socket_login_of(options, &s)) {
    check(parsed && options.size() == 4, "a socket login sets host, port, user and dbname only", conninfo);
    const std::string suffix = "/.s.PGSQL." + options["port"];
    check(s.path == options["host"] + suffix && s.path[0] == '/' && s.path.size() <= 107,
          "the socket path is <dir>/.s.PGSQL.<port> and fits sockaddr_un", s.path);
    check(!s.user.empty() && !s.dbname.empty(), "a socket login names its user and database", conninfo);
    for (const std::string* v : {&s.path, &s.user, &s.dbname})
      check(v->find_first_of(std::string("\t\n\r\0", 4)) == std::string::npos,
            "a socket login field fits the request's tab-separated line", *v);
  }

  // conninfo_env: what the request's `env` fields carry to psql on the app server.
  std::vector<std::string> env;
  err.clear();
  if (conninfo_env(conninfo, &env, &err)) {
    check(parsed && env.size() == options.size(), "every keyword set becomes one variable", conninfo);
    for (const std::string& v : env) {
      size_t eq = v.find('=');
      check(eq != std::string::npos && eq + 1 < v.size() && v.compare(0, 2, "PG") == 0,
            "a variable is PG...=<value>", v);
      // The program's own rule for the field (push.pl: PG, then 1 to 40 of [A-Z_]), restated:
      // it runs on the app server, out of this fuzzer's reach.
      bool program_takes = eq >= 3 && eq <= 42 && v.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ_", 2) == eq;
      check(program_takes, "the push program takes every variable", v);
    }
  } else {
    check(!err.empty(), "a conninfo refused for psql's environment says why", conninfo);
    return 0;  // deploy/request.cpp stops here: the server fails with that reason
  }

  // What this gives the request, as deploy/request.cpp copies it there, passes the request's own check,
  // the agent's end of the protocol: else a conninfo accepted here fails every push to its server.
  PushRequest r;
  r.lock_path = "/etc/pgbouncer/.main.lock";
  r.console = true;
  r.target_host = "10.0.0.1";
  r.target_port = 5432;
  r.console_env = env;
  if (parsed && socket_login_of(options, &s)) {
    r.socket_path = s.path;
    r.socket_user = s.user;
    r.socket_db = s.dbname;
  }
  std::string refused = check_request(r);
  if (!refused.empty())
    broken(("what conninfo_env and socket_login_of give passes check_request; refused: " + refused).c_str(),
           conninfo);
  return 0;
}
