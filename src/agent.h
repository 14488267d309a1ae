// The agent's one job, on one page: options -> cluster facts -> proven primary -> rendered files
// -> every app server in parallel -> report.
#pragma once

#include <iosfwd>

#include "cli/options.h"

namespace pgdeploy {

// Returns the exit code.
int run_agent(const Options& opts, std::ostream& out, std::ostream& err);

}  // namespace pgdeploy
