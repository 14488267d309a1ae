#include "pgbouncer/push.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <map>
#include <optional>
#include <stdexcept>
#include <string_view>

#include "pgbouncer/console.h"
#include "pgbouncer/render.h"
#include "util/text.h"

namespace pgdeploy {

// src/pgbouncer/push.pl, built in (push_source.cpp.in).
extern const char kPushProgramSource[];

namespace {

// The program with the given parts: the lines between "#>> NAME" and "#<< NAME" belong to part
// NAME; comment lines are dropped (the program travels with every push). A part's name that is
// not known here, or a part left open, stops the agent at its first push: a unit test runs this.
std::string assemble(unsigned parts) {
  static const std::map<std::string, unsigned, std::less<>> names = {
      {"console", kConsolePart}, {"check", kCheckPart}, {"resident", kResidentPart}};
  std::string out, open;
  std::string_view text = kPushProgramSource;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end == std::string_view::npos ? text.size() : end + 1);
    text.remove_prefix(line.size());
    if (line.starts_with("#>> ") || line.starts_with("#<< ")) {
      std::string_view name = line.substr(4);
      while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.remove_suffix(1);
      bool opening = line[1] == '>';
      if (!names.contains(name) || opening != open.empty() || (!opening && name != open))
        throw std::logic_error("push.pl: misplaced part marker: " + std::string(line));
      open = opening ? std::string(name) : "";
      continue;
    }
    if (!open.empty() && !(parts & names.find(open)->second)) continue;
    size_t first = line.find_first_not_of(" \t");
    if (first != std::string_view::npos && line[first] != '#' && line[first] != '\n') out += line;
  }
  if (!open.empty()) throw std::logic_error("push.pl: part " + open + " is never closed");
  return out;
}

}  // namespace

unsigned program_parts(const PushRequest& r) {
  return (r.console ? kConsolePart : 0u) | (r.mode == PushRequest::Mode::check ? kCheckPart : 0u);
}

