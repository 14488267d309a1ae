#include "remote/push_script.h"

#include <sstream>

namespace pgdeploy {

// Only shell builtins run when nothing changed; `head`, `mv`, `flock` and the reload command run
// only for files that did. Every file is written to a temporary name in its own directory and
// renamed into place, so PgBouncer never reads half a file.
const std::string& push_script() {
  static const std::string script = R"SH(umask 077
nl='
'
tmps=''
fail() { echo "ERR $*"; IFS=$nl; set -f; for t in $tmps; do rm -f -- "$t"; done; exit 1; }
entry() { size=${1%% *}; r=${1#* }; digest=${r%% *}; r=${r#* }; flags=${r%% *}; path=${r#* }; }
first_line() { first=''; [ -f "$1" ] && IFS= read -r first < "$1"; }
IFS= read -r magic && [ "$magic" = PGDEPLOY1 ] || fail "malformed request"
IFS=' ' read -r wait lock || fail "malformed request"
IFS= read -r reload || fail "malformed request"
IFS=' ' read -r tl gen primary force || fail "malformed request"
IFS= read -r admin || fail "malformed request"
IFS= read -r cut || fail "malformed request"
IFS=' ' read -r pausewait pause || fail "malformed request"
IFS= read -r resume || fail "malformed request"
files=''
changed=0
while IFS=' ' read -r size digest flags path; do
  [ "$size" = end ] && break
  case $path in "~/"*) path=$HOME/${path#??};; esac
  first_line "$path"
  case $first in *" digest=$digest") ;; *) changed=1;; esac
  files="$files$size $digest $flags $path$nl"
done
[ "$size" = end ] || fail "malformed request"
# A reload or session cut that failed leaves "pending <old primary>" behind: the next run redoes it,
# although the files themselves are up to date.
pending=${lock%.lock}.pending
[ $changed = 0 ] && [ ! -s "$pending" ] && { echo UNCHANGED; exit 0; }
exec 9>>"$lock" || fail "cannot open lock file $lock"
flock -w "$wait" 9 || fail "another agent holds $lock"
# Debian's psql is a Perl wrapper that costs more than the rest of the work: call the binary.
psql=${PGDEPLOY_PSQL:-psql}
if [ -z "${PGDEPLOY_PSQL:-}" ] && [ -L /usr/bin/psql ]; then
  for p in /usr/lib/postgresql/*/bin/psql; do [ -x "$p" ] && psql=$p; done
fi
IFS=$nl
set -f
oldprimary=''
for f in $files; do
  entry "$f"
  case $flags in *f*) ;; *) continue;; esac
  first_line "$path"
  case $first in *" pgdeploy "*) oldprimary=${first##* primary=}; oldprimary=${oldprimary%% *};; esac
  [ "$force" = 1 ] && continue
  otl=${first##* timeline=}; otl=${otl%% *}
  ogen=${first##* generation=}; ogen=${ogen%% *}
  case "$otl.$ogen" in *[!0-9.]*|.*|*.) continue;; esac
  if [ "$otl" -gt "$tl" ] || { [ "$otl" -eq "$tl" ] && [ "$ogen" -gt "$gen" ]; }; then
    echo "NEWER $first"; exit 0
  fi
done
doreload=0
if [ -s "$pending" ]; then
  IFS=' ' read -r word was < "$pending"
  [ -n "$was" ] && oldprimary=$was
  doreload=1
fi
moves=''
for f in $files; do
  entry "$f"
  first_line "$path"
  case $first in
    *" digest=$digest") head -c "$size" > /dev/null || fail "request cut short";;
    *) tmp=${path%/*}/.${path##*/}.pgdeploy-$$
       tmps="$tmps$tmp$nl"
       head -c "$size" > "$tmp" || fail "cannot write $tmp"
       moves="$moves$path$nl"
       case $flags in *r*) doreload=1;; esac;;
  esac
done
IFS= read -r tail
[ "$tail" = done ] || fail "request cut short"
for p in $moves; do
  mv -f -- "${p%/*}/.${p##*/}.pgdeploy-$$" "$p" || fail "cannot replace $p"
  echo "CHANGED $p"
done
[ $doreload = 1 ] || exit 0
moved=0
[ -n "$oldprimary" ] && [ "$oldprimary" != "$primary" ] && moved=1
echo "pending $oldprimary" > "$pending" || fail "cannot write $pending"
paused=0
tried=0
if [ $moved = 1 ] && [ -n "$admin" ] && [ -n "$pause" ]; then
  tried=1
  eval "timeout $pausewait $psql $admin $pause" > /dev/null 2>&1 < /dev/null && paused=1
