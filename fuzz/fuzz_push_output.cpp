// The parser of what the push program answers (parse_push_output, src/pgbouncer/push.h):
// the one place where bytes from an app server, possibly a hostile one, reach the agent's logic.
//
// Fields (fuzz.h): 0 the exit status in decimal (anything else: 0), 1 the program's standard
// output, 2 its standard error. Beyond "no crash": it never throws (an exception would abort the
// whole agent and every other server's push with it), and the outcome is consistent: success
// needs exit status 0 and the answer's closing `DONE ok`, a failure says why, nothing is claimed
// that no line of the answer says, and every text is one printable line of bounded length, fit
// for the report.
#include <algorithm>
#include <charconv>
#include <exception>

#include "fuzz.h"
#include "pgbouncer/push.h"

namespace pgdeploy::fuzz {
namespace {

// How many lines of `out` have `word` as their first word (the answer's "WORD text" lines).
size_t lines_saying(const std::string& out, const std::string& word) {
  size_t n = 0;
  for (size_t at = 0; at < out.size();) {
    size_t nl = std::min(out.find('\n', at), out.size());
    if (out.compare(at, word.size(), word) == 0 && (at + word.size() == nl || out[at + word.size()] == ' '))
      ++n;
    at = nl + 1;
  }
  return n;
}

bool fit_for_report(const std::string& s) {
  if (s.size() > 1024) return false;
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace
}  // namespace pgdeploy::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pgdeploy;
  using namespace pgdeploy::fuzz;
  std::vector<std::string> f = fields_of(data, size, 3);
  const std::string &out = f[1], &err = f[2];
  int status = 0;
  std::from_chars(f[0].data(), f[0].data() + f[0].size(), status);
  // The input as its fields, the way a report shows it: status \x1f out \x1f err.
  const std::string all = std::to_string(status) + "\x1f" + out + "\x1f" + err;

  PushOutcome o;
  try {
    o = parse_push_output(status, out, err);
  } catch (const std::exception& e) {
    broken((std::string("parse_push_output never throws; it threw: ") + e.what()).c_str(), all);
  }

  using S = PushOutcome::Status;
  if (o.status != S::failed) {
    check(status == 0, "success needs exit status 0", all);
    check(ends_with(out, "\nDONE ok\n") || out == "DONE ok\n",
          "success needs the answer's last line, DONE ok", all);
    check(!o.reload_failed, "a failed reload is a failure", all);
  } else {
    check(!o.detail.empty(), "a failure says why", all);
  }
  check(o.status != S::unchanged || lines_saying(out, "UNCHANGED") > 0,
        "unchanged only when the answer says so", all);
  check(o.status != S::skipped_newer || lines_saying(out, "NEWER") > 0,
        "skipped only when the answer names a newer header", all);
  check(!o.reloaded || lines_saying(out, "RELOADED") > 0, "reloaded only when it says so", all);
  check(!o.confirmed || lines_saying(out, "CONFIRMED") > 0, "confirmed only when it says so", all);
  check(o.changed.size() <= lines_saying(out, "CHANGED"), "a changed path per CHANGED line", all);

  check(fit_for_report(o.detail) && fit_for_report(o.sessions),
        "detail and sessions are printable and bounded", all);
  for (const std::vector<std::string>* texts : {&o.changed, &o.notes})
    for (const std::string& t : *texts)
      check(fit_for_report(t), "each path and note is printable and bounded", all);
  return 0;
}