const std::string& push_program(unsigned parts) {
  static const std::array<std::string, kAllParts + 1> programs = [] {
    std::array<std::string, kAllParts + 1> all;
    for (unsigned p = 0; p <= kAllParts; ++p) all[p] = assemble(p);
    return all;
  }();
  return programs.at(parts & kAllParts);
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

namespace {

// A remote path on a shell command line: "~/x" is the remote user's home.
std::string quoted_path(const std::string& path) {
  return path.rfind("~/", 0) == 0 ? "\"$HOME\"/" + shell_quote(path.substr(2)) : shell_quote(path);
}

// The shell pattern of the temporary files the program makes beside `path` (see push.pl).
std::string temp_pattern(const std::string& path) {
  size_t slash = path.rfind('/');
  // Appended, not "." + path.substr(...): g++ 12 at -O3 reports a false -Wrestrict for that.
  std::string hidden = ".";
  hidden.append(path, slash + 1);
  return quoted_path(path.substr(0, slash + 1)) + shell_quote(hidden) + "'.pgdeploy-'*";
}

std::string marker_path(const std::string& lock_path) {
  return lock_path.substr(0, lock_path.size() - 5) + ".pending";  // ".lock" -> ".pending"
}

bool has_control(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}

// The rules push.pl applies to each field (see its field() calls).
std::string check_path(const std::string& what, const std::string& p) {
  bool rooted = p.rfind('/', 0) == 0 || p.rfind("~/", 0) == 0;
  bool dots = ("/" + p + "/").find("/../") != std::string::npos ||
              ("/" + p + "/").find("/./") != std::string::npos;
  if (!rooted || has_control(p) || p.back() == '/' || dots)
    return what + " must be an absolute path (or ~/...) without control characters, . or ..: " + p;
  return "";
}

// A header line sent alone: one line that ends with " digest=<D>" (push.pl's digest_in).
bool head_ok(const std::string& head) {
  size_t at = head.rfind(" digest=");
  return !has_control(head) && at != std::string::npos && at + 8 < head.size() &&
         head.find(' ', at + 1) == std::string::npos;
}

}  // namespace

std::string check_request(const PushRequest& r) {
  for (const auto& f : r.files) {
    if (auto e = check_path("file path", f.path); !e.empty()) return e;
    if (f.head_only && !head_ok(f.content))
      return "the header line of " + f.path + " does not end with its digest";
    // The program finds a shared file's block by the header line it starts with (cluster, digest).
    if (f.shared && f.content.substr(0, f.content.find('\n')).find(" pgdeploy cluster=") == std::string::npos)
      return "a shared file must start with its header line: " + f.path;
  }
  if (auto e = check_path("lock path", r.lock_path); !e.empty()) return e;
  if (r.lock_path.size() < 6 || r.lock_path.compare(r.lock_path.size() - 5, 5, ".lock") != 0)
    return "lock path must end in .lock";
  if (has_control(r.reload_command)) return "the reload command must be one line";
  if (r.reload_command.empty() && !r.console) return "no way to reload: no command, no console";
  if (!host_ok(r.target_host)) return "the primary's host cannot be written for PgBouncer: " + r.target_host;
  if (r.target_port < 1 || r.target_port > 65535) return "the primary's port is out of range";
  for (const auto& e : r.console_env) {
    size_t eq = e.find('=');
    if (eq == std::string::npos || eq < 3 || eq > 42 || e.compare(0, 2, "PG") != 0 || has_control(e) ||
        !std::all_of(e.begin(), e.begin() + eq, [](char c) { return (c >= 'A' && c <= 'Z') || c == '_'; }))
      return "admin_conninfo cannot be passed to psql: " + e.substr(0, e.find('='));
  }
  for (const std::string* s : {&r.socket_path, &r.socket_user, &r.socket_db})
    if (has_control(*s)) return "admin_conninfo: control character in the socket login";
  if (r.socket_path.size() > 107) return "admin_conninfo: socket path longer than 107 bytes";
  if (!r.console_dirs.empty() && !r.console) return "admin_sockets without an admin console";
  if (r.console_dirs.size() > kMaxProcesses) return "admin_sockets: too many processes";
  std::string socket_name = r.socket_path.substr(r.socket_path.rfind('/') + 1);
  for (const auto& d : r.console_dirs)
    if (d.empty() || d[0] != '/' || has_control(d) ||
        d.size() + 1 + std::max<size_t>(socket_name.size(), 15) > 107)
      return "admin_sockets: unusable socket directory " + d;
  std::string on_console;
  for (const auto* list : {&r.listed_databases, &r.auto_databases})
    for (const auto& db : *list)
      if (!console_name(db, &on_console)) return "database name cannot go to the admin console: " + db;
  if (r.pause_seconds < 0 || r.pause_seconds > 9999 || r.budget_ms < 0 || r.budget_ms > 999999999)
    return "timeouts out of range";
  return "";
}

std::string push_command(const PushRequest& r) {
  // A check always runs the program: it reports what the fast path would only skip.
  const std::string& program = push_program(program_parts(r));
  if (r.mode == PushRequest::Mode::check) return "exec perl -e " + shell_quote(program);
  // A re-run with nothing to change is answered by the login shell's builtins alone: each file's
  // first line still ends with its digest, no reload is pending, no temporary file is left.
  // Otherwise the program runs and checks again, under the lock, by content.
  std::string check = "c=; ";
  for (const auto& f : r.files) {
    std::string path = quoted_path(f.path);
    if (f.shared) {  // this cluster's block may start on any line: its header, with its digest
      std::string head = f.content.substr(0, f.content.find('\n'));
      size_t at = head.find(" pgdeploy cluster=");
      std::string cluster = at == std::string::npos ? "" : head.substr(at, head.find(' ', at + 1) - at);
      check += "f=; [ -f " + path + " ] && while IFS= read -r l; do case $l in ?" +
               shell_quote(cluster + " ") + "*" + shell_quote(" digest=" + f.digest) +
               ") f=1; break;; esac; done < " + path + "; [ -n \"$f\" ] || c=1; ";
      continue;
    }
    check += "l=; [ -f " + path + " ] && IFS= read -r l < " + path + "; case $l in *" +
             shell_quote(" digest=" + f.digest) + ") ;; *) c=1;; esac; ";
  }
  std::string marker = marker_path(r.lock_path);
  check += "[ -s " + quoted_path(marker) + " ] && c=1; ";
  std::vector<std::string> patterns;
  for (const auto& f : r.files) patterns.push_back(temp_pattern(f.path));
  patterns.push_back(temp_pattern(marker));
  check += "for t in";
  for (const auto& p : patterns) check += " " + p;
  check += "; do [ -e \"$t\" ] || [ -L \"$t\" ] && c=1; done; ";
  // The program goes on a line of its own, as a here-document on fd 3: the shell parses and runs a
  // line at a time, so a re-run answered by the fast path never reads the program's 39 KB; and
  // bash takes about 2.7 ms of CPU to parse a 40 KB quoted word, 0.3 ms to read a here-document
  // (bench/README.md), on every push. The delimiter is what push.pl cannot hold (CMakeLists.txt).
  return check + "[ -z \"$c\" ] && { echo UNCHANGED; echo DONE ok; exit 0; }\nexec perl /dev/fd/3 " +
         "3<<')PGDEPLOY_PL'\n" + program + (program.ends_with('\n') ? "" : "\n") + ")PGDEPLOY_PL\n";
}

std::string serve_command() { return "exec perl -e " + shell_quote(push_program(kAllParts)) + " serve"; }

namespace {

void field(std::string* out, const char* key, const std::string& value) {
  *out += key;
  *out += ' ' + std::to_string(value.size()) + '\n';
  *out += value;
  *out += '\n';
}

}  // namespace

std::string push_payload(const PushRequest& r) {
  std::string out = "PGDEPLOY2\n";
  field(&out, "lock", r.lock_path);
  field(&out, "budget_ms", std::to_string(r.budget_ms));
  field(&out, "reload", r.reload_command);
  field(&out, "timeline", std::to_string(r.timeline));
  field(&out, "generation", std::to_string(r.generation));
  field(&out, "primary", std::to_string(r.primary_id));
  field(&out, "force", r.force ? "1" : "0");
  field(&out, "target_host", r.target_host);
  field(&out, "target_port", std::to_string(r.target_port));
  field(&out, "console", r.console ? "1" : "0");
  for (const auto& e : r.console_env) field(&out, "env", e);
  for (const auto& d : r.console_dirs) field(&out, "console_dir", d);
  field(&out, "socket", r.socket_path);
  field(&out, "socket_user", r.socket_user);
  field(&out, "socket_db", r.socket_db);
  field(&out, "drain", r.drain ? "1" : "0");
  field(&out, "pause_s", std::to_string(r.pause_seconds));
  field(&out, "mode", r.mode == PushRequest::Mode::check ? "check" : "push");
  for (const auto& db : r.listed_databases) field(&out, "db", db);
  for (const auto& db : r.auto_databases) field(&out, "autodb", db);
  for (const auto& f : r.files) {
    field(&out, "path", f.path);
    field(&out, "flags", std::string(f.reload ? "r" : "") + (f.fence ? "f" : "") + (f.shared ? "b" : ""));
    if (f.head_only) field(&out, "head", f.content.substr(0, f.content.find('\n')));
    else field(&out, "content", f.content);
  }
  field(&out, "end", "");
  return out;
}

namespace {

template <typename T>
bool number(const std::string& s, size_t max_digits, T* out) {
  if (s.empty() || s.size() > max_digits) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size() && s[0] != '-' && s[0] != '+';
}

}  // namespace

bool parse_push_request(const std::string& in, PushRequest* out, std::string* err) {
  auto fail = [err](const std::string& why) {
    *err = why;
    return false;
  };
  const std::string magic = "PGDEPLOY2\n";
  if (in.compare(0, magic.size(), magic) != 0) return fail("malformed request: no PGDEPLOY2 header");
  std::map<std::string, std::string> one;
  const std::vector<std::string> singles = {"lock",        "budget_ms",   "reload",    "timeline",
                                            "generation",  "primary",     "force",     "target_host",
                                            "target_port", "console",     "drain",     "pause_s",
                                            "socket",      "socket_user", "socket_db", "mode"};
  PushRequest r;
  std::vector<std::map<std::string, std::string>> files;
  size_t pos = magic.size();
  for (;;) {
    size_t nl = in.find('\n', pos);
    if (nl == std::string::npos) return fail("request cut short");
    std::string head = in.substr(pos, nl - pos);
    size_t sp = head.find(' ');
    std::string key = head.substr(0, sp);
    size_t len = 0;
    if (sp == std::string::npos || key.empty() || key.size() > 16 ||
        !std::all_of(key.begin(), key.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; }) ||
        !number(head.substr(sp + 1), 10, &len))
      return fail("malformed request: bad field header");
    pos = nl + 1;
    if (len > in.size() || pos + len + 1 > in.size()) return fail("request cut short");
    std::string value = in.substr(pos, len);
    if (in[pos + len] != '\n') return fail("malformed request: field " + key + " not terminated");
    pos += len + 1;
    if (key == "end") break;
    if (std::find(singles.begin(), singles.end(), key) != singles.end()) {
      if (!one.emplace(key, value).second) return fail("malformed request: " + key + " twice");
    } else if (key == "db") {
      r.listed_databases.push_back(value);
    } else if (key == "autodb") {
      r.auto_databases.push_back(value);
    } else if (key == "env") {
      r.console_env.push_back(value);
    } else if (key == "console_dir") {
      r.console_dirs.push_back(value);
    } else if (key == "path") {
      files.push_back({{"path", value}});
    } else if (key == "flags" || key == "content" || key == "head") {
      if (files.empty()) return fail("malformed request: " + key + " before path");
      if (!files.back().emplace(key, value).second) return fail("malformed request: " + key + " twice");
    } else {
      return fail("malformed request: unknown field " + key);
    }
  }
  if (pos != in.size()) return fail("malformed request: bytes after the end");
  one.emplace("mode", "push");  // optional: older agents send none
  for (const auto& k : singles)
    if (!one.count(k)) return fail("malformed request: " + k + " missing");
  if (one["mode"] != "push" && one["mode"] != "check")
    return fail("malformed request: mode is not push or check");
  r.mode = one["mode"] == "check" ? PushRequest::Mode::check : PushRequest::Mode::push;
  auto flag = [&](const char* k, bool* v) {
    if (one[k] != "0" && one[k] != "1") return false;
    *v = one[k] == "1";
    return true;
  };
  if (!number(one["budget_ms"], 9, &r.budget_ms) || !number(one["timeline"], 20, &r.timeline) ||
      !number(one["generation"], 20, &r.generation) || !number(one["primary"], 10, &r.primary_id) ||
      !number(one["target_port"], 5, &r.target_port) || !number(one["pause_s"], 4, &r.pause_seconds) ||
      !flag("force", &r.force) || !flag("console", &r.console) || !flag("drain", &r.drain))
    return fail("malformed request: a number or flag is not one");
  r.lock_path = one["lock"];
  r.reload_command = one["reload"];
  r.target_host = one["target_host"];
  r.socket_path = one["socket"];
  r.socket_user = one["socket_user"];
  r.socket_db = one["socket_db"];
  for (auto& f : files) {
    const std::string& flags = f["flags"];
    bool flags_ok = true;  // r?f?b?, as push.pl reads them
    size_t at = 0;
    for (char c : flags) {
      size_t p = std::string_view("rfb").find(c, at);
      flags_ok = flags_ok && p != std::string_view::npos;
      at = flags_ok ? p + 1 : 0;
    }
    bool head = f.count("head");
    if (f.count("content") == head || !flags_ok) return fail("malformed request: file " + f["path"]);
    r.files.push_back({f["path"], head ? f["head"] : f["content"], "", flags.find('r') != std::string::npos,
                       flags.find('f') != std::string::npos, flags.find('b') != std::string::npos, head});
  }
  if (std::string why = check_request(r); !why.empty()) return fail("malformed request: " + why);
  *out = std::move(r);
  return true;
}

