#!/usr/bin/python3
"""Where a cold push's time goes on the app server, step by step: the push program run once, as
a one-shot deploy runs it, under strace, its system calls grouped into the program's steps.

    /usr/bin/python3 bench/steps.py [--runs 20] [--roles 100] [--reload 'true'] [--dir /var/tmp] [SOURCE ...]

SOURCE as for bench/startup.py (a file, or REV:PATH; default: src/pgbouncer/push.pl as it is in
the work tree), sent as the agent sends it; with several, their runs alternate (in a new random
order each time), so that the machine's load falls on all alike. Each run is a push of the three files of
a deploy (include file, userlist.txt with --roles lines, .pgpass) into a temporary directory
under --dir where older versions of them are (every file changes: the whole push runs; a tmpfs
such as /dev/shm shows the push without the disk's share of the fsyncs), with --reload as the reload
command and no admin console (no PgBouncer here: the console's steps, RELOAD, SHOW DATABASES,
KILL, are timed by bench/run.py against a real one). The steps, from the trace of the program
and its children (strace -f -ttt -T):

  start-up       execve of perl to its first read of the request (compiling the program)
  request read   first to last read of standard input
  survey         the last read to the lock: every file read and compared, the marker, leftovers
  lock, compare  flock, and the second survey under the lock, to the first temporary file
  write          the temporary files written (open to the first fsync)
  fsync files    the fsyncs of the temporary files (their time inside the calls)
  marker         the marker written and renamed into place
  rename         the files renamed into place
  fsync dirs     the fsyncs of the directories
  reload         the reload command: fork to its exit (wait4)
  end            the marker removed, the answer written, exit

Figures are the median over --runs of each step's wall time in ms; strace slows every system
call: read the shares and the differences, not the absolute values. The untraced run's wall
time (printed for comparison, median of as many runs) also counts Python's fork and exec of
perl. It reports; it asserts nothing.
"""

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from startup import as_sent, request, source_text  # noqa: E402

STEPS = ['start-up', 'request read', 'survey', 'lock, compare', 'write', 'fsync files', 'marker',
         'rename', 'fsync dirs', 'reload', 'end']
HEADER = '{c} pgdeploy cluster=main primary={p} timeline=1 generation={g} digest={d}\n'


def files(d, roles, primary):
    users = ''.join(f'"role{i:05d}" "SCRAM-SHA-256$4096:{"s" * 24}${"k" * 44}:{"v" * 44}"\n'
                    for i in range(roles))
    inc = f'appdb = host=10.0.0.{primary} port=5432 dbname=appdb\n'
    pgpass = f'*:*:*:app:pw{primary}\n'
    digest = f'{primary:064d}'
    return [(f'{d}/etc/databases/main.ini', 'rf', HEADER.format(c=';', p=primary, g=primary, d=digest) + inc),
            (f'{d}/etc/userlist.txt', 'r', HEADER.format(c=';', p=primary, g=primary, d=digest) + users + f';{primary}\n'),
            (f'{d}/home/.pgpass', '', HEADER.format(c='#', p=primary, g=primary, d=digest) + pgpass)]


def push_request(d, roles, reload_command):
    for path, _, content in files(d, roles, 1):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(content)
    fields = [('lock', f'{d}/etc/databases/.main.lock'), ('budget_ms', '5000'), ('reload', reload_command),
              ('timeline', '1'), ('generation', '2'), ('primary', '2'), ('force', '0'),
              ('target_host', '10.0.0.2'), ('target_port', '5432'), ('console', '0'), ('drain', '0'),
              ('pause_s', '0'), ('socket', ''), ('socket_user', ''), ('socket_db', ''), ('mode', 'push'),
              ('db', 'appdb')]
    for path, flags, content in files(d, roles, 2):
        fields += [('path', path), ('flags', flags), ('content', content)]
    return request(fields)


LINE = re.compile(r'^(\d+) +(\d+\.\d+) (\w+)\((.*?)\)? += (-?\d+|\?)(?: [^<]*)?(?: <(\d+\.\d+)>)?$')
RESUMED = re.compile(r'^(\d+) +(\d+\.\d+) <\.\.\. (\w+) resumed>(.*?) += (-?\d+)(?: [^<]*)?(?: <(\d+\.\d+)>)?$')


def parse(trace):
    """[(pid, start, name, args, result, duration)], unfinished calls joined with their end."""
    calls, pending = [], {}
    for line in trace.splitlines():
        if line.endswith('<unfinished ...>'):
            m = re.match(r'^(\d+) +(\d+\.\d+) (\w+)\((.*) <unfinished \.\.\.>$', line)
            if m:
                pending[(m[1], m[3])] = (float(m[2]), m[4])
            continue
        m = RESUMED.match(line)
        if m:
            start, args = pending.pop((m[1], m[3]), (float(m[2]), ''))
            calls.append((int(m[1]), start, m[3], args + m[4], m[5], float(m[6] or 0)))
            continue
        m = LINE.match(line)
        if m:
            calls.append((int(m[1]), float(m[2]), m[3], m[4], m[5], float(m[6] or 0)))
    return calls


