// --auth-lookup: PgBouncer 1.18 runs auth_query in the database the client asks for, so with
// auth mode `query` the lookup function it names must exist in every routed database, or nobody
// logs in there. The agent asks the proven primary (Database::has_function); what that came to is
// said here, as warnings: the routes are right either way.
#pragma once

#include <string>
#include <vector>

#include "cluster/facts.h"

namespace pgdeploy {

// What one database said about the lookup function.
struct FunctionCheck {
  std::string database;
  bool asked = false;   // false: it could not be asked (`error` says why)
  bool exists = false;  // to_regprocedure(signature) IS NOT NULL there
  std::string error;
};

// Whether any server's PgBouncer uses auth_query (its row's auth_mode, else `default_mode`).
bool uses_auth_query(const std::vector<AppServer>& servers, AuthMode default_mode);

// One warning naming every database that lacks the function, and one naming those that could not
// be asked; none when every database has it.
std::vector<std::string> auth_lookup_warnings(const std::string& signature,
                                              const std::vector<FunctionCheck>& checks);

}  // namespace pgdeploy
