#include "deploy/files.h"

#include <algorithm>

#include "pgbouncer/render.h"
#include "pgbouncer/routes.h"

namespace pgdeploy {

Rendered render_all(const ClusterFacts& facts, const Endpoint& primary, const Token& token,
                    const std::string& local_pgpass, const RouteNames& names) {
  Rendered r;
  r.token = token;
  std::vector<Route> routes = select_routes(facts.databases, names, &r.skipped);
  for (const AppServer& s : facts.servers) {
    if (r.includes.count(s.application_name)) continue;
    std::vector<std::string> skipped;
    std::string body = render_routes(primary, routes, s.application_name, &skipped);
    r.includes[s.application_name] = with_header(';', token, body);
    for (auto& k : skipped)
      if (std::find(r.skipped.begin(), r.skipped.end(), k) == r.skipped.end()) r.skipped.push_back(k);
  }
  r.userlist = with_header(';', token, render_userlist(facts.users, &r.skipped));
  if (!local_pgpass.empty()) r.pgpass = with_header('#', token, local_pgpass);
  r.primary = primary;
  for (const Route& route : routes) {
    std::string on_console;
    if (!console_name(route.shown, &on_console))
      r.skipped.push_back("database " + route.shown +
                          " (routed, but its name is too long for "
                          "PgBouncer's admin console: its sessions cannot be cut or drained there)");
    else if (route.kind == RouteKind::own_line) r.listed.push_back(route.shown);
    else r.fallback.push_back(route.shown);
  }
  return r;
}

}  // namespace pgdeploy
