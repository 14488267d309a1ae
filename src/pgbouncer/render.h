// PgBouncer's file formats, rendered from the cluster facts. Pure functions.
#pragma once

#include <string>
#include <vector>

#include "cluster/facts.h"
#include "pgbouncer/version.h"

namespace pgdeploy {

// PgBouncer's limits that no release changes (include/bouncer.h), each counting a terminating NUL:
// a database name (a [databases] key, an admin console argument) and a user name. What a release
// changes (a secret's length) is in PgBouncerLimits (pgbouncer/version).
constexpr size_t kMaxDbName = 64;
constexpr size_t kMaxUsername = 128;

// True for names PgBouncer 1.18 accepts as a [databases] key: [A-Za-z0-9_.-] only. Its docs
// describe quoting other names, but its parser rejects the quoted line and with it the whole file
// (PgBouncer issue #971), so such databases are reached through a "*" fallback entry instead.
bool plain_database_name(const std::string& name);

// How the include file routes a database: by a line of its own, through the "*" fallback line
// (PgBouncer cannot parse the name as a key), or not at all (the name PgBouncer reserves for its
// admin console, or one it cannot hold).
enum class RouteKind { own_line, fallback, none };
RouteKind route_kind(const std::string& name);

// A value in a [databases] connection string: bare when it can be, else in single quotes with
// quotes doubled (PgBouncer's own parser, not libpq's).
std::string quote_connstr_value(const std::string& value);

// False for a value PgBouncer's [databases] line cannot carry at all (a control character: its
// parser trims \v, \f and \r at the end of the line, and a line break ends it).
bool connstr_value_ok(const std::string& value);

// True for a host PgBouncer can be pointed at: a name or an address, no white space, quotes,
// backslashes or control characters (node_public_info and repmgr's conninfo are data, not trusted).
bool host_ok(const std::string& host);

// A database name as the admin console takes it in KILL, PAUSE and RESUME: bare when it is
// [0-9a-z_]+, else in double quotes with double quotes doubled. False when that is 64 bytes or
// more: PgBouncer 1.18 copies the argument into 64 bytes and answers "bad arguments".
bool console_name(const std::string& name, std::string* out);

// A field of userlist.txt: in double quotes, with double quotes doubled.
std::string quote_auth_field(const std::string& field);

struct Route;

// The include file: one line per route of its own pointing at `primary`, and a "*" fallback line
// when a route goes through it (pgbouncer/routes: select_routes() decides which).
std::string render_routes(const Endpoint& primary, const std::vector<Route>& routes,
                          const std::string& application_name, std::vector<std::string>* skipped);
// The same for every database in `databases`, under its own name (the default RouteNames); names
// that cannot be routed are listed in `skipped`.
std::string render_databases(const Endpoint& primary, const std::vector<std::string>& databases,
                             const std::string& application_name, std::vector<std::string>* skipped);

// True when the render reads the same in both (the secret's length): such servers share a rendering.
bool renders_alike(const PgBouncerLimits& a, const PgBouncerLimits& b);

// userlist.txt: "user" "secret" per line, secrets verbatim; a secret longer than `limits` allow is
// left out (named in `skipped`).
std::string render_userlist(const std::vector<DbUser>& users, const PgBouncerLimits& limits,
                            std::vector<std::string>* skipped);

}  // namespace pgdeploy
