// Stale primaries (cluster/fence) in a run's report, and --fence-stale: a deploy and each round
// of the watcher raise the fence of every stale primary their proof shows (Database::fence), a
// check only names them. docs/fencing.md says what the fence stops and how it is lifted.
#pragma once

#include "agent/proof.h"
#include "cluster/database.h"
#include "report/report.h"
#include "util/deadline.h"

namespace pgdeploy {

// One line per stale primary in report->stale, and report->stale_writable; with `act`, the fence
// of each one not fenced yet is raised first (report->fences_raised, fences_failed); with `stop`
// too, its postmaster is stopped, fenced already or not. Idempotent: a node fenced already is
// left as it is (a stopped one no longer answers). Nothing without the probes of a proof (the
// database not read).
void fence_stale(const Proof& proof, bool act, bool stop, Database& db, const Deadline& deadline,
                 RunReport* report);

}  // namespace pgdeploy
