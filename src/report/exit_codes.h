// The agent's exit codes: one home, low enough that the report (which decides them) and the
// command line (usage errors) both use it.
#pragma once

namespace pgdeploy {

enum ExitCode {
  kExitOk = 0,            // every enabled app server is up to date (or the event needs nothing)
  kExitRefused = 1,       // cluster facts missing or not certain: nothing was written anywhere
  kExitUsage = 2,         // bad command line
  kExitServerFailed = 3,  // at least one app server could not be updated; the others were
  kExitHandedOver = 4,    // this node's watcher took the event and did not answer in time, and the
                          // one-shot after it was refused: the watcher may have written, or not
  kExitNewerTruth = 5,    // an app server holds a newer timeline's config: this run's proof is stale
                          // (agent/newer); what the same parallel round wrote is in the report
  kExitFenced = 6         // as 0 (or 3: a failed server wins), but --fence-stale raised a stale
                          // primary's fence, or failed to
};
// pgdeploy check exits as a monitoring plugin does (report/check.h: 0 OK, 1 WARNING, 2 CRITICAL,
// 3 UNKNOWN): a usage error of check is UNKNOWN.
constexpr int kCheckUsage = 3;

}  // namespace pgdeploy
