// The files of every app server, rendered once from the cluster facts: they differ only by
// application_name, and userlist.txt by the limits of the PgBouncer there (once per distinct limits).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "cluster/facts.h"
#include "pgbouncer/routes.h"
#include "pgbouncer/token.h"
#include "pgbouncer/version.h"

namespace pgdeploy {

// The limits of each app server's PgBouncer, by its address (AppServer::address), as the version
// it last reported says (pgbouncer/version limits_of); a server not listed gets an unknown
// version's (1.18's).
using ServerLimits = std::map<std::string, PgBouncerLimits>;

struct Rendered {
  Token token;
  std::map<std::string, TokenedFile> includes;  // application_name -> include file
  TokenedFile userlist;  // to an unknown version's limits (1.18's): every server's but below
  // userlist.txt to the other limits some servers' PgBouncer allows, rendered once per distinct
  // limits (most fleets run one version: then none), and which servers (by address) get which.
  struct ForLimits {
    PgBouncerLimits limits;
    TokenedFile userlist;
  };
  std::vector<ForLimits> other_limits;
  std::map<std::string, size_t> other_of;  // address -> index in other_limits
  TokenedFile pgpass;                      // empty content: no local ~/.pgpass
  Endpoint primary;                        // where every include file routes
  std::vector<std::string> listed;         // names PgBouncer shows with a line of their own
  std::vector<std::string> fallback;       // databases routed through the "*" line
  std::vector<std::string> skipped;        // names no file format can carry

  // The userlist.txt `server` gets: the rendering to its PgBouncer's limits.
  const TokenedFile& userlist_for(const AppServer& server) const;
};

// `names`: which databases are routed, under which names (the default: every one, as it is).
// `limits`: the servers whose PgBouncer reported its version (none: 1.18's limits for all).
Rendered render_all(const ClusterFacts& facts, const Endpoint& primary, const Token& token,
                    const std::string& local_pgpass, const RouteNames& names = {},
                    const ServerLimits& limits = {});

}  // namespace pgdeploy
