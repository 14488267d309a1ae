// Which PgBouncer runs on an app server, and what that version changes for pgdeploy. Pure.
// The table behind limits_of() is docs/pgbouncer-versions.md, checked against PgBouncer's NEWS.md
// and include/bouncer.h of each release.
#pragma once

#include <cstddef>
#include <string>

namespace pgdeploy {

struct PgBouncerVersion {
  int major = 0, minor = 0, patch = 0;  // 0.0.0: not known
  bool known() const { return major > 0; }
  bool at_least(int ma, int mi) const { return major > ma || (major == ma && minor >= mi); }
  std::string text() const;  // "1.18.0", or "unknown"
};

// "PgBouncer 1.18.0" (SHOW VERSION's row since 1.12, the first line of `pgbouncer --version`),
// possibly followed by more words; false, and *out unknown, for anything else.
bool parse_pgbouncer_version(const std::string& text, PgBouncerVersion* out);

// What pgdeploy may rely on in a PgBouncer of that version: the render follows it (render.h). An
// unknown version gets 1.18's (Debian 12's), which hold for every release to date.
struct PgBouncerLimits {
  size_t max_password = 2048;          // bytes of a secret in auth_file, with its NUL (MAX_PASSWORD)
  bool quoted_db_names = false;        // a quoted [databases] key other than [A-Za-z0-9_.-]
  bool reload_reports_errors = false;  // RELOAD on the console fails when the file is rejected (1.25)
  bool show_state = false;             // SHOW STATE (1.19)
  bool auth_dbname = false;            // auth_dbname (1.19)
  bool kill_client = false;            // KILL_CLIENT (1.24)
};
PgBouncerLimits limits_of(const PgBouncerVersion& version);

}  // namespace pgdeploy
