// The agent's one job, on one page: options -> cluster facts -> proven primary -> rendered files
// -> every app server in parallel -> report.
#pragma once

#include <iosfwd>

#include "cli/options.h"
#include "cluster/database.h"
#include "remote/remote.h"

namespace pgdeploy {

// Returns the exit code. `db` is the agent's own node and how the others are asked; `remote`
// reaches the app servers (main: PgDatabase and SshRemote; tests: fakes).
int run_agent(const Options& opts, Database& db, Remote& remote, std::ostream& out,
              std::ostream& err);

}  // namespace pgdeploy