namespace {

// Remote text as the report may show it: one line, escaped (util/text), bounded; without the
// white space and line breaks that end it.
std::string printable(std::string s, size_t max = 400) {
  while (!s.empty() && (static_cast<unsigned char>(s.back()) <= ' ' || s.back() == 0x7f)) s.pop_back();
  return escape_text(s, Escape::text, max);
}

// The program's answer, either mode's, by the rules they share: "WORD text" lines up to the last
// one, "DONE ok" or "DONE failed", and no byte after it. The parsers say what each word means.
class AnswerReader {
 public:
  explicit AnswerReader(const std::string& out) : out_(out) {}

  // The next line before DONE: its word, and its text made printable ("" without a space). False
  // at DONE, or where the answer ends without one (cut short, or a last line without its end).
  bool next(std::string* word, std::string* text) {
    if (done_ || pos_ >= out_.size()) return false;
    size_t nl = out_.find('\n', pos_);
    if (nl == std::string::npos) return false;
    std::string line = out_.substr(pos_, nl - pos_);
    pos_ = nl + 1;
    size_t sp = line.find(' ');
    *word = line.substr(0, sp);
    *text = sp == std::string::npos ? "" : printable(line.substr(sp + 1));
    if (*word == "DONE") done_ = line.substr(std::min(line.size(), size_t{5}));
    return !done_;
  }

