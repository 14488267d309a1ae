// The files of every app server, rendered once from the cluster facts: they differ only by
// application_name.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "cluster/facts.h"
#include "pgbouncer/routes.h"
#include "pgbouncer/token.h"

namespace pgdeploy {

struct Rendered {
  Token token;
  std::map<std::string, TokenedFile> includes;  // application_name -> include file
  TokenedFile userlist;
  TokenedFile pgpass;                 // empty content: no local ~/.pgpass
  Endpoint primary;                   // where every include file routes
  std::vector<std::string> listed;    // names PgBouncer shows with a line of their own
  std::vector<std::string> fallback;  // databases routed through the "*" line
  std::vector<std::string> skipped;   // names no file format can carry
};

// `names`: which databases are routed, under which names (the default: every one, as it is).
Rendered render_all(const ClusterFacts& facts, const Endpoint& primary, const Token& token,
                    const std::string& local_pgpass, const RouteNames& names = {});

}  // namespace pgdeploy
