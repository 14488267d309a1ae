// libpq connection strings: parsed by libpq itself (PQconninfoParse), never by hand.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace pgdeploy {

using ConnOptions = std::map<std::string, std::string>;  // keyword -> value, only those set

// Parses a key=value or URI connection string. False with the reason in `err` when libpq rejects it.
bool parse_conninfo(const std::string& conninfo, ConnOptions* out, std::string* err);

// Where PgBouncer on an app server must connect to reach a node.
struct Endpoint {
  std::string host;
  int port = 5432;
  bool operator==(const Endpoint&) const = default;
};

// Only the network address of a node's conninfo is used: user=, dbname=, connect_timeout= and the
// like belong to repmgr's own connection and must not leak into PgBouncer's configuration.
bool endpoint_of(const std::string& conninfo, Endpoint* out, std::string* err);

// A PgBouncer admin console that the push program can log in to itself, without starting psql:
// the unix socket's path ("<dir>/.s.PGSQL.<port>"), the user and the database.
struct SocketLogin {
  std::string path, user, dbname;
};

// True when `conninfo` sets exactly host (one socket directory), port, user and dbname and nothing
// else: a password, TLS or any other keyword is left to psql, which knows them all.
bool socket_login_of(const std::string& conninfo, SocketLogin* out);

// The connection string as the PG* environment variables libpq reads ("PGHOST=/run/pgb", ...), so
// that psql on an app server can be given it without a command line that `ps` shows. False with
// the reason for a keyword that has no variable or a value with a control character.
bool conninfo_env(const std::string& conninfo, std::vector<std::string>* env, std::string* err);

}  // namespace pgdeploy