  // The `len` bytes and line break after the current line, as they are (check's INCLUDE).
  bool body(size_t len, std::string* bytes) {
    if (len > out_.size() - pos_ || out_.size() - pos_ - len < 1 || out_[pos_ + len] != '\n') return false;
    *bytes = out_.substr(pos_, len);
    pos_ += len + 1;
    return true;
  }

  // DONE ok, and nothing after it.
  bool ended_ok() const { return done_ == "ok" && pos_ == out_.size(); }

  // Why the answer is a failure: the error it named, else garbled (by the parser's rules or the
  // shared ones), cut short, or a bare status; with the program's standard error.
  std::string failure(const std::optional<std::string>& named, bool garbled, int exit_status,
                      const std::string& err) const {
    std::string why;
    if (std::string lacks = missing_perl_module((named ? *named : "") + "\n" + err); !lacks.empty())
      return lacks;
    if (named) why = *named;
    else if (garbled || (done_ && pos_ != out_.size()) || (done_ && *done_ != "ok" && *done_ != "failed"))
      why = "garbled answer from the app server: " + printable(out_, 200);
    else if (!done_)
      why =
          "the program's answer ended early (it was killed, or the connection was lost); "
          "exit status " +
          std::to_string(exit_status);
    else why = "the program failed with exit status " + std::to_string(exit_status);
    // The shell's `exec perl` found no perl it could run (127: none on PATH; 126: not executable).
    if (!done_ && (exit_status == 126 || exit_status == 127) && err.find("perl") != std::string::npos)
      why =
          "the app server has no perl it can run: install it (RHEL family: dnf install perl-interpreter; "
          "Debian: perl-base); " +
          why;
    std::string e = printable(err);
    return e.empty() ? why : why + " (" + e + ")";
  }

