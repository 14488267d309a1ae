// The text an operator, a log or a monitoring system reads (src/report/: format_text,
// format_check_text) with every value from outside chosen by the fuzzer: names and addresses from
// the database, what app servers answered, the include file a dry run diffs against.
//
// Fields (fuzz.h): 0 flags (the bits of its first byte: dry run, refused, verbose, run by the
// watcher, timed out, the database failed, an event), 1 the primary's name, 2 its host, 3 the
// refusal, 4 the event, 5 the watcher's status, 6 a warning, 7 a node's line; then 8 fields per app
// server: name, address, application_name, error ("" = it answered), a routed database, the
// address it routes to, a user, the include file there.
//
// Beyond "no crash": no value forges a line. Each output has exactly the lines its structure
// implies; no byte but the line break is a control character, a C1 control or invalid UTF-8; in
// the check's output the first line alone holds a `|`, once, followed by our performance data;
// and the STATUS the watcher sends to sd_notify is one line.
#include <algorithm>
#include <cstdio>

#include "fuzz.h"
#include "report/check.h"
#include "report/report.h"
#include "util/diff.h"
#include "util/text.h"

namespace pgdeploy::fuzz {
namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  for (size_t at = 0, nl; at < text.size(); at = nl + 1) {
    nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(at, nl - at));
  }
  return lines;
}

size_t line_breaks(const std::string& text) { return std::count(text.begin(), text.end(), '\n'); }

// Text a terminal, syslog or systemd shows as what it says: valid UTF-8, and no control
// character (C0, DEL, C1) but the line break. Decoded here by code point, not as util/text does.
bool shows_as_it_says(const std::string& text) {
  for (size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > text.size()) return false;
    uint32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (size_t k = 1; k < n; ++k) {
      unsigned char t = static_cast<unsigned char>(text[i + k]);
      if ((t & 0xC0) != 0x80) return false;
      cp = cp << 6 | (t & 0x3F);
    }
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;  // overlong, ...
    if ((cp < 0x20 && cp != '\n') || (cp >= 0x7F && cp <= 0x9F)) return false;
    i += n;
  }
  return true;
}

}  // namespace
}  // namespace pgdeploy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pgdeploy;
  using namespace pgdeploy::fuzz;
  std::vector<std::string> f = fields_of(data, size, 8);
  unsigned flags = f[0].empty() ? 0 : static_cast<unsigned char>(f[0][0]);
  std::string all(reinterpret_cast<const char*>(data), size);

  CheckReport c;
  RunReport& r = c.run;
  r.cluster = "main";
  r.dry_run = flags & 1;
  if (flags & 2) r.refusal = "no node answers as writable: " + f[3];
  c.verbose = flags & 4;
  c.by_watcher = flags & 8;
  c.timed_out = flags & 16;
  c.database_failed = flags & 32;
  if (flags & 64) r.event = "standby_promote on node 2: " + f[4];
  r.primary = f[1] + " (id 2)";
  r.endpoint = {f[2], 5432};
  r.timeline = 2;
  r.warnings = {"database " + f[6] + " cannot be written to PgBouncer's files: left out"};
  r.seen = {f[7] + " (id 1): writable, timeline 2"};
  c.watcher = f[5];
  c.listed = {"appdb"};
  c.node_names[f[2] + ":5432"] = f[1];

  size_t diffs = 0;
  for (size_t at = 8; at + 8 <= f.size(); at += 8) {
    ServerReport s;
    s.server.name = f[at];
    s.server.address = f[at + 1];
    s.server.application_name = f[at + 2];
    s.error = f[at + 3];
    s.result = s.error.empty() ? ServerReport::Result::unchanged : ServerReport::Result::failed;
    CheckAnswer& a = s.check;
    a.ok = s.error.empty();
    a.console = at / 8 % 2 ? "ok" : "none";
    a.files = {{"/etc/pgbouncer/databases/main.ini", "stale"}, {"/etc/pgbouncer/userlist.txt", "current"}};
    a.routes = {{f[at + 4], f[at + 5]}};
    a.servers = {{f[at + 4], f[at + 5]}};
    a.users_added = {f[at + 6]};
    a.has_include = true;
    a.include = f[at + 7];
    s.diff = unified_diff(a.include, "appdb = host=10.0.0.2 port=5432 dbname=appdb\n",
                          s.server.address + ":" + a.files[0].path, "new");
    if (!s.diff.empty()) s.changed = {a.files[0].path};
    if (s.error.empty()) diffs += line_breaks(s.diff);
    r.servers.push_back(s);
  }

  // The deploy's (or dry run's) report: a line per fact, and a dry run's diffs.
  std::string text = format_text(r);
  check(shows_as_it_says(text), "the report holds no control character but the line break", all);
  size_t want = !r.event.empty() + 1 + r.seen.size();
  if (r.refusal.empty()) want += r.warnings.size() + r.servers.size() + 1 + (r.dry_run ? diffs : 0);
  if (line_breaks(text) != want || (!text.empty() && text.back() != '\n')) {
    char what[96];
    std::snprintf(what, sizeof what, "the report has %zu lines, its structure %zu", line_breaks(text), want);
    broken(what, text);
  }

  // The check: its status line with our perfdata, then a line per fact.
  std::string out = format_check_text(c);
  check(shows_as_it_says(out), "the check holds no control character but the line break", out);
  std::vector<std::string> lines = lines_of(out);
  size_t shown = 0;
  for (const auto& s : r.servers) {
    ServerVerdict v = judge_server(s, r.endpoint, c.listed);
    shown += c.verbose || v.state != ServerVerdict::State::ok;
  }
  size_t expect = 1 + shown + (c.verbose || !r.refusal.empty() ? r.seen.size() : 0) + r.warnings.size() +
                  !c.watcher.empty();
  check(line_breaks(out) == expect && out.back() == '\n', "the check has the lines of its structure", out);
  check(lines[0].rfind("PGDEPLOY ", 0) == 0, "the check's first line is its status", out);
  size_t bar = lines[0].find('|');
  check(bar != std::string::npos && lines[0].find('|', bar + 1) == std::string::npos &&
            lines[0].compare(bar, 10, "| servers=") == 0,
        "the status line has one |, and our perfdata after it", out);
  for (size_t i = 1; i < lines.size(); ++i)
    check(lines[i].find('|') == std::string::npos, "no | after the status line (Nagios: perfdata)", out);

  // The watcher's STATUS for sd_notify, which systemd splits at line breaks.
  std::string status = "STATUS=" + escape_text(f[5]);
  check(status.find('\n') == std::string::npos && status.find('\0') == std::string::npos,
        "the STATUS sent to sd_notify is one assignment", status);
  return 0;
}
