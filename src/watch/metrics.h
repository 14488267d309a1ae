// The watcher's facts for Prometheus (text exposition format 0.0.4), pure. Names follow
// Prometheus' conventions: a pgdeploy_watch_ prefix, base units (seconds), _total for counters.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>

#include "watch/state.h"

namespace pgdeploy {

struct WatchMetrics {
  std::map<ServerState, int> servers;  // app servers by state after the last round
  bool database_up = false;            // the last proof could read the database
  bool pushing = false;                // this node is the proven primary: its watcher pushes
  long timeline = 0;                   // the proven primary's timeline (0: none proven)
  size_t warm_sessions = 0;            // SSH sessions held open, with the push program resident
  // Prometheus' standard process_open_fds and process_max_fds (a warm session is a descriptor):
  // read when scraped; negative = not known, not exposed.
  double open_fds = -1, max_fds = -1;
  double last_converge = 0;  // unix time of the last round that found every app server current
  int stale_writable = 0, stale_fenced = 0;  // stale primaries the last round saw (agent/fence)
  bool newer_truth = false;                  // an app server holds a newer timeline than this node's proof
  uint64_t fences_raised = 0, fences_failed = 0, newer_truth_refusals = 0;
  uint64_t rounds = 0, proofs_refused = 0, pushes_updated = 0, pushes_failed = 0, ssh_logins = 0,
           reconnects = 0;
  uint64_t bytes_sent = 0, bytes_received = 0;  // the warm sessions' channels (requests, answers)
  // Round durations: a histogram with these upper bounds (seconds), +Inf implied.
  static constexpr std::array<double, 9> kBounds = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
  std::array<uint64_t, kBounds.size()> round_buckets{};  // counts per bound, not cumulative
  double round_seconds_sum = 0;

  void observe_round(double seconds);
};

std::string metrics_text(const WatchMetrics& m);

}  // namespace pgdeploy
