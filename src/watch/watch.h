// pgdeploy watch: the one-shot's proof and push in a loop, over warm sessions, until stopped.
#pragma once

#include <iosfwd>

#include "cli/options.h"
#include "cluster/database.h"

namespace pgdeploy {

// Runs until SIGTERM or SIGINT; returns the exit code (see `pgdeploy watch --help`).
// `db` is this node's database (-p), as for a one-shot run.
int run_watch(const Options& opts, Database& db, std::ostream& out, std::ostream& err);

}  // namespace pgdeploy
