// PgBouncer's file formats, rendered from the cluster facts. Pure functions.
#pragma once

#include <string>
#include <vector>

#include "cluster/conninfo.h"
#include "cluster/facts.h"

namespace pgdeploy {

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

// A field of userlist.txt: in double quotes, with double quotes doubled.
std::string quote_auth_field(const std::string& field);

// The include file: one line per database pointing at `primary`, and a "*" fallback line when a
// database has a name PgBouncer cannot parse. Names that no file format can carry (line breaks)
// are left out and listed in `skipped`.
std::string render_databases(const Endpoint& primary, const std::vector<std::string>& databases,
                             const std::string& application_name, std::vector<std::string>* skipped);

// userlist.txt: "user" "secret" per line, secrets verbatim.
std::string render_userlist(const std::vector<DbUser>& users, std::vector<std::string>* skipped);

}  // namespace pgdeploy
