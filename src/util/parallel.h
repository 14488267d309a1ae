// A bounded worker pool for one batch of independent jobs: the hosts of a probe, say.
#pragma once

#include <cstddef>
#include <functional>

namespace pgdeploy {

// Runs job(i) once for every i in [0, n) on min(n, workers) threads (at least one, so a worker
// count of 0 or less still runs the jobs), and returns when every job has returned. The jobs
// share nothing through this: each writes its own slot. A job must not throw.
void parallel_for(size_t n, int workers, const std::function<void(size_t)>& job);

}  // namespace pgdeploy
