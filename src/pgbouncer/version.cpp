#include "pgbouncer/version.h"

#include <charconv>

namespace pgdeploy {

std::string PgBouncerVersion::text() const {
  if (!known()) return "unknown";
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

bool parse_pgbouncer_version(const std::string& text, PgBouncerVersion* out) {
  *out = PgBouncerVersion{};
  static const std::string kName = "PgBouncer ";
  if (text.compare(0, kName.size(), kName) != 0) return false;
  const char* p = text.data() + kName.size();
  const char* end = text.data() + text.size();
  int parts[3] = {0, 0, 0};
  for (int i = 0; i < 3; ++i) {
    if (i > 0 && (p == end || *p++ != '.')) return false;
    auto [next, ec] = std::from_chars(p, end, parts[i]);
    if (ec != std::errc() || next - p > 4) return false;
    p = next;
  }
  // What may follow the number: nothing, more words, a line, a pre-release ("1.26.0-rc1").
  if (parts[0] <= 0 || (p != end && *p != ' ' && *p != '\n' && *p != '-')) return false;
  *out = {parts[0], parts[1], parts[2]};
  return true;
}

PgBouncerLimits limits_of(const PgBouncerVersion& v) {
  PgBouncerLimits l;  // 1.18's, and an unknown version's
  // MAX_PASSWORD is 2048 in every release through 1.25.2; its master raised it to 65531 after.
  // Quoted [databases] keys fail in every release (PgBouncer issue #971): none sets it.
  l.show_state = l.auth_dbname = v.at_least(1, 19);
  l.kill_client = v.at_least(1, 24);
  l.reload_reports_errors = v.at_least(1, 25);
  return l;
}

}  // namespace pgdeploy
