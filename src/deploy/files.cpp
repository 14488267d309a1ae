#include "deploy/files.h"

#include <algorithm>

#include "pgbouncer/render.h"

namespace pgdeploy {

Rendered render_all(const ClusterFacts& facts, const Endpoint& primary, const Token& token,
                    const std::string& local_pgpass) {
  Rendered r;
  r.token = token;
  for (const AppServer& s : facts.servers) {
    if (r.includes.count(s.application_name)) continue;
    std::vector<std::string> skipped;
    std::string body = render_databases(primary, facts.databases, s.application_name, &skipped);
    r.includes[s.application_name] = with_header(';', token, body);
    for (auto& k : skipped)
      if (std::find(r.skipped.begin(), r.skipped.end(), k) == r.skipped.end()) r.skipped.push_back(k);
  }
  r.userlist = with_header(';', token, render_userlist(facts.users, &r.skipped));
  if (!local_pgpass.empty()) r.pgpass = with_header('#', token, local_pgpass);
  r.primary = primary;
  for (const auto& db : facts.databases) {
    RouteKind kind = route_kind(db);
    std::string on_console;
    if (kind != RouteKind::none && !console_name(db, &on_console))
      r.skipped.push_back("database " + db + " (routed, but its name is too long for PgBouncer's "
                          "admin console: its sessions cannot be cut or drained there)");
    else if (kind == RouteKind::own_line) r.listed.push_back(db);
    else if (kind == RouteKind::fallback) r.fallback.push_back(db);
  }
  return r;
}

}  // namespace pgdeploy
