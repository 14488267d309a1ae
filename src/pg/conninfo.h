// libpq connection strings: parsed by libpq itself (PQconninfoParse), never by hand.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "cluster/facts.h"  // Endpoint

namespace pgdeploy {

using ConnOptions = std::map<std::string, std::string>;  // keyword -> value, only those set

// Parses a key=value or URI connection string. False with the reason in `err` when libpq rejects it.
bool parse_conninfo(const std::string& conninfo, ConnOptions* out, std::string* err);

// `conninfo` fit to print: unchanged when it holds no secret; otherwise re-rendered as
// keyword='value' pairs (a URI too) with every password= and sslpassword= value replaced by ***.
// A string libpq cannot parse is not echoed at all: it may hold a password we cannot find.
std::string redacted_conninfo(const std::string& conninfo);

// `conninfo` (key=value or URI) with its dbname= replaced by `dbname`, as keyword='value' pairs
// quoted for libpq, so that no name, however hostile, adds a keyword of its own. False with
// libpq's reason when it cannot parse `conninfo`.
bool conninfo_with_dbname(const std::string& conninfo, const std::string& dbname, std::string* out,
                          std::string* err);

// Only the network address of a node's conninfo is used: user=, dbname=, connect_timeout= and the
// like belong to repmgr's own connection and must not leak into PgBouncer's configuration.
bool endpoint_of(const std::string& conninfo, Endpoint* out, std::string* err);

// The connection string as the PG* environment variables libpq reads ("PGHOST=/run/pgb", ...), so
// that psql on an app server can be given it without a command line that `ps` shows. False with
// the reason for a keyword that has no variable or a value with a control character.
bool conninfo_env(const std::string& conninfo, std::vector<std::string>* env, std::string* err);

}  // namespace pgdeploy