 private:
  const std::string& out_;
  size_t pos_ = 0;
  std::optional<std::string> done_;  // the text after DONE
};

}  // namespace

std::string missing_perl_module(const std::string& text) {
  static const std::string kCant = "Can't locate ";
  for (size_t at = text.find(kCant); at != std::string::npos; at = text.find(kCant, at + 1)) {
    size_t start = at + kCant.size(), end = text.find(".pm in @INC", start);
    if (end == std::string::npos || end == start || end - start > 100) continue;
    std::string module = text.substr(start, end - start);
    bool name = std::all_of(module.begin(), module.end(), [](char c) {
      return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
             c == '/';
    });
    if (!name) continue;
    for (size_t slash; (slash = module.find('/')) != std::string::npos;) module.replace(slash, 1, "::");
    // Debian's perl-base (Essential) has every module the program loads; the RHEL family splits
    // perl into packages, and dnf finds the one that provides a module by this name.
    return "the app server's perl lacks " + module + ": install it (RHEL family: dnf install 'perl(" +
           module + ")'; Debian: perl-base)";
  }
  return "";
}

PushOutcome parse_push_output(int exit_status, const std::string& out, const std::string& err) {
  PushOutcome o;
  AnswerReader answer(out);
  std::optional<std::string> error, newer;
  bool unchanged = false, garbled = false, resend = false;
  int versions = 0;
  std::string word, text;
  while (answer.next(&word, &text)) {
    if (word == "UNCHANGED") unchanged = true;
    else if (word == "NEWER") newer = text;
    else if (word == "CHANGED") o.changed.push_back(text);
    else if (word == "RELOADED") o.reloaded = true;
    else if (word == "CONFIRMED") o.confirmed = true;
    else if (word == "RELOAD-FAILED")
      o.reload_failed = true, error = "reload failed" + (text.empty() ? "" : ": " + text);
    else if (word == "SESSIONS") o.sessions = text;
    else if (word == "NOTE") o.notes.push_back(text);
    else if (word == "ERR" && !text.empty()) error = text;
    else if (word == "RESEND") resend = true, error = "the program did not hold the content of " + text;
    else if (word == "VERSION" && ++versions == 1) parse_pgbouncer_version(text, &o.pgbouncer_version);
    else if (word == "VERSION") o.pgbouncer_version = {};  // several: none of them is believed
    else garbled = true;
  }
  if (answer.ended_ok() && exit_status == 0 && !garbled && !o.reload_failed && !resend) {
    o.status = newer       ? PushOutcome::Status::skipped_newer
               : unchanged ? PushOutcome::Status::unchanged
                           : PushOutcome::Status::written;
    if (newer) o.newer = *newer;
    return o;
  }
  o.status = PushOutcome::Status::failed;
  if (!error && o.sessions.rfind("not cut", 0) == 0) error = "sessions " + o.sessions;
  o.detail = answer.failure(error, garbled, exit_status, err);
  return o;
}

