#include "cluster/servers.h"

#include "cluster/catalog.h"

namespace pgdeploy {
namespace {

// The first setting in which two rows for one host differ, or nullptr when they agree.
const char* difference(const AppServer& a, const AppServer& b) {
  if (a.user != b.user) return "username";
  if (a.application_name != b.application_name) return "application_name";
  if (a.auth_trust != b.auth_trust) return "auth_trust";
  if (a.admin_conninfo != b.admin_conninfo) return "admin_conninfo";
  if (a.admin_sockets != b.admin_sockets) return "admin_sockets";
  return nullptr;
}

}  // namespace

ServerPlan plan_servers(const std::vector<AppServer>& rows) {
  ServerPlan plan;
  // Quadratic in the rows of one host only in the worst case; tables hold tens to thousands of
  // rows, and a scan per row keeps the table's order without an index structure.
  for (size_t i = 0; i < rows.size(); ++i) {
    const AppServer& row = rows[i];
    if (row.address.empty()) {
      plan.deploy.push_back(row);  // deploy reports "config: ip_addr is empty"
      continue;
    }
    const AppServer* first_same = nullptr;  // an earlier identical row (deployed instead)
    const AppServer* other = nullptr;       // a row for this host that disagrees
    const char* column = nullptr;
    for (size_t j = 0; j < rows.size(); ++j) {
      if (j == i || rows[j].address != row.address) continue;
      if (const char* c = difference(row, rows[j])) {
        if (!other) other = &rows[j], column = c;
      } else if (j < i && !first_same) {
        first_same = &rows[j];
      }
    }
    if (other) {
      plan.conflicts.push_back({row, "app_servers rows " + row_label(row) + " and " + row_label(*other) +
                                         " both name " + row.address + " with different " + column +
                                         ": fix the table"});
    } else if (first_same) {
      plan.warnings.push_back("app_servers rows " + row_label(*first_same) + " and " + row_label(row) +
                              " both name " + row.address + " with the same settings: deployed once");
    } else {
      plan.deploy.push_back(row);
    }
  }
  return plan;
}

}  // namespace pgdeploy
