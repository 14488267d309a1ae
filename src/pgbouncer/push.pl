# The push program, pgdeploy's program on the app server: started over SSH (a push as a
# here-document to `perl /dev/fd/3`, a check as `perl -e '<program>'`, the resident mode with the
# argument "serve"), it reads one request on standard input and answers on standard output. The
# protocol is written down in src/README.md ("The push program"); this file and
# src/pgbouncer/push.cpp are its two ends. perl-base only (Essential in Debian): strict, and the
# XS parts of Fcntl and IO (and of Socket, only where an address must be compared as an address).
#
# Read it top to bottom: helpers first (answering, the request, files, the console), then the
# three things the program does, one sub each: run_push (one push, steps 2-8 below), run_check
# (one check) and serve (the resident loop of `pgdeploy watch`, one request after another); the
# dispatch between them is the last lines of the file.
#
# Parts. perl compiles the whole program on every push, about 0.2 ms of CPU per KB sent
# (bench/README.md), so the agent sends only the parts a request can reach: the lines between
# "#>> NAME" and "#<< NAME" belong to part NAME, sent only where pgbouncer/push.cpp
# program_parts() says (console: a request with the admin console; check: mode check; resident:
# the resident mode, which gets every part). Everything outside the parts is always sent. take()
# refuses a request whose parts did not come, before it changes anything.
#
# Crash consistency. Every step below may be the last one (SIGKILL, a reboot): the order makes
# each such end safe.
#   1. read and check the whole request; 2. take the lock; remove temporary files of a run that
#   died; 3. compare, check the fencing token, ask PgBouncer where it routes now; 4. write every
#   changed file to a new temporary file (O_EXCL, O_NOFOLLOW) and fsync it; 5. write the marker
#   ".pending" (what a reload must still do); 6. rename each file into place, fsync the
#   directories; 7. reload, confirm with SHOW DATABASES, cut or drain sessions (on every PgBouncer
#   process the request lists: a process that fails keeps the marker); 8. remove the marker. A run that dies before 6 leaves the old files; one that dies after 5 leaves the
#   marker, so the next run reloads and cuts (if PgBouncer does not yet route as the files say),
#   even though every file is current. The marker is not fsynced: it speaks of the running
#   PgBouncer, and a machine that loses power comes back with a PgBouncer that reads the files.
#   PAUSE and KILL leave PgBouncer's databases waiting for a RESUME: a guardian process RESUMEs
#   them if this program dies first. SIGPIPE and SIGHUP are ignored and the answer is written
#   once, at the end, so a lost SSH channel stops nothing.
#
# Start-up is most of what a push costs the app server, so this program loads no module but
# strict: warnings come from $^W (warnings.pm costs 2 ms), and the two XS libraries it needs are
# loaded as their modules would load them, without the modules (Fcntl.pm's Exporter; IO::Handle,
# for fsync, pulls in Carp, Symbol and SelectSaver: 7 ms). A perl where that fails gets the
# modules. %! is never named: that would load Errno (and Config) at compile time. Constants are
# subs with an empty prototype, which perl inlines (constant.pm would be one more module).
use strict;
BEGIN {
  $^W = 1;
  sub xs {  # loads perl-base's lib/auto/<m>/<m>.so as <m>.pm does; false if it cannot
    my $m = shift;
    require XSLoader;
    my ($dir) = grep { !ref && m{^/[^"\n]*\z} && -f "$_/$m.pm" } @INC;
    return defined $dir && eval "#line 1 \"$dir/$m.pm\"\npackage $m; XSLoader::load('$m'); 1";
  }
  xs('Fcntl') or require Fcntl;
  no strict 'refs';
  *{$_} = \&{"Fcntl::$_"} for qw(O_RDONLY O_WRONLY O_CREAT O_EXCL O_NOFOLLOW LOCK_EX LOCK_NB);
}
my $io;  # IO.so, for IO::Handle::sync (fsync): loaded at the first write, or once by serve()
# A module perl cannot find fails the request with perl's words ("Can't locate IO/Handle.pm in
# @INC"), which the agent turns into what to install (pgbouncer/push.cpp missing_perl_module).
sub load_io { $io ||= eval { xs('IO') || require IO::Handle } || fail("$@") }
sub fsync { load_io(); return IO::Handle::sync($_[0]) }

# Bytes: the largest request taken; what one sysread of a request or syswrite of a file moves.
sub MAX_REQUEST () { 256 << 20 }
sub READ_CHUNK () { 1 << 20 }
# A check shows the include file up to this size: the agent reads 1 MiB of an answer at most.
sub MAX_INCLUDE_SHOWN () { 256 << 10 }
# Bytes of a unix socket's path (sockaddr_un holds 108 with the NUL); Linux's AF_UNIX and
# SOCK_STREAM (Socket.pm would be one more module to load).
sub SUN_PATH_MAX () { 107 }
sub AF_UNIX () { 1 }
sub SOCK_STREAM () { 1 }
# getsockopt(SOL_SOCKET, SO_PEERCRED): the pid of the process behind a unix socket (Linux).
sub SOL_SOCKET () { 1 }
sub SO_PEERCRED () { 17 }
# PostgreSQL's protocol version 3.0, as a startup message says it.
sub PROTOCOL_3_0 () { 3 << 16 }
# A request with no field: the resident mode's keep-alive.
sub PING () { "PGDEPLOY2\nend 0\n\n" }

# ------------------------------------------------------------------------------------ answering
my @said;   # answer lines, written in one piece by finish()
my $resident = 0;  # in the resident loop (see serve()), finish() answers and returns to it
my @tmps;   # temporary files to remove when we stop early
my $guard;  # write end of the guardian's pipe (see guard())

sub say_line {
  my ($word, $text) = @_;
  $text = '' unless defined $text;
  $text =~ s/\s*\n\s*/; /g;               # one line per answer, whatever a tool printed
  $text =~ s/[\x00-\x1f\x7f]/?/g;
  $text =~ s/;? *\z//;
  push @said, $text eq '' ? "$word\n" : "$word $text\n";
}

# Writes one whole answer. The resident program (see "serve") frames each by its length,
# "ANSWER <length>\n" and exactly that many bytes: no line of an answer, nor a file's bytes in it,
# can end it early for the agent.
my $framed = 0;
sub answer {
  my $out = shift;
  $out = 'ANSWER ' . length($out) . "\n$out" if $framed;
  local $^W = 0;  # the channel may be gone: nobody to tell
  my $off = 0;
  while ($off < length $out) { my $n = syswrite(STDOUT, $out, length($out) - $off, $off) or return; $off += $n }
}

# A resident program's child: the pipe on which it tells the program that it starts its answer
# ('s') and that the answer is written ('a').
my $answered;
sub finish {
  my $status = shift;
  unlink @tmps;
  if ($answered) { local $^W = 0; syswrite($answered, 's'); step('answering') }
  answer(join('', @said, "DONE $status\n"));
  if ($answered) { local $^W = 0; syswrite($answered, 'a'); step('answered') }
  die "answered\n" if $resident;
  exit($status eq 'ok' ? 0 : 1);
}

sub fail { say_line('ERR', "@_"); finish('failed') }

# Fault injection for the tests: PGDEPLOY_FAULT=<step>:<KILL|TERM|HUP|PIPE|close|sleep<ms>> acts at
# the named step boundary (see step() calls). Unset in production: one hash look-up per step.
my ($fault_step, $fault_act) = ($ENV{PGDEPLOY_FAULT} // '') =~ /^([\w-]+):(\w+)\z/;
sub step {
  return unless defined $fault_step && $fault_step eq $_[0];
  if ($fault_act =~ /^sleep(\d+)\z/) { select(undef, undef, undef, $1 / 1000) }
  elsif ($fault_act eq 'close') { close STDOUT; close STDERR }
  else { kill $fault_act, $$ }
}

# ------------------------------------------------------------------------------------ the request
# The request's fields, set by take() (once, or once per request in the resident mode below).
my (%one, @dbs, %listed, %ours, @env, @files);  # %listed: with a line of their own
my (@procs, @login);  # console_dir fields (one PgBouncer process each); the socket login as sent
my $at = '';          # the process the console talks to now (see at_process)
my ($lock, $budget, $reload, $tl, $gen, $primary, $force, $thost, $tport, $console, $drain,
    $pause_s, $mode, @direct, $pending_path, $started);
my (@all_dbs, %all_listed);  # the request's databases, before plan() leaves out another cluster's
my %single = map { $_ => 1 } qw(lock budget_ms reload timeline generation primary force
  target_host target_port socket socket_user socket_db console drain pause_s mode);
my $LINE = qr/^[^\x00-\x1f\x7f]*\z/;  # one line of text; \z, so no newline can slip through
sub field {
  my ($key, $re, $what) = @_;
  my $v = $one{$key};
  fail("malformed request: $key missing") unless defined $v;
  fail("malformed request: $key is not $what") unless $v =~ $re;
  return $v;
}
my $home = $ENV{HOME} // '';
sub local_path {
  my $p = shift;
  fail("malformed request: path $p") unless $p =~ m{^(?:/|~/)[^\x00-\x1f\x7f]*[^/]\z} && $p !~ m{(?:^|/)\.\.?(?:/|\z)};
  return $p =~ m{^~/(.*)\z} ? ($home ne '' ? "$home/$1" : fail('HOME is not set')) : $p;
}

# Parses and checks one whole request: anything wrong refuses it (nothing written).
sub take {
  my $in = shift;
  %one = %listed = ();
  @dbs = @env = @files = @procs = ();
  @said = @tmps = ();
  my $magic = "PGDEPLOY2\n";
  fail('malformed request: no PGDEPLOY2 header') if substr($in, 0, length $magic) ne $magic;
  my $pos = length $magic;
  while (1) {
    my $nl = index($in, "\n", $pos);
    fail('request cut short') if $nl < 0;
    my ($key, $len) = substr($in, $pos, $nl - $pos) =~ /^([a-z_]{1,16}) (\d{1,10})\z/
      or fail('malformed request: bad field header');
    $pos = $nl + 1;
    fail('request cut short') if $pos + $len + 1 > length $in;
    my $value = substr($in, $pos, $len);
    fail("malformed request: field $key not terminated") if substr($in, $pos + $len, 1) ne "\n";
    $pos += $len + 1;
    last if $key eq 'end';
    if ($single{$key}) {
      fail("malformed request: $key twice") if exists $one{$key};
      $one{$key} = $value;
    } elsif ($key eq 'db' || $key eq 'autodb') { push @dbs, $value; $listed{$value} = 1 if $key eq 'db' }
    elsif ($key eq 'env') { push @env, $value }
    elsif ($key eq 'console_dir') { push @procs, $value }
    elsif ($key eq 'path') { push @files, { path => $value } }
    elsif ($key eq 'flags' || $key eq 'content' || $key eq 'head') {
      fail("malformed request: $key before path") unless @files;
      fail("malformed request: $key twice") if exists $files[-1]{$key};
      $files[-1]{$key} = $value;
    } else { fail("malformed request: unknown field $key") }
  }
  fail('malformed request: bytes after the end') if $pos != length $in;

  $lock = local_path(field('lock', qr/\.lock\z/, 'a .lock path'));
  ($pending_path = $lock) =~ s/\.lock\z/.pending/;
  $budget = field('budget_ms', qr/^\d{1,9}\z/, 'a number') / 1000;
  $reload = field('reload', $LINE, 'one line');
  $tl = field('timeline', qr/^\d{1,20}\z/, 'a number');
  $gen = field('generation', qr/^\d{1,20}\z/, 'a number');
  $primary = field('primary', qr/^\d{1,10}\z/, 'a number');
  $force = field('force', qr/^[01]\z/, '0 or 1');
  $thost = field('target_host', qr/^[^\x00-\x20\x7f'"\\]{1,255}\z/, 'a host');
  $tport = field('target_port', qr/^\d{1,5}\z/, 'a port');
  $console = field('console', qr/^[01]\z/, '0 or 1');
  $drain = field('drain', qr/^[01]\z/, '0 or 1');
  $pause_s = field('pause_s', qr/^\d{1,4}\z/, 'a number');
  $one{mode} //= 'push';  # older agents send no mode
  $mode = field('mode', qr/^(?:push|check)\z/, 'push or check');
  @direct = map { field($_, qr/^[^\x00-\x1f\x7f]*\z/, 'one line') } qw(socket socket_user socket_db);
  fail('malformed request: socket path too long') if length $direct[0] > SUN_PATH_MAX;
  @login = @direct;
  fail('malformed request: console_dir without a console') if @procs && !$console;
  for (@procs) {
    fail('malformed request: console_dir') unless m{^/[^\x00-\x1f\x7f]*\z} && length($_) + 16 <= SUN_PATH_MAX;
  }
  fail('malformed request: no way to reload') if $reload eq '' && !$console;
  fail('internal error: the program came without its console part') if $console && !defined &console;
  fail('internal error: the program came without its check part') if $mode eq 'check' && !defined &run_check;
  for (@dbs) { fail('malformed request: database name') unless /^[^\x00\r\n]{1,63}\z/ && length(qname($_)) < 64 }
  %ours = map { $_ => 1 } @dbs;
  @all_dbs = @dbs;
  %all_listed = %listed;
  for (@env) { fail('malformed request: env') unless /^PG[A-Z_]{1,40}=[^\x00-\x1f\x7f]*\z/ }
  for my $f (@files) {
    $f->{sent_as} = $f->{path};
    $f->{path} = local_path($f->{path});
    fail("malformed request: flags of $f->{path}") unless ($f->{flags} // '') =~ /^r?f?b?\z/;
    recall($f);
    fail("malformed request: no content for $f->{path}") unless defined $f->{content} || defined $f->{head};
    @$f{qw(dir base)} = $f->{path} =~ m{^(.*)/([^/]+)\z};
    fail("malformed request: $f->{path} is shared but has no header") if ($f->{flags} // '') =~ /b/ && !defined header_cluster($f->{content} // $f->{head});
  }
  resend_unknown();
  $started = time;
}

# A resident program keeps the last content the agent sent for each path, so that a watcher's
# idle round sends each file's header line alone ("head": the digest of its body ends it, and the
# generation in it moves with every proof) instead of the whole file. The files here are still
# compared by content, with the content rebuilt from that header and the body kept here.
# request path -> the content last sent for it on this channel, under the last header line sent
my %held;
sub digest_in { return (first_line($_[0]) =~ / digest=([^\x00-\x20\x7f]+)\z/)[0] }
sub recall {
  my $f = shift;
  return unless defined $f->{head};
  fail("malformed request: content and head for $f->{path}") if defined $f->{content};
  fail("malformed request: head of $f->{path}") unless $f->{head} =~ $LINE && defined digest_in($f->{head});
  my $p = $f->{sent_as};
  return unless defined $held{$p} && (digest_in($held{$p}) // '') eq digest_in($f->{head});
  # The new header line replaces the old one in the kept copy itself, which the request then
  # shares (perl copies a string only when one of its holders changes it): an idle round neither
  # copies nor allocates the body again (1.5 MB with 10,000 roles).
  my $nl = index($held{$p}, "\n");
  substr($held{$p}, 0, $nl < 0 ? length $held{$p} : $nl) = $f->{head};
  $f->{content} = $held{$p};
}
# A header whose body this program does not hold (a new program, another digest): nothing is
# done, and the agent sends the request again with those files' content.
sub resend_unknown {
  my @unknown = grep { defined $_->{head} && !defined $_->{content} } @files;
  return unless @unknown;
  say_line('RESEND', $_->{sent_as}) for @unknown;
  finish('ok');
}
sub remember { $held{$_->{sent_as}} = $_->{content} for grep { !defined $_->{head} } @files }

#>> resident
# One request from a stream of them (the resident mode), or undef at the end of the stream.
# Framing errors end the program: after one, nothing on the stream can be trusted.
my $rbuf = '';
sub next_request {
  my $broken = sub { $resident = 0; fail(@_) };
  my $more = sub {
    $broken->('request larger than 256 MiB') if length($rbuf) > MAX_REQUEST;
    return sysread(STDIN, $rbuf, READ_CHUNK, length $rbuf);
  };
  my $pos = 0;
  while (1) {
    my $nl = index($rbuf, "\n", $pos);
    if ($nl < 0) {
      next if $more->();
      return undef if $rbuf eq '';
      $broken->('request cut short');
    }
    my $line = substr($rbuf, $pos, $nl - $pos);
    if ($pos == 0) {
      $broken->('malformed request: no PGDEPLOY2 header') if $line ne 'PGDEPLOY2';
      $pos = $nl + 1;
      next;
    }
    my ($key, $len) = $line =~ /^([a-z_]{1,16}) (\d{1,10})\z/
      or $broken->('malformed request: bad field header');
    while (length($rbuf) < $nl + $len + 2) { $more->() or $broken->('request cut short') }
    $pos = $nl + $len + 2;
    return substr($rbuf, 0, $pos, '') if $key eq 'end';
  }
}
#<< resident

# The one request of a one-shot run: all of standard input.
sub read_request {
  my $in = '';
  while (1) {
    my $n = sysread(STDIN, $in, READ_CHUNK, length $in);
    fail("cannot read the request: $!") unless defined $n;
    last if $n == 0;
    fail('request larger than 256 MiB') if length($in) > MAX_REQUEST;
  }
  return $in;
}
sub left { my $l = $started + $budget - time; return $l < 1 ? 1 : int $l }  # whole seconds, >= 1

# ------------------------------------------------------------------------------------ files
# The whole file, or undef when there is none (or a symlink, which is replaced, never followed).
sub slurp {
  my $path = shift;
  return undef if -l $path;
  sysopen(my $fh, $path, O_RDONLY | O_NOFOLLOW) or return undef;
  local $/;
  my $text = <$fh>;
  return defined $text ? $text : '';
}
sub first_line { my $t = shift; return defined $t && $t =~ /^([^\n]*)/ ? $1 : '' }
# Temporary files are ".<base>.pgdeploy-<pid>-<random>" beside their file (one name, made here,
# for the files and the marker; pgbouncer/push.cpp's fast path looks for the same pattern).
sub temp_name {
  my ($dir, $base) = @_;
  return sprintf('%s/.%s.pgdeploy-%d-%08x', $dir, $base, $$, int rand 0xffffffff);
}
sub leftovers {
  my (%seen, @found);
  for my $f (@files, { dir => ($lock =~ m{^(.*)/})[0], base => ($lock =~ m{([^/]+)\.lock\z})[0] . '.pending' }) {
    opendir(my $d, $f->{dir}) or next;
    push @found, map { "$f->{dir}/$_" } grep { /^\.\Q$f->{base}\E\.pgdeploy-\d+(?:-[0-9a-f]+)?\z/ } readdir $d;
  }
  return grep { !$seen{$_}++ } @found;
}
# A file is current when it carries our header with the same digest and the same body: the
# header's generation moves with every proof, and is not rewritten for that alone.
# A file shared by several clusters (flag b) is judged by this cluster's block in it, and any file
# by what this run would hold there (plan(): the request's content less what another cluster has).
sub current {
  my $f = shift;
  return 0 unless defined $f->{held};
  my ($digest) = first_line($f->{want}) =~ /( digest=\S+(?: partial)?)\z/;
  return 0 unless defined $digest && first_line($f->{held}) =~ / pgdeploy .*\Q$digest\E\z/;
  # The bodies (all after the first line) compared where they lie, not copied out first.
  my ($h, $w) = map { my $nl = index($_, "\n"); $nl < 0 ? length $_ : $nl + 1 } $f->{held}, $f->{want};
  return length($f->{held}) - $h == length($f->{want}) - $w && substr($f->{held}, $h) eq substr($f->{want}, $w);
}
sub survey {
  $_->{old} = slurp($_->{path}) for @files;
  plan();
  # A role clash is answered by a run every time (an error), though nothing is written for it.
  return (scalar(grep { !current($_) } @files) + role_clashes(),
          first_line(slurp($pending_path)), scalar(leftovers()));
}
sub sync_dir { open(my $d, '<', $_[0]) or return; fsync($d) }
sub done_marker { unlink $pending_path; step('cleared') }

# ------------------------------------------------------------------------------------ clusters
# Several clusters behind one PgBouncer (docs/setup.md, "Several clusters behind one PgBouncer").
# userlist.txt and ~/.pgpass (flag b) hold a block per cluster, from the header line the agent
# sends ("<c> pgdeploy cluster=<name> ... digest=<d>") to "<c> pgdeploy cluster=<name> end". Other
# clusters' blocks and lines outside any block (written by hand) are kept byte for byte. A file
# that is one cluster's block alone is written whole, as earlier versions wrote it: a block whose
# end line is missing runs to the end of the file (so a file an earlier version wrote is the block
# of the cluster its header names). Every cluster's include file carries its name in its header,
# and all sit in one directory: a database name (or "*") another cluster's include file there
# routes is never taken over, the first one stays. Both are decided and written under the shared
# lock, which every cluster's push on this server takes (take_shared_lock).
my (@left_out, @role_clash);  # [other cluster, name]: left out of this cluster's files

sub header_cluster { return (first_line($_[0]) =~ /^[;#] pgdeploy cluster=([\w-]+) .* digest=\S+(?: partial)?\z/)[0] }
sub end_line { my ($comment, $cluster) = @_; return "$comment pgdeploy cluster=$cluster end\n" }

# A shared file as [cluster (undef: lines of nobody's), text] parts, in order.
sub blocks {
  my ($in, @parts);
  for my $line (split /^/m, $_[0] // '') {
    if (defined $in) {
      $parts[-1][1] .= $line;
      undef $in if $line eq end_line(substr($line, 0, 1), $in) || $line . "\n" eq end_line(substr($line, 0, 1), $in);
    } elsif (defined(my $c = header_cluster($line))) {
      push @parts, [$in = $c, $line];
    } elsif (@parts && !defined $parts[-1][0]) {
      $parts[-1][1] .= $line;
    } else {
      push @parts, [undef, $line];
    }
  }
  return @parts;
}
# Is the text one cluster's block alone: its header on the first line, and no other line read as
# a block's start or end but, on the last line, that cluster's own end line? (blocks() would find
# that one block and nothing else.)
sub alone {
  my ($text, $cluster) = @_;
  return 0 unless (header_cluster($text) // '') eq $cluster;
  my $marks = () = $text =~ /^[;#] pgdeploy cluster=/mg;
  return $marks == 1 || ($marks == 2 && $text =~ /\n[;#] pgdeploy cluster=\Q$cluster\E end\n?\z/);
}
# A block's text without its end line.
sub unended { my ($text, $cluster) = @_; $text =~ s/^[;#] pgdeploy cluster=\Q$cluster\E end\n?\z//m; return $text }

# The whole shared file with this cluster's block ($f->{want}) in place of its old one (or after
# everything else).
sub merge_block {
  my $f = shift;
  my $name = $f->{cluster};
  my @parts = blocks($f->{old});
  my $mine = $f->{want} . ($f->{want} =~ /\n\z/ ? '' : "\n");
  return $mine unless grep { ($_->[0] // '') ne $name } @parts;  # ours alone: written whole
  my ($out, $placed) = ('', 0);
  my $add = sub { $out .= ($out eq '' || $out =~ /\n\z/ ? '' : "\n") . $_[0] };
  for my $p (@parts) {
    my ($cluster, $text) = @$p;
    if (defined $cluster && $cluster eq $name) {
      $add->($mine . end_line(substr($mine, 0, 1), $name)) unless $placed++;
      next;
    }
    # Another cluster's whole file, written by an earlier version: it gets its end line.
    $text .= ($text =~ /\n\z/ ? '' : "\n") . end_line(substr($text, 0, 1), $cluster)
      if defined $cluster && unended($text, $cluster) eq $text;
    $add->($text);
  }
  $add->($mine . end_line(substr($mine, 0, 1), $name)) unless $placed;
  return $out;
}

# What this run would hold in each file ({want}), what it holds now ({held}) and the bytes to
# write ({write}); which databases it routes (@dbs, %listed, %ours) and what it leaves out.
sub plan {
  @dbs = @all_dbs;
  %listed = %all_listed;
  @left_out = @role_clash = ();
  for my $f (@files) {
    $f->{cluster} = header_cluster($f->{content}) // '';
    ($f->{want}, $f->{held}, $f->{write}) = ($f->{content}, $f->{old}, $f->{content});
    leave_out_taken($f) if $f->{flags} =~ /f/;
    next unless $f->{flags} =~ /b/;
    # The file as one cluster's block alone, or none: nothing to split (line by line, 10,000 roles
    # cost perl about 120 ms, on every idle round of a watcher: bench/README.md).
    my $alone = !defined $f->{old} || alone($f->{old}, $f->{cluster});
    if ($alone && $f->{content} !~ /\n[;#] pgdeploy cluster=/) {
      $f->{want} = $f->{content};
      $f->{held} = defined $f->{old} ? unended($f->{old}, $f->{cluster}) : undef;
      $f->{write} = $f->{want} =~ /\n\z/ ? $f->{want} : "$f->{want}\n";  # as merge_block() writes it
      next;
    }
    my ($head, @body) = split /^/m, $f->{content};
    # A line of the body that would read as a block's start or end is not ours to write.
    @body = grep { !/^[;#] pgdeploy cluster=/ } @body;
    @body = leave_out_roles($f, @body) if $f->{flags} =~ /r/ && !$alone;
    # A block that lacks roles of the request says so, so that the shell's fast path (which finds
    # the header by its digest) lets the program run, and say why, every time.
    $head =~ s/\n?\z/ partial\n/ if $f->{flags} =~ /r/ && @role_clash;
    $f->{want} = join '', $head, @body;
    my ($own) = grep { ($_->[0] // '') eq $f->{cluster} } blocks($f->{old});
    $f->{held} = $own ? unended($own->[1], $f->{cluster}) : undef;
    $f->{write} = merge_block($f);
  }
  %ours = map { $_ => 1 } @dbs;
}

# The include file: a route whose name another cluster's include file beside it defines is left
# out, and with "*" also the databases routed through it.
sub leave_out_taken {
  my $f = shift;
  my %taken;
  if (opendir(my $d, $f->{dir})) {
    for my $base (sort grep { !/^\./ && $_ ne $f->{base} } readdir $d) {
      my $path = "$f->{dir}/$base";
      next unless -f $path && -s _ < (1 << 20);
      my $text = slurp($path);
      my $other = header_cluster($text);
      next unless defined $other && $other ne $f->{cluster};
      $taken{$_} //= $other for map { include_name($_) // () } split /\n/, $text;
    }
  }
  return unless %taken;
  my ($head, @body) = split /^/m, $f->{content};
  my @kept;
  for (@body) {
    my $n = include_name($_);
    if (defined $n && defined $taken{$n}) { push @left_out, [$taken{$n}, $n] } else { push @kept, $_ }
  }
  $f->{want} = join '', $head, @kept;
  $f->{write} = $f->{want};
  for (grep { !$all_listed{$_} } @all_dbs) {  # routed through our "*"
    my $other = $taken{$_} // $taken{'*'};
    push @left_out, [$other, $_] if defined $other;
  }
  my %out = map { $_->[1] => 1 } @left_out;
  @dbs = grep { !$out{$_} } @all_dbs;
  delete @listed{keys %out};
}
# The database name a line of an include file defines (as report/check's include_routes reads it).
sub include_name {
  my $line = shift;
  return undef if $line =~ /^\s*(?:[;#\[]|\z)/;
  my ($n) = $line =~ /^\s*(.*?) = /;
  ($n) = $line =~ /^\s*([^=]*?)\s*=/ unless defined $n;
  return undef unless defined $n;
  $n = $1 if $n =~ /^"(.*)"\z/;
  return $n;
}

sub users {  # userlist.txt: name -> secret (the secrets never leave this program)
  my %u;
  for (split /\n/, $_[0] // '') { $u{$1 =~ s/""/"/gr} = $2 if /^"((?:[^"]|"")*)" "((?:[^"]|"")*)"/ }
  return \%u;
}
# userlist.txt: a role another cluster's block defines with another secret is left out of ours
# (the first one stays) and named in an error; with the same secret it is no clash.
sub leave_out_roles {
  my ($f, @body) = @_;
  my %theirs;
  for my $p (blocks($f->{old})) {
    next unless defined $p->[0] && $p->[0] ne $f->{cluster};
    my $u = users($p->[1]);
    $theirs{$_} //= [$u->{$_}, $p->[0]] for keys %$u;
  }
  return grep {
    my ($name, $secret) = %{users($_)};
    my $t = defined $name ? $theirs{$name} : undef;
    push @role_clash, [$t->[1], $name] if $t && $t->[0] ne $secret;
    !($t && $t->[0] ne $secret);
  } @body;
}
sub role_clashes { return scalar @role_clash }

# How a push that got past its first look ends: the role clashes are its errors, and what it left
# out of the include file a note (the maintenance databases every cluster has, postgres and repmgr,
# are the first cluster's: docs/setup.md).
sub finish_push {
  my %by;
  push @{$by{$_->[0]}}, $_->[1] for @left_out;
  say_line('NOTE', 'left out ' . join(', ', @{$by{$_}}) . ": cluster ${_}'s include file beside ours routes "
                   . (@{$by{$_}} > 1 ? 'them' : 'it')) for sort keys %by;
  my ($users) = grep { $_->{flags} =~ /b/ && $_->{flags} =~ /r/ } @files;
  say_line('ERR', "role $_->[1]: clusters $_->[0] and $users->{cluster} define it with different secrets; "
                  . "$_->[0]'s stays in $users->{path}, $users->{cluster}'s is left out") for @role_clash;
  finish(@role_clash ? 'failed' : 'ok');
}

# The lock every cluster's push on this server takes while it decides and writes what the clusters
# share (beside the clusters' own locks; no cluster name has a dot).
sub take_shared_lock {
  return undef unless grep { $_->{flags} =~ /[fb]/ } @files;
  my $own = $lock;
  $lock = ($lock =~ m{^(.*)/})[0] . '/.pgdeploy.shared.lock';
  my $lk = take_lock();
  $lock = $own;
  return $lk;
}

# ------------------------------------------------------------------------------------ the console
# Several PgBouncer processes on one port (so_reuseport), each with its own socket directory and
# console: the request's console_dir fields. console() talks to the one at_process() chose,
# through the request's login with that directory as its host; '' is the one console of the
# login as sent (no console_dir).
sub processes { return @procs ? @procs : ('') }
sub bouncer { return $_[0] eq '' ? 'PgBouncer' : "PgBouncer at $_[0]" }
# "why" per process, each named where there are several.
sub named {
  my %why = @_;
  return join '; ', map { @procs ? bouncer($_) . ": $why{$_}" : $why{$_} } sort keys %why;
}

# As the console takes a name (pgbouncer/render console_name: the agent sends only names that fit).
sub qname { my $n = shift; return $n if $n =~ /^[0-9a-z_]+\z/; $n =~ s/"/""/g; return qq("$n") }

# %unasked: the processes whose console could not be asked, and why (all_routes).
my %unasked;
# After the reload and the cut, so that the scan of /proc (some ms) never delays them; and only
# where the request lists processes (admin_sockets): a site that runs several names them there,
# and on one with a single process the scan would cost every push of a failover its ms (it reads
# every process's comm: bench/README.md) to find what check, which always scans, reports anyway.
sub note_unlisted {
  my @found = $console && @procs ? unlisted() : () or return;
  say_line('NOTE', 'PgBouncer process(es) here that no console of this row reached, so neither reloaded nor '
    . 'asked: ' . join(', ', @found) . ' (list every unix_socket_dir in app_servers.admin_sockets)');
}

#>> console
# at_process() sets the process the console talks to (processes() lists them).
sub at_process {
  $at = shift;
  @direct = @login;
  $direct[0] =~ s{^.*/}{$at/} if $at ne '' && $direct[0] ne '';
}
# The pids of the PgBouncer processes a socket login reached (SO_PEERCRED), to tell which
# PgBouncer processes of this host no console of the request reached (see unlisted()).
my (%peers, $peer_unknown);  # $peer_unknown: a console went through psql, whose peer is not known

# PgBouncer's admin console through its unix socket, as a libpq client talks to it: a startup
# message, then one simple query per command. Returns (errors, results), results being one
# [columns, rows] per command; undef when no session started (no socket, a password wanted,
# login refused): psql, which reads ~/.pgpass and says why, is used then.
sub socket_console {
  my ($timeout, @cmds) = @_;
  my ($path, $user, $db) = @direct;
  my ($s, $buf, $errs, $ready, @results) = (undef, '', '', 0);
  my $send = sub { syswrite($s, $_[0] . pack('N', 4 + length $_[1]) . $_[1]) };
  local $SIG{ALRM} = sub { die "the admin console did not answer within $timeout s\n" };
  alarm $timeout;
  my $r = eval {
    socket($s, AF_UNIX, SOCK_STREAM, 0) && connect($s, pack('S Z' . (SUN_PATH_MAX + 1), AF_UNIX, $path))
      or return undef;
    my $cred = getsockopt($s, SOL_SOCKET, SO_PEERCRED);
    $peers{unpack('i', $cred)} = 1 if defined $cred && length $cred >= 4;
    $send->('', pack('N', PROTOCOL_3_0) . "user\0$user\0database\0$db\0\0");
    while (1) {
      until (length($buf) >= 5 && length($buf) > unpack('N', substr($buf, 1, 4))) {
        next if sysread($s, $buf, 65536, length $buf);
        return $ready ? [$errs . "the admin console closed the connection\n", \@results] : undef;
      }
      my ($type, $n) = unpack('a N', $buf);
      my $body = substr($buf, 5, $n - 4);
      substr($buf, 0, $n + 1) = '';
      if ($type eq 'R') {
        return undef if unpack('N', $body) != 0;  # a password or another exchange is wanted
      } elsif ($type eq 'E') {
        return undef unless $ready;
        $errs .= 'ERROR: ' . (($body =~ /(?:^|\0)M([^\0]*)/)[0] // '') . "\n";
      } elsif ($type eq 'T') {  # the columns of a result
        my @cols = unpack('x2 (Z* x18)' . unpack('n', $body), $body);
        $results[-1] = [\@cols, []];
      } elsif ($type eq 'D') {
        my ($count, @row) = (unpack('n', $body), ());
        my $at = 2;
        for (1 .. $count) {
          my $len = unpack('l>', substr($body, $at, 4));
          push @row, $len < 0 ? undef : substr($body, $at + 4, $len);
          $at += 4 + ($len < 0 ? 0 : $len);
        }
        push @{$results[-1][1]}, \@row if $results[-1];
      } elsif ($type eq 'Z') {  # ready for the next command
        $ready = 1;
        shift(@cmds)->() while @cmds && ref $cmds[0];  # a step between two commands (console())
        if (!@cmds) { $send->('X', ''); return [$errs, \@results] }
        $send->('Q', shift(@cmds) . "\0");
        push @results, undef;
      }
    }
  };
  alarm 0;
  return $@ eq '' ? (defined $r ? @$r : undef) : ($@, []);
}

# psql, for a console that needs more than a socket login: the conninfo arrives as PG* variables
# (never on a command line that `ps` shows), the commands on its standard input (no length limit).
# Debian's psql is a Perl wrapper that costs more than the rest of the work: call the binary.
# Looked for only when psql is needed (most pushes never start it).
my $psql;
sub psql_binary {
  return $psql if defined $psql;
  $psql = $ENV{PGDEPLOY_PSQL} || 'psql';
  if (!$ENV{PGDEPLOY_PSQL} && -l '/usr/bin/psql' && opendir(my $d, '/usr/lib/postgresql')) {
    for (sort { $a <=> $b } grep { /^\d+\z/ } readdir $d) {
      $psql = "/usr/lib/postgresql/$_/bin/psql" if -x "/usr/lib/postgresql/$_/bin/psql";
    }
  }
  return $psql;
}
sub psql_console {
  my ($timeout, $query, @cmds) = @_;
  $peer_unknown = 1;
  psql_binary();
  pipe(my $cmd_r, my $cmd_w) or return ("cannot make a pipe: $!\n", []);
  my $pid = open(my $from, '-|') // return ("cannot fork: $!\n", []);
  if (!$pid) {
    close $cmd_w;
    open(STDIN, '<&', $cmd_r) && open(STDERR, '>&', \*STDOUT) or exit 127;
    for (@env) { my ($k, $v) = split /=/, $_, 2; $ENV{$k} = $v }
    $ENV{PGHOST} = $at if $at ne '';
    my @fmt = $query ? ('-F', "\x1f", '-R', "\x1e", '-P', 'footer=off') : ('-t');
    exec { $psql } $psql, '-X', '-q', '-A', @fmt, '-f', '-' or print "cannot run $psql: $!\n";
    exit 127;
  }
  close $cmd_r;
  my $writer = fork;  # feeds psql while we read it: neither side can block the other
  if (defined $writer && !$writer) { close $from; print $cmd_w map { "$_;\n" } @cmds; close $cmd_w; exit 0 }
  close $cmd_w;
  local $SIG{ALRM} = sub { kill 'KILL', $pid };
  alarm $timeout;
  my $out = do { local $/; <$from> } // '';
  close $from;
  my $status = $?;
  alarm 0;
  waitpid($writer, 0) if $writer;
  my @results;
  if ($query && $status == 0) {
    my ($head, @rows) = map { [split /\x1f/, $_, -1] } grep { $_ ne '' } split /\x1e\n?/, $out;
    @results = ([$head, \@rows]);
  }
  my $errs = join '', grep { /ERROR|FATAL/ } split /^/m, $out;
  $errs = $out ne '' ? $out : 'psql exited with status ' . ($status >> 8) . "\n"
    if $errs eq '' && $status != 0;
  return ($errs, \@results);
}

# The PgBouncer version a push reads (version_rider below); $ask_version: during step 3's look.
my ($ask_version, $version, $version_key);

# Runs console commands; returns their errors ('' if none) and, for a query, its [columns, rows].
# A sub among the commands is run between the one before it and the one after it, in the same
# login (a step boundary, see step()); psql, which takes the commands in one piece, runs once on
# each side of it.
sub console {
  my ($timeout, @cmds) = @_;
  if ($direct[0] ne '') {
    my ($errs, $results) = socket_console($timeout, @cmds);
    return ($errs, $results) if defined $errs;
    $direct[0] = '';  # psql from now on
    @cmds = grep { $_ ne 'SHOW VERSION' } @cmds if $ask_version;  # no psql of its own (version_rider)
  }
  if (my ($i) = grep { ref $cmds[$_] } 0 .. $#cmds) {
    my ($errs, $res) = $i ? console($timeout, @cmds[0 .. $i - 1]) : ('', []);
    $cmds[$i]->();
    my ($more, $res2) = $i < $#cmds ? console($timeout, @cmds[$i + 1 .. $#cmds]) : ('', []);
    return ($errs . $more, [@$res, @$res2]);
  }
  return psql_console($timeout, 0, @cmds) unless grep { /^SHOW / } @cmds;
  my ($errs, @results) = ('');
  for (@cmds) {  # one psql per command: its output has no boundaries between results
    my ($e, $r) = psql_console($timeout, /^SHOW / ? 1 : 0, $_);
    $errs .= $e;
    push @results, $r->[0];
  }
  return ($errs, \@results);
}
# Is a server connection's address (SHOW SERVERS addr, as inet_ntop writes it) the target's? Compared
# as addresses: the target may be a name (resolved for both families; any of its addresses
# matches: PgBouncer takes them in turn) or a literal written another way (0:0:0:0:0:0:0:1,
# ::0001). Socket's XS library (perl-base; Socket.pm would cost 9 ms) is loaded only when the text
# differs, which a push to a literal written as inet_ntop writes it never needs.
sub NIX_NOSERV () { 2 }  # Socket.pm's NIx_NOSERV, a constant of the module, not of its XS part
my %target_addrs;  # canonical addresses of the target: filled at the first need
my $socket;  # Socket's XS library is loaded
sub canonical_addr {  # an address literal as inet_ntop writes it, or undef
  my $h = shift;
  $h =~ s/%[^%]*\z//;  # an IPv6 zone (fe80::1%eth0): PgBouncer shows none
  for my $af (Socket::AF_INET(), Socket::AF_INET6()) {
    my $bin = Socket::inet_pton($af, $h);
    return Socket::inet_ntop($af, $bin) if defined $bin;
  }
  return undef;
}
sub target_addr {
  my $h = shift;
  return 1 if $h eq $thost;
  if (!%target_addrs) {
    $socket ||= eval { xs('Socket') || require Socket } || fail("$@");
    $target_addrs{''} = 0;  # looked up, even if nothing is found: once per request
    if (defined(my $c = canonical_addr($thost))) { $target_addrs{$c} = 1 }
    else {
      my ($err, @found) = Socket::getaddrinfo($thost, undef, { socktype => Socket::SOCK_STREAM() });
      for (@found) {
        my ($e, $ip) = Socket::getnameinfo($_->{addr}, Socket::NI_NUMERICHOST(), NIX_NOSERV);
        $target_addrs{canonical_addr($ip) // $ip} = 1 unless $e;
      }
    }
  }
  my $c = canonical_addr($h);
  return defined $c && $target_addrs{$c};
}

# Which PgBouncer runs here, for the agent's render (its limits follow the version: pgbouncer/version).
# A push asks SHOW VERSION in the logins it makes anyway to learn where PgBouncer routes (step 3),
# on the socket only: through psql it would be a process of its own, and is not asked. With
# several processes the oldest version is answered: its limits hold for all of them.
sub version_rider { return $ask_version && $direct[0] ne '' ? ('SHOW VERSION') : () }
sub version_seen {  # SHOW VERSION's [columns, rows], or undef when it was not asked
  my $res = shift;
  my $v = $res && $res->[1] && $res->[1][0] ? $res->[1][0][0] : undef;
  return unless defined $v && $v =~ /^PgBouncer (\d{1,4})\.(\d{1,4})\.(\d{1,4})(?:[ \n-]|\z)/;
  my $key = sprintf('%04d%04d%04d', $1, $2, $3);
  ($version, $version_key) = ("PgBouncer $1.$2.$3", $key) if !defined $version_key || $key lt $version_key;
}
# Step 3's look at PgBouncer (all_routes), each login asking SHOW VERSION too; the answer says it.
sub routes_and_version {
  ($ask_version, $version, $version_key) = (1, undef, undef);
  my @r = all_routes();
  $ask_version = 0;
  say_line('VERSION', $version) if defined $version;
  return @r;
}

# Where PgBouncer routes our databases now, or (undef, why) when it could not be asked:
#   elsewhere: "db -> host:port" for each of our databases PgBouncer routes to another node;
#   servers:   the same for server connections still open to another node (compared by address,
#              so the target is resolved);
#   missing:   our databases with a line of their own that PgBouncer does not have;
#   all, away: [db, "host:port"] of every route of ours, and of every server connection elsewhere.
sub routes {  # or of the answers (errors, [SHOW DATABASES, SHOW SERVERS]) given
  my ($errs, $res) = @_ ? @_ : console(left(), 'SHOW DATABASES', 'SHOW SERVERS', version_rider());
  return (undef, $errs) if $errs ne '';
  version_seen($res->[2]);
  my %r = (elsewhere => [], servers => [], missing => [], all => [], away => []);
  my %seen;
  for my $i (0, 1) {
    my ($cols, $rows) = @{$res->[$i] || []};
    ($cols, $rows) = ($cols || [], $rows || []);
    my %c = map { $cols->[$_] => $_ } 0 .. $#$cols;
    my ($name, $host, $port) = $i == 0 ? qw(name host port) : qw(database addr port);
    return (undef, 'unexpected answer to SHOW ' . ($i ? 'SERVERS' : 'DATABASES'))
      unless defined $c{$name} && defined $c{$host} && defined $c{$port};
    for my $row (@$rows) {
      my ($n, $h, $p) = map { $row->[$c{$_}] // '' } $name, $host, $port;
      next unless $ours{$n};
      $seen{$n} = 1 if $i == 0;
      my $right = $p eq $tport && ($i == 0 ? $h eq $thost : target_addr($h));
      push @{$r{$i ? 'servers' : 'elsewhere'}}, "$n -> $h:$p" unless $right;
      push @{$r{$i ? 'away' : 'all'}}, [$n, "$h:$p"] if !$i || !$right;
    }
  }
  $r{missing} = [grep { !$seen{$_} } sort keys %listed];
  return (\%r, '');
}

# routes() of every process, merged (each fact named by its process where there are several), or
# (undef, why) when none could be asked, %unasked saying why for each that could not be.
sub all_routes {
  my %m = (elsewhere => [], servers => [], missing => []);
  %unasked = ();
  for my $p (processes()) {
    at_process($p);
    my ($r, $why) = routes();
    if (!$r) { $unasked{$p} = $why; next }
    for my $k (qw(elsewhere servers missing)) { push @{$m{$k}}, map { @procs ? bouncer($p) . ": $_" : $_ } @{$r->{$k}} }
  }
  my @all = processes();
  return keys(%unasked) == @all ? (undef, named(%unasked)) : (\%m, '');
}

# PgBouncer processes on this host that no console of the request reached: processes named
# pgbouncer (/proc/<pid>/comm) in our mount namespace (another one is another host's, as in the
# test rig), other than those a socket login met. One more process on the same port
# (so_reuseport) that is not in admin_sockets keeps its old routes and sessions after a push, and
# is the hole this names. A hint, never proof (an unrelated PgBouncer on another port is named
# too): a NOTE after a push, a WARNING in check. Nothing when a console went through psql (which
# process answered is not known then) or none answered.
sub unlisted {
  return () if $peer_unknown || !%peers;
  my $proc = $ENV{PGDEPLOY_PROC} || '/proc';  # the tests' stand-in
  my $ns = readlink("$proc/self/ns/mnt") // '';
  opendir(my $d, $proc) or return ();
  my @found;
  for my $pid (sort { $a <=> $b } grep { /^\d+\z/ && !$peers{$_} } readdir $d) {
    next unless (slurp("$proc/$pid/comm") // '') eq "pgbouncer\n";
    (my $cmd = slurp("$proc/$pid/cmdline") // '') =~ tr/\0/ /;
    $cmd =~ s/ +\z//;
    next if $cmd eq '';  # a zombie: it routes nothing
    my $theirs = readlink("$proc/$pid/ns/mnt");  # unreadable (another user's): this host's
    next if defined $theirs && $theirs ne $ns;
    push @found, "pid $pid ($cmd)";
  }
  return @found;
}
# A child that RESUMEs every database unless this program tells it, before it ends, that it did.
sub guard {
  return if $guard;
  pipe(my $r, $guard) or fail("cannot make a pipe: $!");
  my $pid = fork // fail("cannot fork: $!");
  return close $r if $pid;
  close $guard;
  setpgrp(0, 0);  # outlives a kill of our process group
  $SIG{TERM} = 'IGNORE';
  open(STDIN, '<', '/dev/null');
  open(STDOUT, '>', '/dev/null');  # so that the SSH channel can close without us
  open(STDERR, '>', '/dev/null');
  my $word = '';
  sysread($r, $word, 1);
  if ($word ne 'd') { for (processes()) { at_process($_); console(5, map { 'RESUME ' . qname($_) } @dbs) } }
  exit 0;
}
sub unguard { return unless $guard; syswrite($guard, 'd'); close $guard; undef $guard }
#<< console

# ------------------------------------------------------------------------------------ one push
# Mode "push": steps 2 to 8 (see the top of this file) on the request take() read (step 1).
# Every way out is finish(), which answers and ends this process.
sub run_push {
  # The files are read once, under the lock: what a survey before it found (the shell's fast
  # path, a resident program's own survey) could change while we waited for it.
  my $lk = take_lock();  # held until this process ends
  my $shared = take_shared_lock();  # held until the files are in place
  step('locked');
  # Under the lock nobody else writes here: what matches our temporary names is a dead run's.
  if (my @dead = leftovers()) {
    unlink @dead;
    say_line('NOTE', 'removed ' . @dead . ' temporary file(s) of an interrupted run');
  }
  my ($changed, $pending) = survey();
  if (!$changed && $pending eq '') { say_line('UNCHANGED'); finish('ok') }
  my $oldprimary = old_primary_unless_newer();
  # What a reload must still do, left by a run that died after step 5: "pending <old primary>
  # <what>" (what: "routes", "auth" or both, comma-separated; older versions wrote only
  # "pending <old>").
  my %due;
  if ($pending =~ /^pending (\S*)(?: (\S+))?/) {
    $oldprimary = $1 if $1 ne '';
    $due{$_} = 1 for grep { /^(?:routes|auth)\z/ } split /,/, ($2 // 'routes,auth');
  }

  # Deciding.
  my ($now, $why_unknown) = $console ? routes_and_version() : (undef, 'no PgBouncer admin console configured');
  my $include_changed = grep { $_->{flags} =~ /f/ && !current($_) } @files;
  # Sessions must be cut when PgBouncer routes, or holds connections, elsewhere than the target.
  # Without the console only the old header can tell (-1: not even that).
  my $moved = $now ? @{$now->{elsewhere}} + @{$now->{servers}}
            : $oldprimary ne '' ? $oldprimary ne $primary
            : (grep { $_->{flags} =~ /f/ && defined $_->{old} && !current($_) } @files) ? -1 : 0;
  $due{routes} = 1 if $include_changed;
  $due{auth} = 1 if grep { $_->{flags} =~ /r/ && $_->{flags} !~ /f/ && !current($_) } @files;
  # A reload a dead run left due is not redone where PgBouncer already routes as the files say.
  delete $due{routes} if $now && !%unasked && !$include_changed && !@{$now->{elsewhere}} && !@{$now->{missing}};
  my $reload_due = $due{routes} || $due{auth};
  my $cut = $moved > 0 && $console;

  # Writing.
  my @moves = write_temporaries();
  step('written');
  # "sessions" alone: nothing to reload, only connections to cut.
  my $due_text = join(',', grep { $due{$_} } qw(routes auth)) || 'sessions';
  mark("pending $oldprimary $due_text\n") if $reload_due || $cut;
  step('marked');
  move_into_place(@moves);
  undef $shared;
  if (!$reload_due && !$cut) {
    if ($pending ne '') { done_marker(); say_line('NOTE', 'PgBouncer already routes as the files say: no reload needed') }
    note_unlisted();
    finish_push();
  }

  # Reloading. %paused: the processes a drain paused; %broken: those that failed the reload.
  my (%paused, %broken);
  if ($cut) {
    guard();
    if ($drain) {
      %paused = pause_all();
      step('paused');
    }
  }
  %broken = reload_and_confirm() if $reload_due;

  # Sessions.
  if ($cut) {
    cut_sessions(\%paused, \%broken);
  } elsif ($moved && $reload_due) {
    say_line('SESSIONS', $moved < 0 ? "not cut: the old routes are unknown (no header in the file replaced) and $why_unknown"
                                    : "not cut: $why_unknown");
  }
  # One of several processes failed, the others are done: the server fails, naming it, and the
  # marker stays, so the next run reloads and cuts again.
  note_unlisted();
  if (%broken) { say_line('RELOAD-FAILED', named(%broken)); finish('failed') }
  done_marker();
  finish_push();
}

# The lock, waited for at most half the budget: a lock wait shorter than what is left of the
# agent's deadline for this server.
sub take_lock {
  sysopen(my $lk, $lock, O_WRONLY | O_CREAT | O_NOFOLLOW, 0600) or fail("cannot open lock file $lock: $!");
  my $waited = 0;
  until (flock($lk, LOCK_EX | LOCK_NB)) {
    fail("another agent holds $lock") if $waited >= $budget / 2;
    select(undef, undef, undef, 0.02);
    $waited += 0.02;
  }
  return $lk;
}

sub newer {  # decimal strings of any length: is $_[0] > $_[1]?
  my ($a, $b) = map { my $x = $_; $x =~ s/^0+(?=.)//; $x } @_;
  return length($a) > length($b) || (length($a) == length($b) && $a gt $b);
}
# The primary the files here were written for (their header; '' when none says). When they carry
# a newer truth than the request's (timeline, then generation), says NEWER and finishes unless
# forced: an older truth never replaces a newer one.
sub old_primary_unless_newer {
  my $oldprimary = '';
  for my $f (grep { $_->{flags} =~ /f/ } @files) {
    my $first = first_line($f->{old});
    $oldprimary = $1 if $first =~ / pgdeploy .* primary=(\d+)/;
    next if $force;
    my ($otl) = $first =~ / timeline=(\d+)(?: |\z)/;
    my ($ogen) = $first =~ / generation=(\d+)(?: |\z)/;
    next unless defined $otl && defined $ogen;
    if (newer($otl, $tl) || ($otl eq $tl && newer($ogen, $gen))) { say_line('NEWER', $first); finish('ok') }
  }
  return $oldprimary;
}

# Step 4: each changed file to a temporary file beside it, fsynced; returns [temporary, file]s.
sub write_temporaries {
  my @moves;
  for my $f (@files) {
    next if current($f);
    my ($tmp, $o);
    for (1 .. 10) {
      $tmp = temp_name($f->{dir}, $f->{base});
      last if sysopen($o, $tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
      my $why = "$!";
      fail("cannot write $tmp: $why") unless lstat $tmp;  # else the name is taken: another one
      undef $o;
    }
    fail("cannot create a temporary file beside $f->{path}") unless $o;
    push @tmps, $tmp;
    # The new file keeps the owner, group and mode of the one it replaces (PgBouncer must still
    # read a userlist.txt that root wrote); a new file is 0600, the SSH user's.
    my @st = lstat $f->{path};
    if (@st && -f _) {
      chown($> == 0 ? $st[4] : -1, $st[5], $o);  # as root: the owner too; else the group, if we may
      chmod($st[2] & 0777, $o);
    }
    my $off = 0;
    while ($off < length $f->{write}) {  # plan(): this cluster's part merged with the others'
      my $n = syswrite($o, $f->{write}, READ_CHUNK, $off) // fail("cannot write $tmp: $!");
      $off += $n;
    }
    fsync($o) or fail("cannot write $tmp: $!");
    close($o) or fail("cannot write $tmp: $!");
    push @moves, [$tmp, $f];
  }
  return @moves;
}

# Step 5: the marker, atomically too: a reload must survive this program's death from here on.
sub mark {
  my $text = shift;
  my ($dir, $base) = $pending_path =~ m{^(.*)/([^/]+)\z};
  my $tmp = temp_name($dir, $base);
  sysopen(my $o, $tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600) or fail("cannot write $tmp: $!");
  push @tmps, $tmp;
  (syswrite($o, $text) // -1) == length $text && close($o) && rename($tmp, $pending_path)
    or fail("cannot write $pending_path: $!");
  @tmps = grep { $_ ne $tmp } @tmps;
}

# Step 6: each file into place, then the directories fsynced.
sub move_into_place {
  my %dirs;
  my $renamed = 0;
  for my $m (@_) {
    rename($m->[0], $m->[1]{path}) or fail("cannot replace $m->[1]{path}: $!");
    @tmps = grep { $_ ne $m->[0] } @tmps;
    $dirs{$m->[1]{dir}} = 1;
    say_line('CHANGED', $m->[1]{path});
    step('renamed' . ++$renamed);
  }
  sync_dir($_) for sort keys %dirs;
  step('synced');
}

# The reload command's output and status. Plain words, like the default `sudo -n service pgbouncer
# reload`, are started without a shell: one process fewer on the app server.
sub run_reload {
  return (scalar(qx{{ $reload\n} 2>&1 </dev/null}), $?) if $reload !~ m{^[\w./:=@%+,-]+( [\w./:=@%+,-]+)*\z};
  my @words = split / /, $reload;
  my $pid = open(my $from, '-|') // return ("cannot fork: $!", -1);
  if (!$pid) {
    open(STDERR, '>&', \*STDOUT) && open(STDIN, '<', '/dev/null');
    exec { $words[0] } @words or print "cannot run $words[0]: $!\n";
    exit 127;
  }
  my $out = do { local $/; <$from> } // '';
  close $from;
  return ($out, $?);
}
# Step 7's reload; where the console is set, PgBouncer is asked whether it took the new routes.
# Every process is reloaded (RELOAD on each console; a reload command runs once: it must reload
# them all) and confirmed. Returns the processes that failed, with why; when all did, the
# server's push fails here.
sub reload_and_confirm {
  my @all = processes();
  my (%broken, %asked);  # %asked: process -> routes() its RELOAD's login brought back
  my $all_broken = sub { return if keys(%broken) < @all; say_line('RELOAD-FAILED', named(%broken)); finish('failed') };
  if ($reload eq '') {
    for my $p (@all) {
      at_process($p);
      my ($failed, @routes) = reload_and_routes();
      if ($failed ne '') { $broken{$p} = $failed } else { $asked{$p} = \@routes }
    }
  } else {
    my ($out, $status) = run_reload();
    my $failed = $status == 0 ? '' : $out ne '' ? $out : 'exit status ' . ($status >> 8);
    if ($failed ne '') { say_line('RELOAD-FAILED', $failed); finish('failed') }
  }
  $all_broken->();
  say_line('RELOADED');
  step('reloaded');
  # PgBouncer 1.18 answers RELOAD with success even when it rejected the file and kept its old
  # routes; a SIGHUP is not even answered. Where the console is set, ask it what it routes to.
  return %broken unless $console;
  # RELOAD on the console is done when it answers; a SIGHUP when PgBouncer gets to it.
  my $until = $reload eq '' ? 0 : time + (left() < 2 ? left() : 2);
  my %left = map { $_ => 1 } grep { !exists $broken{$_} } @all;
  my %last;  # process -> [routes, why not]
  while (1) {
    for my $p (sort keys %left) {
      at_process($p);
      my ($r, $err) = $asked{$p} ? @{delete $asked{$p}} : routes();
      $last{$p} = [$r, $err];
      delete $left{$p} if $r && !@{$r->{elsewhere}} && !@{$r->{missing}};
    }
    last if !%left || time >= $until;
    select(undef, undef, undef, 0.05);
  }
  for my $p (keys %left) {
    my ($r, $err) = @{$last{$p}};
    if (!$r) { $broken{$p} = "cannot confirm the new routes: $err"; next }
    my @still = (@{$r->{elsewhere}}, map { "$_ not defined" } @{$r->{missing}});
    $broken{$p} = 'PgBouncer kept its old routes (it rejected the new configuration? see its log): '
      . join(', ', @still[0 .. ($#still < 2 ? $#still : 2)]) . (@still > 3 ? ', ...' : '');
  }
  $all_broken->();
  say_line('CONFIRMED');
  step('confirmed');
  return %broken;
}

#>> console
# Step 7's drain: PAUSE on every process at once, each in a child of its own (a PAUSE waits up to
# pause_s for its server connections to be released: one process after another, k of them would
# cost k times that). Returns process -> whether its PAUSE held (else its sessions are cut).
sub pause_all {
  my $pause = sub { at_process($_[0]); my ($errs) = console($pause_s, map { 'PAUSE ' . qname($_) } @dbs); $errs eq '' };
  my @all = processes();
  return ($all[0] => $pause->($all[0])) if @all == 1;  # no child for one process
  my (%kid, %paused);
  for my $p (@all) {
    my $pid = fork;
    if (!defined $pid) { $paused{$p} = $pause->($p); next }  # no child: paused here, in turn
    if (!$pid) { exit($pause->($p) ? 0 : 1) }
    $kid{$pid} = $p;
  }
  $paused{$kid{$_}} = waitpid($_, 0) == $_ && $? == 0 for keys %kid;
  return %paused;
}

# Step 7's RELOAD on the console of the process at_process() chose, and the confirm's SHOWs, in
# one login (PgBouncer applies a console RELOAD before it answers it): RELOAD's error ('' if none)
# and routes()'s answer. After any error both are asked again, one login each, so that RELOAD's
# own error is told from the SHOWs' (a second RELOAD reads the same files).
sub reload_and_routes {
  my ($errs, $res) = console(left(), 'RELOAD', 'SHOW DATABASES', 'SHOW SERVERS');
  return ('', routes('', [@$res[1, 2]])) if $errs eq '';
  my ($failed) = console(left(), 'RELOAD');
  return $failed ne '' ? ($failed) : ('', routes());
}

# A cut on the process at_process() chose, in one console login: KILL every database, then RESUME
# them (the step "killed" between the two). A database PgBouncer has no pool for yet must not keep
# the others from being cut. Returns the errors ('' if none).
sub kill_and_resume {
  my ($errs) = console(left(), (map { 'KILL ' . qname($_) } @dbs), sub { step('killed') },
                       map { 'RESUME ' . qname($_) } @dbs);
  return join '', grep { !/no such database/ } split /^/m, $errs;
}

# Step 7's sessions, on every process but those that failed the reload (\%broken): RESUME after
# a PAUSE that held (a drain, \%paused), else KILL and RESUME (a cut).
sub cut_sessions {
  my ($paused, $broken) = @_;
  my %errs;
  my @cut = grep { !exists $broken->{$_} } processes();
  for my $p (@cut) {
    at_process($p);
    my $errs;
    if ($paused->{$p}) {
      ($errs) = console(left(), map { 'RESUME ' . qname($_) } @dbs);
    } else {
      $errs = kill_and_resume();
    }
    $errs{$p} = $errs if $errs ne '';
  }
  step('resumed');
  if (%errs) { say_line('SESSIONS', 'not cut: ' . named(%errs)); finish('failed') }
  unguard() unless %$broken;  # a process that failed may still be paused: the guardian RESUMEs it
  say_line('SESSIONS', (grep { !$paused->{$_} } @cut) ? 'cut' : 'drained (PAUSE, RESUME)');
}
#<< console

# ------------------------------------------------------------------------------------ one check
#>> check
# Mode "check" (pgdeploy check, --dry-run): what the files here hold and where PgBouncer routes,
# read only. No lock, no write, no reload: a check never waits for a deploy nor holds one up.

# Which PgBouncer runs here ('' when neither says): SHOW VERSION on the console, where it answered
# (the one that runs), else the first line of `pgbouncer --version` (the one installed).
sub pgbouncer_version {
  my $console_ok = shift;
  if ($console_ok) {
    my ($errs, $res) = console(left(), 'SHOW VERSION');
    my $v = $errs eq '' && $res->[0] ? $res->[0][1][0][0] : undef;
    return $v if defined $v && $v =~ /^PgBouncer /;
  }
  for my $bin (grep { -x } map({ "$_/pgbouncer" } split(/:/, $ENV{PATH} // ''), '/usr/sbin', '/usr/bin')) {
    my $pid = open(my $from, '-|') // return '';
    if (!$pid) { open(STDERR, '>', '/dev/null'); open(STDIN, '<', '/dev/null'); exec { $bin } $bin, '--version'; exit 127 }
    my $first = <$from> // '';
    close $from;
    chomp $first;
    return $first if $first =~ /^PgBouncer /;
  }
  return '';
}
sub run_check {
  $_->{old} = slurp($_->{path}) for @files;
  plan();
  for my $f (@files) {
    my $state = !defined $f->{old} ? 'missing' : current($f) ? 'current'
              : first_line($f->{held} // $f->{old}) =~ / pgdeploy / ? 'stale' : 'foreign';
    say_line('FILE', "$f->{path} $state");
  }
  say_line('CLASH', "database $_->[0] $_->[1]") for @left_out;
  say_line('CLASH', "role $_->[0] $_->[1]") for @role_clash;
  my ($inc) = grep { $_->{flags} =~ /f/ } @files;
  say_line('HEADER', "$1 $2 $3")
    if $inc && first_line($inc->{old}) =~ / pgdeploy .* primary=(\d+) timeline=(\d+) generation=(\d+)/;
  say_line('PENDING', first_line(slurp($pending_path)));
  if ($inc && defined $inc->{old}) {  # length-prefixed, bounded
    if (length $inc->{old} > MAX_INCLUDE_SHOWN) { say_line('NOTE', 'the include file is larger than 256 KiB: not shown') }
    else { push @said, 'INCLUDE ' . length($inc->{old}) . "\n$inc->{old}\n" }
  }
  for my $f (grep { $_->{flags} =~ /^rb?\z/ } @files) {  # userlist.txt: names only
    my ($old, $new) = (users($f->{held}), users($f->{want}));
    say_line('USER', "added $_") for sort grep { !exists $old->{$_} } keys %$new;
    say_line('USER', "removed $_") for sort grep { !exists $new->{$_} } keys %$old;
    say_line('USER', "changed $_") for sort grep { exists $new->{$_} && $old->{$_} ne $new->{$_} } keys %$old;
  }
  say_line('CONSOLE', 'none') unless $console;
  my $asked;  # the first process whose console answered: it tells the version
  for my $p ($console ? processes() : ()) {  # several processes: each one's lines after its PROCESS
    at_process($p);
    say_line('PROCESS', $p) if @procs;
    my ($r, $why) = routes();
    if (!$r) { say_line('CONSOLE', "failed: $why"); next }
    $asked //= $p;
    say_line('CONSOLE', 'ok');
    say_line('ROUTE', "@$_") for @{$r->{all}};
    say_line('SERVER', "@$_") for @{$r->{away}};
  }
  say_line('UNLISTED', $_) for $console ? unlisted() : ();
  at_process($asked) if defined $asked;
  say_line('VERSION', pgbouncer_version(defined $asked));
  finish('ok');
}
#<< check

# ------------------------------------------------------------------------------------ resident
#>> resident
# The resident mode (`pgdeploy watch`), started with the argument "serve": one request after
# another on the same channel, each answered with exactly one frame (answer()). A push whose files
# are all current (by content, not by header), with no marker and no leftovers, is answered here: a
# watcher's idle round starts no process on the app server. Every other request goes to a child
# (fork), which runs one_request() on it and exits; SIGKILL of the child leaves this loop, which
# says so.
sub serve {
  $resident = $framed = 1;
  load_io();  # here, not in every child that writes
  while (defined(my $req = next_request())) {
    if ($req eq PING) { answer("DONE ok\n"); next }
    my $forward = eval {
      take($req);
      remember();
      my ($changed, $pending, $stale) = $mode eq 'push' ? survey() : (1, '', 0);
      if (!$changed && $pending eq '' && !$stale) { say_line('UNCHANGED'); finish('ok') }
      1;
    };
    if (!$forward) {
      answer("ERR internal error: $@DONE failed\n") if $@ ne "answered\n";
      next;
    }
    my ($told, $pid);
    $pid = fork if pipe($told, $answered);
    if (!defined $pid) { answer("ERR cannot fork: $!\nDONE failed\n"); next }
    if (!$pid) { $resident = 0; close $told; one_request() }  # the child: answers and exits
    close $answered;
    undef $answered;
    waitpid($pid, 0);
    # A child that ended before its answer is answered for here. One that answered, then died,
    # is not: a second answer would be taken for the next request's. One that died while it
    # wrote may have left part of a frame on the channel: nothing after it could be trusted.
    my ($ready, $told_us) = ('', '');
    vec($ready, fileno $told, 1) = 1;
    sysread($told, $told_us, 2) if select($ready, undef, undef, 0) > 0;
    next if $told_us eq 'sa';
    exit 1 if $told_us ne '';
    answer('ERR the program ' . (($? & 127) ? 'was killed (signal ' . ($? & 127) . ')'
                                            : 'ended without answering (exit status ' . ($? >> 8) . ')')
           . "\nDONE failed\n");
  }
  exit 0;  # the end of the stream: the agent has gone
}
#<< resident

# ------------------------------------------------------------------------------------ dispatch
# One request, taken (step 1): the push or the check it asks for. Never returns: both end in
# finish(), which answers and exits.
sub one_request {
  step('read');
  $mode eq 'check' ? run_check() : run_push();
}

$SIG{PIPE} = $SIG{HUP} = 'IGNORE';
umask 077;
# A push's program came as a here-document on fd 3 (pgbouncer/push.cpp push_command): closed, so
# that no process started here (the reload command, psql, the guardian) holds it.
if ($0 eq '/dev/fd/3' && open(my $program, '<&=', 3)) { close $program }
if (($ARGV[0] // '') eq 'serve') { serve() }
else { take(read_request()); one_request() }
