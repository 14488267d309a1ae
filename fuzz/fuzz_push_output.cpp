// The parser of what the push program answers (parse_push_output, src/remote/push_script.h):
// the one place where bytes from an app server, possibly a hostile one, reach the agent's logic.
//
// Fields (fuzz.h): 0 the exit status in decimal (anything else: 0), 1 the program's standard
// output, 2 its standard error. Beyond "no crash": it never throws (an exception would abort the
// whole agent and every other server's push with it), and the outcome is consistent: a failure
// says why, success needs exit status 0, and nothing is claimed that the output does not say.
#include <charconv>
#include <exception>

#include "fuzz.h"
#include "remote/push_script.h"

namespace pgdeploy::fuzz {
namespace {

bool has_line(const std::string& out, const std::string& line) {
  size_t at = 0;
  for (size_t nl; at <= out.size(); at = nl + 1) {
    nl = out.find('\n', at);
    if (nl == std::string::npos) nl = out.size();
    if (out.compare(at, nl - at, line) == 0) return true;
  }
  return false;
}

bool trimmed(const std::string& s) { return s.empty() || (s.back() != '\n' && s.back() != ' '); }

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
  check(status == 0 || o.status == S::failed, "a nonzero exit status is a failure", all);
  check(o.status != S::failed || !o.detail.empty(), "a failure says why", all);
  check(o.status != S::unchanged || has_line(out, "UNCHANGED"), "unchanged only when it says so",
        all);
  check(o.status != S::skipped_newer || out.find("NEWER ") != std::string::npos,
        "skipped only when it names the newer header", all);
  check(!o.reloaded || has_line(out, "RELOADED"), "reloaded only when it says so", all);
  check(!o.reload_failed || o.status == S::failed, "a failed reload is a failure", all);
  check(trimmed(o.detail) && trimmed(o.sessions), "detail and sessions come trimmed", all);
  for (const std::string& path : o.changed)
    check(path.find('\n') == std::string::npos && out.find("CHANGED " + path) != std::string::npos,
          "each changed path is one the output names", all);
  return 0;
}
