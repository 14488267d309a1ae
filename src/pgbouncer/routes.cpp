#include "pgbouncer/routes.h"

#include <fnmatch.h>

#include <algorithm>

namespace pgdeploy {
namespace {

bool matches(const std::vector<std::string>& patterns, const std::string& name) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& p) { return fnmatch(p.c_str(), name.c_str(), 0) == 0; });
}

}  // namespace

bool route_affix_ok(const std::string& affix) {
  return affix.empty() || (plain_database_name(affix) && affix.size() < kMaxDbName - 1);
}

std::vector<Route> select_routes(const std::vector<std::string>& databases, const RouteNames& names,
                                 std::vector<std::string>* skipped) {
  std::vector<Route> routes;
  for (const std::string& db : databases) {
    if (!(names.include.empty() || matches(names.include, db)) || matches(names.exclude, db)) continue;
    RouteKind kind = route_kind(db);
    std::string shown = names.prefix + db + names.suffix;
    if (kind == RouteKind::none) {
      skipped->push_back("database " + db +
                         (db == "pgbouncer" ? " (reserved by PgBouncer for its admin console)"
                          : db.find_first_of(std::string("\r\n\0", 3)) != std::string::npos
                              ? " (line break)"
                              : " (longer than PgBouncer's 63 bytes)"));
    } else if (kind == RouteKind::fallback && !names.fallback_allowed()) {
      skipped->push_back("database " + db +
                         " (PgBouncer cannot take its name as a key, and the \"*\" "
                         "fallback is not written when --databases, --exclude-databases, "
                         "--db-prefix or --db-suffix is set)");
    } else if (kind == RouteKind::own_line && route_kind(shown) != RouteKind::own_line) {
      skipped->push_back("database " + db + " (as " + shown + ": longer than PgBouncer's 63 bytes)");
    } else {
      routes.push_back({kind == RouteKind::own_line ? shown : db, db, kind});
    }
  }
  return routes;
}

}  // namespace pgdeploy
