// A bounded worker pool for one batch of independent jobs: the hosts of a probe, say.
// deploy/Deployment and watch/Fleet keep pools of their own, bounded by --parallel too, because
// neither is one blocking batch: a deploy's workers log in while the proof still runs and then
// wait for it, and a watcher's round may be cut for a hook while a worker is still in a hung
// server's lane (it finishes there later). parallel_for returns only when every job has.
#pragma once

#include <cstddef>
#include <functional>

namespace pgdeploy {

// Runs job(i) once for every i in [0, n) on min(n, workers) threads (at least one, so a worker
// count of 0 or less still runs the jobs), and returns when every job has returned. The jobs
// share nothing through this: each writes its own slot. A job must not throw.
void parallel_for(size_t n, int workers, const std::function<void(size_t)>& job);

}  // namespace pgdeploy