bool asks_for_content(const std::string& out) {
  AnswerReader answer(out);
  std::string word, text;
  bool any = false;
  while (answer.next(&word, &text))
    if (!(any = word == "RESEND")) return false;
  return any && answer.ended_ok();
}

CheckAnswer parse_check_output(int exit_status, const std::string& out, const std::string& err) {
  CheckAnswer a;
  AnswerReader answer(out);
  std::optional<std::string> error;
  bool garbled = false;
  // "<text> <last word>": paths and database names may hold spaces, addresses and states do not.
  auto split_last = [](const std::string& text, std::string* head, std::string* last) {
    size_t sp = text.rfind(' ');
    if (sp == std::string::npos || sp == 0 || sp + 1 == text.size()) return false;
    *head = text.substr(0, sp);
    *last = text.substr(sp + 1);
    return true;
  };
  std::string word, text;
  while (!garbled && answer.next(&word, &text)) {
    std::string head, last;
    if (word == "FILE" && split_last(text, &head, &last) &&
        (last == "current" || last == "stale" || last == "missing" || last == "foreign")) {
      a.files.push_back({head, last});
    } else if (word == "HEADER") {
      size_t a1 = text.find(' '), a2 = a1 == std::string::npos ? a1 : text.find(' ', a1 + 1);
      a.has_header = a2 != std::string::npos && number(text.substr(0, a1), 10, &a.header_primary) &&
                     number(text.substr(a1 + 1, a2 - a1 - 1), 20, &a.header_timeline) &&
                     number(text.substr(a2 + 1), 20, &a.header_generation);
      garbled = !a.has_header;
    } else if (word == "PENDING") {
      a.pending = text;
    } else if (word == "UNLISTED" && !text.empty()) {
      a.unlisted.push_back(text);
    } else if (word == "PROCESS" && !text.empty()) {  // what follows, up to the next one, is its
      a.processes.push_back({text, "", {}, {}});
    } else if (word == "CONSOLE" && !text.empty()) {
      (a.processes.empty() ? a.console : a.processes.back().console) = text;
    } else if ((word == "ROUTE" || word == "SERVER") && split_last(text, &head, &last)) {
      auto& p = a.processes;
      (word == "ROUTE" ? (p.empty() ? a.routes : p.back().routes)
                       : (p.empty() ? a.servers : p.back().servers))
          .push_back({head, last});
    } else if (word == "INCLUDE" && !a.has_include) {
      size_t len = 0;
      garbled = !number(text, 10, &len) || !answer.body(len, &a.include);
      a.has_include = !garbled;
    } else if (word == "USER" && text.find(' ') != std::string::npos) {
      size_t verb = text.find(' ');  // "USER added <name>": the name is all after the verb
      std::string what = text.substr(0, verb), name = text.substr(verb + 1);
      if (what == "added") a.users_added.push_back(name);
      else if (what == "removed") a.users_removed.push_back(name);
      else if (what == "changed") a.users_changed.push_back(name);
      else garbled = true;
    } else if (word == "NOTE") {
      a.notes.push_back(text);
    } else if (word == "VERSION") {
      parse_pgbouncer_version(text, &a.pgbouncer_version);  // "" or another text: unknown
    } else if (word == "ERR") {
      error = text;
    } else if (word == "CLASH") {  // "CLASH <kind> <cluster> <name>": the name is all after the cluster
      size_t k = text.find(' '), c = k == std::string::npos ? k : text.find(' ', k + 1);
      std::string kind = text.substr(0, k);
      garbled = c == std::string::npos || c == k + 1 || c + 1 == text.size() ||
                (kind != "database" && kind != "role");
      if (!garbled) a.clashes.push_back({kind, text.substr(k + 1, c - k - 1), text.substr(c + 1)});
    } else {
      garbled = true;
    }
  }
  // Several processes: the console is "ok" when every one answered, else the first that did not.
  for (const auto& p : a.processes) {
    if (p.console.empty()) garbled = true;
    if (a.console.empty() || (a.console == "ok" && p.console != "ok"))
      a.console = p.console.rfind("failed: ", 0) == 0
                      ? "failed: PgBouncer at " + p.dir + ": " + p.console.substr(8)
                      : p.console;
  }
  a.ok = answer.ended_ok() && exit_status == 0 && !garbled && !a.console.empty();
  if (a.ok) return a;
  a.error = answer.failure(error, garbled || (answer.ended_ok() && a.console.empty()), exit_status, err);
  return a;
}

}  // namespace pgdeploy
