#include "remote/push_script.h"

#include <optional>
#include <sstream>

namespace pgdeploy {

// One perl-base process does all the work on the app server (perl-base is Essential in Debian):
// it compares, locks, writes each changed file to a temporary name in its own directory and
// renames it into place, so PgBouncer never reads half a file, then reloads and cuts sessions.
// A shell doing the same would start flock, head and mv for every file; each process start
// costs milliseconds while every core is busy with SSH handshakes.
const std::string& push_script() {
  static const std::string script = R"PL($| = 1;
umask 077;
my @tmps;
sub fail { print "ERR @_\n"; unlink @tmps; exit 1 }
sub first_line {
  open(my $f, '<', $_[0]) or return '';
  my $l = <$f>;
  $l = '' unless defined $l;
  chomp $l;
  return $l;
}
sub unchanged { my $t = " digest=$_[0][1]"; return substr(first_line($_[0][3]), -length $t) eq $t }
sub newer {  # decimal strings of any length: is $_[0] > $_[1]?
  my ($a, $b) = map { my $x = $_; $x =~ s/^0+(?=.)//; $x } @_;
  return length($a) > length($b) || (length($a) == length($b) && $a gt $b);
}
my $in = do { local $/; <STDIN> };
my $pos = 0;
sub line {
  my $i = index($in, "\n", $pos);
  fail('malformed request') if $i < 0;
  my $l = substr($in, $pos, $i - $pos);
  $pos = $i + 1;
  return $l;
}
line() eq 'PGDEPLOY1' or fail('malformed request');
my ($wait, $lock) = split / /, line(), 2;
my $reload = line();
my ($tl, $gen, $primary, $force) = split / /, line();
my $admin = line();
my $direct = line();
my ($pausewait, $drain, $count) = split / /, line();
my @names = map { line() } 1 .. $count;
my (@files, $total);
while ((my $l = line()) ne 'end') {
  my @f = split / /, $l, 4;
  $f[3] = "$ENV{HOME}/" . substr($f[3], 2) if substr($f[3], 0, 2) eq '~/';
  push @files, \@f;
  $total += $f[0];
}
fail('request cut short') if length($in) != $pos + $total + 5 || substr($in, -5) ne "done\n";
(my $pending = $lock) =~ s/\.lock$/.pending/;
if (!grep({ !unchanged($_) } @files) && !-s $pending) { print "UNCHANGED\n"; exit 0 }

open(my $lk, '>>', $lock) or fail("cannot open lock file $lock: $!");
my $until = time + $wait;
until (flock($lk, 6)) {  # LOCK_EX | LOCK_NB
  fail("another agent holds $lock") if time >= $until;
  select(undef, undef, undef, 0.02);
}
my $oldprimary = '';
for my $f (grep { $_->[2] =~ /f/ } @files) {
  my $first = first_line($f->[3]);
  $oldprimary = $1 if $first =~ / pgdeploy .* primary=(\S+)/;
  next if $force eq '1';
  my ($otl) = $first =~ / timeline=(\d+)(?: |$)/;
  my ($ogen) = $first =~ / generation=(\d+)(?: |$)/;
  next unless defined $otl && defined $ogen;
  if (newer($otl, $tl) || ($otl == $tl && newer($ogen, $gen))) { print "NEWER $first\n"; exit 0 }
}
my $doreload = 0;
if (-s $pending) {
  $oldprimary = $1 if first_line($pending) =~ /^pending (\S+)/;
  $doreload = 1;
}
my @moves;
for my $f (@files) {
  my $body = substr($in, $pos, $f->[0]);
  $pos += $f->[0];
  next if unchanged($f);
  my ($dir, $base) = $f->[3] =~ m{^(.*)/([^/]+)$} or fail("not an absolute path: $f->[3]");
  my $tmp = "$dir/.$base.pgdeploy-$$";
  push @tmps, $tmp;
  open(my $o, '>', $tmp) or fail("cannot write $tmp: $!");
  print $o $body or fail("cannot write $tmp: $!");
  close($o) or fail("cannot write $tmp: $!");
  push @moves, [$tmp, $f->[3]];
  $doreload = 1 if $f->[2] =~ /r/;
}
for my $m (@moves) {
  rename($m->[0], $m->[1]) or fail("cannot replace $m->[1]: $!");
  print "CHANGED $m->[1]\n";
}
@tmps = ();
exit 0 unless $doreload;

my $moved = $oldprimary ne '' && $oldprimary ne $primary;
my $p;
open($p, '>', $pending) && print($p "pending $oldprimary\n") && close($p)
  or fail("cannot write $pending: $!");
# Debian's psql is a Perl wrapper that costs more than the rest of the work: call the binary.
$ENV{psql} = $ENV{PGDEPLOY_PSQL} || 'psql';
if (!$ENV{PGDEPLOY_PSQL} && -l '/usr/bin/psql' && opendir(my $d, '/usr/lib/postgresql')) {
  for (sort { $a <=> $b } grep { /^\d/ } readdir $d) {
    $ENV{psql} = "/usr/lib/postgresql/$_/bin/psql" if -x "/usr/lib/postgresql/$_/bin/psql";
  }
}
sub shq { my $s = shift; $s =~ s/'/'\\''/g; return "'$s'" }
# The admin console through its unix socket, as a libpq client would talk to it: a startup message,
# then one simple query per command. A psql start costs the app server more CPU than everything
# else this program does. Returns undef when no session started (no socket, a password wanted,
# login refused): psql, which reads ~/.pgpass and says why, is tried then. Else the errors.
sub socket_console {
  my ($path, $user, $db) = split /\t/, $direct;
  my ($s, $buf, $errs, $started, @cmds) = (undef, '', '', 0, @_);
  my $send = sub { syswrite($s, $_[0] . pack('N', 4 + length $_[1]) . $_[1]) };
  local $SIG{ALRM} = sub { die "the admin console did not answer within $wait s\n" };
  alarm $wait;
  my $r = eval {
    socket($s, 1, 1, 0) && connect($s, pack('S Z108', 1, $path)) or return undef;  # AF_UNIX, SOCK_STREAM
    $send->('', pack('N', 196608) . "user\0$user\0database\0$db\0\0");
    while (1) {
      until (length($buf) >= 5 && length($buf) > unpack('N', substr($buf, 1, 4))) {
        next if sysread($s, $buf, 65536, length $buf);
        return $started ? $errs . "the admin console closed the connection\n" : undef;
      }
      my ($type, $n) = unpack('a N', $buf);
      my $body = substr($buf, 5, $n - 4);
      substr($buf, 0, $n + 1) = '';
      if ($type eq 'R') {
        return undef if unpack('N', $body) != 0;  # a password or another exchange is wanted
      } elsif ($type eq 'E') {
        return undef unless $started;
        $errs .= 'ERROR: ' . (($body =~ /(?:^|\0)M([^\0]*)/)[0] // '') . "\n";
      } elsif ($type eq 'Z') {  # ready for the next command
        $started = 1;
        if (!@cmds) { $send->('X', ''); return $errs }
        $send->('Q', shift(@cmds) . "\0");
      }
    }
  };
  alarm 0;
  return $@ eq '' ? $r : $@;
}
# Runs console commands; returns their errors, '' if none.
sub console {
  if ($direct ne '') {
    my $r = socket_console(@_);
    return $r if defined $r;
    $direct = '';
  }
  my $args = join ' ', map { '-c ' . shq($_) } @_;
  my $out = qx{"\$psql" $admin $args 2>&1 </dev/null};
  my $errs = join '', grep { /ERROR|FATAL/ } split /^/m, $out;
  return $errs if $errs ne '' || $? == 0;
  return $out ne '' ? $out : "psql exited with status " . ($? >> 8) . "\n";
}
my @resume = map { "RESUME $_" } @names;
my $pausing = $moved && $admin ne '' && $drain;
my $pause = join ' ', map { '-c ' . shq("PAUSE $_") } @names;
my $paused = $pausing &&
  system("timeout $pausewait \"\$psql\" $admin $pause >/dev/null 2>&1 </dev/null") == 0;
# The reload command's output and status. Plain words, like the default `sudo -n service pgbouncer
# reload`, are started without a shell: one process fewer on the app server.
sub run_reload {
  return (scalar(qx{{ $reload\n} 2>&1 </dev/null}), $?) if $reload !~ m{^[\w./:=@%+,-]+( [\w./:=@%+,-]+)*$};
  my @words = split / /, $reload;
  my $pid = open(my $from, '-|') // return ("cannot fork: $!", -1);
  if (!$pid) {
    open(STDERR, '>&', \*STDOUT) && open(STDIN, '<', '/dev/null');
    exec { $words[0] } @words;
    print "cannot run $words[0]: $!\n";
    exit 127;
  }
  my $out = do { local $/; <$from> } // '';
  close $from;
  return ($out, $?);
}
my $failed;
if ($reload eq '') {
  $failed = console('RELOAD');
} else {
  my ($out, $status) = run_reload();
  $failed = $status == 0 ? '' : $out ne '' ? $out : "exit status " . ($status >> 8);
}
if ($failed ne '') {
  console(@resume) if $pausing;  # never leave a database paused, whatever the PAUSE reached
  print "RELOAD-FAILED $failed\n";
  exit 1;
}
print "RELOADED\n";
my $said = '';
if ($moved && $admin ne '') {
  # A database PgBouncer has no pool for yet must not keep the others from being cut.
  my $errs = join '', grep { !/no such database/ }
    split /^/m, console($paused ? @resume : map { ("KILL $_", "RESUME $_") } @names);
  if ($errs ne '') { chomp $errs; print "SESSIONS not cut: $errs\n"; exit 1 }
  $said = $paused ? 'drained (PAUSE, RESUME)' : 'cut';
}
open($p, '>', $pending) && close($p);
exit 0 unless $moved;
print $said ? "SESSIONS $said\n" : "SESSIONS not cut: no PgBouncer admin console configured\n";
)PL";
  return script;
}

std::string push_command(const PushRequest& r) {
  // A re-run with nothing to change is answered by the login shell's builtins alone: each file's
  // first line still ends with its digest and no reload is pending. Otherwise the program runs and
  // checks again, under the lock.
  std::string check = "c=; ";
  auto quoted_path = [](const std::string& path) {
    return path.rfind("~/", 0) == 0 ? "\"$HOME\"/" + shell_quote(path.substr(2)) : shell_quote(path);
  };
  for (const auto& f : r.files) {
    std::string path = quoted_path(f.path);
    check += "l=; [ -f " + path + " ] && IFS= read -r l < " + path + "; case $l in *" +
             shell_quote(" digest=" + f.digest) + ") ;; *) c=1;; esac; ";
  }
  std::string pending = r.lock_path;
  if (pending.size() > 5 && pending.compare(pending.size() - 5, 5, ".lock") == 0)
    pending.resize(pending.size() - 5);
  check += "[ -s " + quoted_path(pending + ".pending") + " ] && c=1; ";
  return check + "[ -z \"$c\" ] && { echo UNCHANGED; exit 0; }; exec perl -e " +
         shell_quote(push_script());
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
  std::ostringstream out;
  out << "PGDEPLOY1\n"
      << r.lock_wait_seconds << ' ' << r.lock_path << '\n'
      << (r.console_reload ? "" : r.reload_command) << '\n'
      << r.timeline << ' ' << r.generation << ' ' << r.primary_id << ' ' << (r.force ? 1 : 0)
      << '\n'
      << r.admin_psql << '\n'
      << r.admin_socket << '\n'
      << r.pause_wait_seconds << ' ' << (r.drain ? 1 : 0) << ' ' << r.console_names.size() << '\n';
  for (const auto& name : r.console_names) out << name << '\n';
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

namespace {

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

PushOutcome parse_push_output(int exit_status, const std::string& out, const std::string& err) {
  PushOutcome o;
  bool answered = false;  // UNCHANGED or NEWER: the program decided to write nothing
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    auto after = [&](const std::string& prefix) {
      return line.rfind(prefix, 0) == 0 ? std::optional(line.substr(prefix.size())) : std::nullopt;
    };
    if (line == "UNCHANGED") {
      o.status = PushOutcome::Status::unchanged;
      answered = true;
    } else if (auto newer = after("NEWER ")) {
      o.status = PushOutcome::Status::skipped_newer;
      o.detail = *newer;
      answered = true;
    } else if (auto path = after("CHANGED ")) {
      o.changed.push_back(*path);
    } else if (line == "RELOADED") {
      o.reloaded = true;
    } else if (line.rfind("RELOAD-FAILED", 0) == 0) {  // the rest of the output is the reason
      o.reload_failed = true;
      o.detail = "reload failed: " + out.substr(out.find("RELOAD-FAILED") + 14);
      break;
    } else if (line.rfind("SESSIONS ", 0) == 0) {  // likewise
      o.sessions = out.substr(out.find("SESSIONS ") + 9);
      break;
    } else if (auto why = after("ERR ")) {
      o.detail = *why;
    }
  }
  o.detail = trimmed(o.detail);
  o.sessions = trimmed(o.sessions);
  if (exit_status == 0 && (answered || !o.reload_failed)) {
    if (!answered) o.status = PushOutcome::Status::written;
    return o;
  }
  o.status = PushOutcome::Status::failed;
  if (o.detail.empty() && o.sessions.rfind("not cut", 0) == 0) o.detail = "sessions " + o.sessions;
  std::string e = trimmed(err);
  if (o.detail.empty())
    o.detail = "remote script exited with status " + std::to_string(exit_status) +
               (e.empty() ? "" : ": " + e);
  else if (!e.empty() && !o.reload_failed)
    o.detail += " (" + e + ")";
  return o;
}

}  // namespace pgdeploy