def steps_of(calls):
    """Each step's wall time (s), from the program's landmarks (see the module's doc)."""
    main = calls[0][0]
    mine = [c for c in calls if c[0] == main]
    t_exec = mine[0][1]
    reads = [c for c in mine if c[2] == 'read' and c[3].startswith('0,')]
    t_read0 = reads[0][1]
    t_read1 = reads[-1][1] + reads[-1][5]
    flock = next(c for c in mine if c[2] == 'flock')
    temps = [c for c in mine if c[2] == 'openat' and 'O_EXCL' in c[3]]
    fsyncs = [c for c in mine if c[2] == 'fsync']
    renames = [c for c in mine if c[2] == 'rename']
    marker = next(c for c in renames if '.pending' in c[3])
    file_renames = [c for c in renames if c is not marker]
    clone = next(c for c in mine if c[2] in ('clone', 'clone3', 'fork', 'vfork') and c[1] > file_renames[-1][1])
    wait = next(c for c in mine if c[2] == 'wait4' and c[1] >= clone[1])
    t_exit = next(c for c in mine if c[2] == 'exit_group')[1]
    file_fsyncs = [c for c in fsyncs if c[1] < marker[1]]
    dir_fsyncs = [c for c in fsyncs if c[1] > file_renames[-1][1]]
    first_fsync = file_fsyncs[0][1]
    t_written = file_fsyncs[-1][1] + file_fsyncs[-1][5]
    marker_start = next(c for c in temps if '.pending' in c[3])[1]
    fsync_files = sum(c[5] for c in file_fsyncs)
    fsync_dirs = sum(c[5] for c in dir_fsyncs)
    return {
        'start-up': t_read0 - t_exec,
        'request read': t_read1 - t_read0,
        'survey': flock[1] - t_read1,
        'lock, compare': temps[0][1] - flock[1],
        'write': (first_fsync - temps[0][1]) + (t_written - first_fsync - fsync_files),
        'fsync files': fsync_files,
        'marker': marker[1] + marker[5] - marker_start,
        'rename': file_renames[-1][1] + file_renames[-1][5] - file_renames[0][1],
        'fsync dirs': fsync_dirs,
        'reload': wait[1] + wait[5] - clone[1],
        'end': t_exit - (wait[1] + wait[5]),
        '(between)': (marker_start - t_written) + (file_renames[0][1] - (marker[1] + marker[5]))
        + (clone[1] - file_renames[-1][1] - file_renames[-1][5] - fsync_dirs),
    }


def run(program, stdin_bytes, d, traced):
    out = os.path.join(d, 'trace')
    argv = ['perl', '-e', program]
    if traced:
        argv = ['strace', '-f', '-ttt', '-T', '-qq', '-o', out, '-e',
                'trace=execve,read,openat,flock,fsync,rename,unlink,clone,clone3,fork,vfork,wait4,exit_group'] + argv
    env = dict(os.environ, HOME=f'{d}/home')
    start = time.monotonic()
    p = subprocess.run(argv, input=stdin_bytes, capture_output=True, env=env)
    wall = time.monotonic() - start
    if not p.stdout.endswith(b'DONE ok\n') or b'RELOADED' not in p.stdout:
        sys.exit(f'steps: the push did not run whole: {p.stdout!r} {p.stderr!r}')
    if not traced:
        return wall
    with open(out) as f:
        return steps_of(parse(f.read()))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--runs', type=int, default=20)
    ap.add_argument('--roles', type=int, default=100)
    ap.add_argument('--reload', default='true', help='the reload command (default: true, the floor)')
    ap.add_argument('--dir', default='/var/tmp', help='where the pushes write (default /var/tmp)')
    ap.add_argument('sources', nargs='*', default=[os.path.join(os.path.dirname(HERE), 'src/pgbouncer/push.pl')])
    args = ap.parse_args()
    if not shutil.which('strace'):
        sys.exit('steps: needs strace')
    programs = {src: as_sent(source_text(src)) for src in args.sources}
    per_step = {src: {} for src in programs}
    walls = {src: [] for src in programs}
    load0 = ', '.join(f'{x:.2f}' for x in os.getloadavg())
    for _ in range(args.runs):
        for src in random.sample(list(programs), len(programs)):
            for traced in (False, True):
                with tempfile.TemporaryDirectory(dir=args.dir) as d:
                    got = run(programs[src], push_request(d, args.roles, args.reload), d, traced)
                if traced:
                    for k, v in got.items():
                        per_step[src].setdefault(k, []).append(v * 1000)
                else:
                    walls[src].append(got * 1000)
    load = ', '.join(f'{x:.2f}' for x in os.getloadavg())
    fs = subprocess.run(['stat', '-f', '-c', '%T', args.dir], capture_output=True, text=True).stdout.strip()
    print(f'{os.cpu_count()} CPUs, load {load0} -> {load}; {args.runs} runs each, {args.roles} roles, '
          f'reload {args.reload!r}, files on {fs}')
    print('| step, ms (median) | ' + ' | '.join(programs) + ' |')
    print('|---|' + '---|' * len(programs))
    for k in STEPS + ['(between)']:
        print(f'| {k} | ' + ' | '.join(f'{statistics.median(per_step[src][k]):.2f}' for src in programs) + ' |')
    print('| sum of the medians (traced) | ' + ' | '.join(
        f'{sum(statistics.median(v) for v in per_step[src].values()):.2f}' for src in programs) + ' |')
    print('| whole run untraced (wall) | ' + ' | '.join(
        f'{statistics.median(walls[src]):.2f}' for src in programs) + ' |')


if __name__ == '__main__':
    main()
