#include "watch/metrics.h"

#include <charconv>

namespace pgdeploy {

void WatchMetrics::observe_round(double seconds) {
  ++rounds;
  round_seconds_sum += seconds;
  for (size_t i = 0; i < kBounds.size(); ++i)
    if (seconds <= kBounds[i]) {
      ++round_buckets[i];
      break;
    }
}

namespace {

std::string number(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // the shortest text that reads back
  return ec == std::errc() ? std::string(buf, end) : "NaN";
}

void family(std::string* out, const char* name, const char* type, const char* help) {
  out->append("# HELP ").append(name).append(" ").append(help).append("\n");
  out->append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void sample(std::string* out, const std::string& name, double value) {
  out->append(name).append(" ").append(number(value)).append("\n");
}

}  // namespace

std::string metrics_text(const WatchMetrics& m) {
  std::string out;
  family(&out, "pgdeploy_watch_app_servers", "gauge", "Enabled app servers by state after the last round.");
  for (ServerState s : kAllServerStates) {
    auto it = m.servers.find(s);
    sample(&out, std::string("pgdeploy_watch_app_servers{state=\"") + state_name(s) + "\"}",
           it == m.servers.end() ? 0 : it->second);
  }
  family(&out, "pgdeploy_watch_database_up", "gauge", "1 if the last round could read the database.");
  sample(&out, "pgdeploy_watch_database_up", m.database_up);
  family(&out, "pgdeploy_watch_pushing", "gauge",
         "1 if this node is the proven primary, so that its watcher pushes.");
  sample(&out, "pgdeploy_watch_pushing", m.pushing);
  family(&out, "pgdeploy_watch_warm_sessions", "gauge",
         "SSH sessions held open to app servers, each with the push program resident.");
  sample(&out, "pgdeploy_watch_warm_sessions", static_cast<double>(m.warm_sessions));
  family(&out, "pgdeploy_watch_primary_timeline", "gauge",
         "Timeline of the proven primary (0: none proven).");
  sample(&out, "pgdeploy_watch_primary_timeline", static_cast<double>(m.timeline));
  family(&out, "pgdeploy_watch_last_converge_timestamp_seconds", "gauge",
         "Unix time of the last round that found every app server current (0: never).");
  sample(&out, "pgdeploy_watch_last_converge_timestamp_seconds", m.last_converge);
  family(&out, "pgdeploy_watch_round_duration_seconds", "histogram", "Duration of each round.");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < m.kBounds.size(); ++i) {
    cumulative += m.round_buckets[i];
    sample(&out, "pgdeploy_watch_round_duration_seconds_bucket{le=\"" + number(m.kBounds[i]) + "\"}",
           static_cast<double>(cumulative));
  }
  sample(&out, "pgdeploy_watch_round_duration_seconds_bucket{le=\"+Inf\"}", static_cast<double>(m.rounds));
  sample(&out, "pgdeploy_watch_round_duration_seconds_sum", m.round_seconds_sum);
  sample(&out, "pgdeploy_watch_round_duration_seconds_count", static_cast<double>(m.rounds));
  family(&out, "pgdeploy_watch_proofs_refused_total", "counter",
         "Rounds whose proof of the primary was refused.");
  sample(&out, "pgdeploy_watch_proofs_refused_total", static_cast<double>(m.proofs_refused));
  family(&out, "pgdeploy_watch_pushes_total", "counter", "Pushes that changed an app server, or failed.");
  sample(&out, "pgdeploy_watch_pushes_total{result=\"updated\"}", static_cast<double>(m.pushes_updated));
  sample(&out, "pgdeploy_watch_pushes_total{result=\"failed\"}", static_cast<double>(m.pushes_failed));
  family(&out, "pgdeploy_watch_stale_primaries", "gauge",
         "Stale primaries (writable on an older timeline than a node seen) the last round saw: "
         "accepting writes, or fenced (default_transaction_read_only on).");
  sample(&out, "pgdeploy_watch_stale_primaries{state=\"writable\"}", m.stale_writable);
  sample(&out, "pgdeploy_watch_stale_primaries{state=\"fenced\"}", m.stale_fenced);
  family(&out, "pgdeploy_watch_fences_total", "counter",
         "Fences of stale primaries raised (--fence-stale), or that failed.");
  sample(&out, "pgdeploy_watch_fences_total{result=\"raised\"}", static_cast<double>(m.fences_raised));
  sample(&out, "pgdeploy_watch_fences_total{result=\"failed\"}", static_cast<double>(m.fences_failed));
  family(&out, "pgdeploy_watch_newer_truth", "gauge",
         "1 if an app server holds a newer timeline's config than this node's proof: it pushes nothing.");
  sample(&out, "pgdeploy_watch_newer_truth", m.newer_truth);
  family(&out, "pgdeploy_watch_newer_truth_refusals_total", "counter",
         "Rounds that refused to push because an app server holds a newer truth.");
  sample(&out, "pgdeploy_watch_newer_truth_refusals_total", static_cast<double>(m.newer_truth_refusals));
  family(&out, "pgdeploy_watch_ssh_logins_total", "counter", "SSH logins made (each opens a warm session).");
  sample(&out, "pgdeploy_watch_ssh_logins_total", static_cast<double>(m.ssh_logins));
  family(&out, "pgdeploy_watch_reconnects_total", "counter",
         "SSH logins made again after a session was lost.");
  sample(&out, "pgdeploy_watch_reconnects_total", static_cast<double>(m.reconnects));
  family(&out, "pgdeploy_watch_ssh_bytes_total", "counter",
         "Bytes on the warm sessions' channels: requests sent, answers received (SSH's own framing not "
         "counted).");
  sample(&out, "pgdeploy_watch_ssh_bytes_total{direction=\"sent\"}", static_cast<double>(m.bytes_sent));
  sample(&out, "pgdeploy_watch_ssh_bytes_total{direction=\"received\"}",
         static_cast<double>(m.bytes_received));
  if (m.open_fds >= 0) {
    family(&out, "process_open_fds", "gauge", "Number of open file descriptors.");
    sample(&out, "process_open_fds", m.open_fds);
  }
  if (m.max_fds >= 0) {
    family(&out, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
    sample(&out, "process_max_fds", m.max_fds);
  }
  return out;
}

}  // namespace pgdeploy
