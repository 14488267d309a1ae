// pgdeploy's one job, its steps on one page (run_deploy in deploy.cpp): options -> a hook's
// hand-over to this node's watcher -> the lock -> cluster facts -> proven primary -> rendered
// files -> every app server in parallel -> report; or, with --dry-run, what a deploy would
// change there.
#pragma once

#include <iosfwd>

#include "cli/options.h"
#include "cluster/database.h"
#include "remote/remote.h"

namespace pgdeploy {

// Returns the exit code. `db` is the agent's own node and how the others are asked; `remote`
// reaches the app servers (main: PgDatabase and SshRemote; tests: fakes).
int run_deploy(const Options& opts, Database& db, Remote& remote, std::ostream& out, std::ostream& err);

}  // namespace pgdeploy
