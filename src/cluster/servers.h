// The app_servers rows as they are deployed: one server per host. Two rows naming one ip_addr would
// write the same files on one host; unless they agree, the host would flip between them on every
// run (a new include, a reload) while each run reports it up to date.
#pragma once

#include <string>
#include <vector>

#include "cluster/facts.h"

namespace pgdeploy {

struct ServerProblem {
  AppServer server;
  std::string error;  // reported as the server's failure, after "config: "
};

struct ServerPlan {
  std::vector<AppServer> deploy;         // in the table's order, each host once
  std::vector<ServerProblem> conflicts;  // rows not deployed at all: they disagree on a host
  std::vector<std::string> warnings;     // rows left out because an identical one is deployed
};

// Rows that name the same ip_addr with the same user, application_name, auth_trust and
// admin_conninfo are deployed once; rows that name it with any of those different are not
// deployed (every row of that host is reported failed). Rows with an empty ip_addr are passed on.
ServerPlan plan_servers(const std::vector<AppServer>& rows);

}  // namespace pgdeploy
