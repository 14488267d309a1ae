#include "agent/newer.h"

#include <sstream>

#include "report/report.h"

namespace pgdeploy {
namespace {

// A decimal number of at most 18 digits (an app server's bytes: no overflow, no sign).
bool number(const std::string& text, long* out) {
  if (text.empty() || text.size() > 18) return false;
  for (char c : text)
    if (c < '0' || c > '9') return false;
  *out = std::stol(text);
  return true;
}

void take(const ServerReport& s, int primary, long timeline, NewerTruth* newest) {
  if (timeline <= newest->timeline) return;
  *newest = {timeline, primary, server_label(s.server)};
}

}  // namespace

bool parse_token_header(const std::string& line, int* primary, long* timeline) {
  std::istringstream in(line);
  std::string comment, word;
  if (!(in >> comment >> word) || word != "pgdeploy") return false;
  long p = -1, t = -1;
  while (in >> word) {
    auto eq = word.find('=');
    if (eq == std::string::npos) continue;
    std::string key = word.substr(0, eq), value = word.substr(eq + 1);
    if (key == "primary" && !number(value, &p)) return false;
    if (key == "timeline" && !number(value, &t)) return false;
  }
  if (p < 0 || t < 0 || p > 2147483647) return false;
  *primary = static_cast<int>(p);
  *timeline = t;
  return true;
}

void learn_truth(const std::vector<ServerReport>& servers, NewerTruth* newest) {
  for (const ServerReport& s : servers) {
    int primary = 0;
    long timeline = 0;
    if (s.result == ServerReport::Result::skipped_newer && parse_token_header(s.newer, &primary, &timeline))
      take(s, primary, timeline, newest);
    if (s.check.ok && s.check.has_header) take(s, s.check.header_primary, s.check.header_timeline, newest);
  }
}

bool newer_than(const NewerTruth& seen, long timeline) { return seen.timeline > timeline; }

bool could_be_unseen(const std::vector<NodeProbe>& probes) {
  for (const NodeProbe& p : probes)
    if (!p.reachable && !p.witness) return true;
  return false;
}

std::string newer_truth_text(const NewerTruth& seen, long timeline) {
  return seen.server + " holds the config of primary id " + std::to_string(seen.primary) + " on timeline " +
         std::to_string(seen.timeline) + ", newer than this node's proof (timeline " +
         std::to_string(timeline) + "): a node this one cannot see was promoted, and this proof is stale";
}

}  // namespace pgdeploy
