#include "cluster/auth_lookup.h"

#include <algorithm>

namespace pgdeploy {

bool uses_auth_query(const std::vector<AppServer>& servers, AuthMode default_mode) {
  return std::any_of(servers.begin(), servers.end(),
                     [&](const AppServer& s) { return s.auth.value_or(default_mode) == AuthMode::query; });
}

std::vector<std::string> auth_lookup_warnings(const std::string& signature,
                                              const std::vector<FunctionCheck>& checks) {
  std::string lacking, unasked;
  for (const FunctionCheck& c : checks) {
    if (c.asked && !c.exists) lacking += (lacking.empty() ? "" : ", ") + c.database;
    if (!c.asked) unasked += (unasked.empty() ? "" : "; ") + c.database + " (" + c.error + ")";
  }
  std::vector<std::string> out;
  if (!lacking.empty())
    out.push_back("auth_query: " + signature + " does not exist in " + lacking +
                  ": PgBouncer cannot log anyone in there (docs/setup.md)");
  if (!unasked.empty())
    out.push_back("auth_query: whether " + signature + " exists could not be asked in " + unasked);
  return out;
}

}  // namespace pgdeploy
