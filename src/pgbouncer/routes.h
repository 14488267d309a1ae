// Which of the cluster's databases PgBouncer routes, and under which names: the one place that
// turns the database list and the options (--databases, --exclude-databases, --db-prefix,
// --db-suffix) into routes. Pure.
#pragma once

#include <string>
#include <vector>

#include "pgbouncer/render.h"

namespace pgdeploy {

struct RouteNames {
  std::vector<std::string> include;  // shell patterns (fnmatch(3)); empty = every database
  std::vector<std::string> exclude;  // shell patterns; wins over `include`
  std::string prefix, suffix;        // around the name PgBouncer shows; dbname= stays the real one
  // The "*" fallback routes every name it is asked for to the database of that name, whatever
  // the lists say and without the prefix or suffix: written only when none of them is set.
  bool fallback_allowed() const {
    return include.empty() && exclude.empty() && prefix.empty() && suffix.empty();
  }
};

// True for a prefix or suffix that keeps a plain name plain: [A-Za-z0-9_.-], shorter than 63.
bool route_affix_ok(const std::string& affix);

// One database as PgBouncer routes it.
struct Route {
  std::string shown;                     // the name clients connect to (PgBouncer's [databases] key)
  std::string dbname;                    // the database on the primary
  RouteKind kind = RouteKind::own_line;  // own_line or fallback (then shown == dbname)
};

// The routes, in the order of `databases`. A database the lists leave out is simply not routed;
// one they select that cannot be routed is named in `skipped` with why.
std::vector<Route> select_routes(const std::vector<std::string>& databases, const RouteNames& names,
                                 std::vector<std::string>* skipped);

}  // namespace pgdeploy
