// pgdeploy watch: the one-shot's proof and push in a loop, over warm sessions, until stopped.
#pragma once

#include <iosfwd>

#include "cli/options.h"

namespace pgdeploy {

// Runs until SIGTERM or SIGINT; returns the exit code (see `pgdeploy watch --help`).
int run_watch(const Options& opts, std::ostream& out, std::ostream& err);

}  // namespace pgdeploy
