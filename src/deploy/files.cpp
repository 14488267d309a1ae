#include "deploy/files.h"

#include <algorithm>

#include "pgbouncer/render.h"
#include "pgbouncer/routes.h"

namespace pgdeploy {

namespace {

void add_skipped(const std::vector<std::string>& more, std::vector<std::string>* skipped) {
  for (auto& k : more)
    if (std::find(skipped->begin(), skipped->end(), k) == skipped->end()) skipped->push_back(k);
}

}  // namespace

const TokenedFile& Rendered::userlist_for(const AppServer& server) const {
  auto it = other_of.find(server.address);
  return it == other_of.end() ? userlist : other_limits[it->second].userlist;
}

Rendered render_all(const ClusterFacts& facts, const Endpoint& primary, const Token& token,
                    const std::string& local_pgpass, const RouteNames& names, const ServerLimits& limits) {
  Rendered r;
  r.token = token;
  std::vector<Route> routes = select_routes(facts.databases, names, &r.skipped);
  for (const AppServer& s : facts.servers) {
    if (r.includes.count(s.application_name)) continue;
    std::vector<std::string> skipped;
    std::string body = render_routes(primary, routes, s.application_name, &skipped);
    r.includes[s.application_name] = with_header(';', token, body);
    add_skipped(skipped, &r.skipped);
  }
  const PgBouncerLimits unknown;
  r.userlist = with_header(';', token, render_userlist(facts.users, unknown, &r.skipped));
  for (const AppServer& s : facts.servers) {
    auto reported = limits.find(s.address);
    if (reported == limits.end() || renders_alike(reported->second, unknown) || r.other_of.count(s.address))
      continue;
    auto same = std::find_if(r.other_limits.begin(), r.other_limits.end(), [&](const Rendered::ForLimits& o) {
      return renders_alike(o.limits, reported->second);
    });
    if (same == r.other_limits.end()) {
      std::vector<std::string> skipped;
      r.other_limits.push_back(
          {reported->second,
           with_header(';', token, render_userlist(facts.users, reported->second, &skipped))});
      add_skipped(skipped, &r.skipped);
      same = r.other_limits.end() - 1;
    }
    r.other_of[s.address] = static_cast<size_t>(same - r.other_limits.begin());
  }
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