fi
out=$(eval "$reload" 2>&1 < /dev/null) || {
  # Never leave a database paused: resume whatever the PAUSE reached, finished or not.
  [ $tried = 1 ] && eval "$psql $admin $resume" > /dev/null 2>&1 < /dev/null
  echo "RELOAD-FAILED $out"; exit 1; }
echo RELOADED
said=''
if [ $moved = 1 ] && [ -n "$admin" ]; then
  if [ $paused = 1 ]; then cmds=$resume; said="drained (PAUSE, RESUME)"; else cmds=$cut; said=cut; fi
  out=$(eval "$psql $admin $cmds" 2>&1 < /dev/null) || { echo "SESSIONS not cut: $out"; exit 1; }
  errs=''
  for l in $out; do
    case $l in *"no such database"*) ;; *ERROR*|*FATAL*) errs="$errs $l";; esac
  done
  [ -z "$errs" ] || { echo "SESSIONS not cut:$errs"; exit 1; }
fi
: > "$pending"
[ $moved = 1 ] || exit 0
[ -n "$said" ] || { echo "SESSIONS not cut: no PgBouncer admin console configured"; exit 0; }
echo "SESSIONS $said"
)SH";
  return script;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

std::string push_payload(const PushRequest& r) {
  auto psql_args = [](const std::vector<std::string>& commands) {
    std::string args;
    for (const auto& c : commands) args += (args.empty() ? "-c " : " -c ") + shell_quote(c);
    return args;
  };
  std::ostringstream out;
  out << "PGDEPLOY1\n"
      << r.lock_wait_seconds << ' ' << r.lock_path << '\n'
      << r.reload_command << '\n'
      << r.timeline << ' ' << r.generation << ' ' << r.primary_id << ' ' << (r.force ? 1 : 0)
      << '\n'
      << r.admin_psql << '\n'
      << psql_args(r.cut_commands) << '\n'
      << r.pause_wait_seconds << ' ' << psql_args(r.pause_commands) << '\n'
      << psql_args(r.resume_commands) << '\n';
  for (const auto& f : r.files) {
    std::string flags = std::string(f.reload ? "r" : "") + (f.fence ? "f" : "");
    out << f.content.size() << ' ' << f.digest << ' ' << (flags.empty() ? "-" : flags) << ' '
        << f.path << '\n';
  }
  out << "end\n";
  for (const auto& f : r.files) out << f.content;
  out << "done\n";
  return out.str();
}

PushOutcome parse_push_output(int exit_status, const std::string& out, const std::string& err) {
  PushOutcome o;
  std::istringstream lines(out);
  std::string line;
  bool any = false;
  while (std::getline(lines, line)) {
    auto rest = [&](const char* prefix) { return line.substr(std::string(prefix).size()); };
    if (line == "UNCHANGED") {
      o.status = PushOutcome::Status::unchanged;
      any = true;
    } else if (line.rfind("NEWER ", 0) == 0) {
      o.status = PushOutcome::Status::skipped_newer;
      o.detail = rest("NEWER ");
      any = true;
    } else if (line.rfind("CHANGED ", 0) == 0) {
      o.changed.push_back(rest("CHANGED "));
    } else if (line == "RELOADED") {
      o.reloaded = true;
    } else if (line.rfind("RELOAD-FAILED", 0) == 0) {
      o.reload_failed = true;
      o.detail = "reload failed: " + out.substr(out.find("RELOAD-FAILED") + 14);
      break;
    } else if (line.rfind("SESSIONS ", 0) == 0) {
      o.sessions = out.substr(out.find("SESSIONS ") + 9);
      break;
    } else if (line.rfind("ERR ", 0) == 0) {
      o.detail = rest("ERR ");
    }
  }
  while (!o.detail.empty() && (o.detail.back() == '\n' || o.detail.back() == ' '))
    o.detail.pop_back();
  while (!o.sessions.empty() && o.sessions.back() == '\n') o.sessions.pop_back();
  if (any && exit_status == 0) return o;
  bool sessions_failed = o.sessions.rfind("not cut", 0) == 0 && exit_status != 0;
  if (exit_status == 0 && !o.reload_failed) {
    o.status = PushOutcome::Status::written;
    return o;
  }
  o.status = PushOutcome::Status::failed;
  if (sessions_failed && o.detail.empty()) o.detail = "sessions " + o.sessions;
  if (o.detail.empty()) {
    std::string e = err;
    while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
    o.detail = "remote script exited with status " + std::to_string(exit_status) +
               (e.empty() ? "" : ": " + e);
  } else if (!err.empty() && !o.reload_failed) {
    std::string e = err;
    while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
    o.detail += " (" + e + ")";
  }
  return o;
}

}  // namespace pgdeploy
