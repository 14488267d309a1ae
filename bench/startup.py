#!/usr/bin/python3
"""The push program's start-up on this machine: CPU and wall time of `perl -e '<program>'`, as
the agent starts it on an app server, for one or more versions of src/pgbouncer/push.pl.

    /usr/bin/python3 bench/startup.py [--runs 200] [--rounds 5] [--bash] [SOURCE ...]

SOURCE is a file, or REV:PATH for a file as git has it (e.g. main:src/pgbouncer/push.pl, or
20c8227:src/remote/push.pl from before the file moved); the default is src/pgbouncer/push.pl as it
is in the work tree. Each program is sent as the agent sends it (comment lines dropped, and only
the parts the request needs, as push_program() in src/pgbouncer/push.cpp does) and run on two
requests:

  start-up  an empty request: compiled, started, refused at once ("no PGDEPLOY2 header"); the
            program as a push with sudo gets it (no part);
  check     a check (mode check, no admin console) of an include file and a userlist.txt in a
            temporary directory: what `pgdeploy check` and `--dry-run` start on every app server
            (the program with its check part).

and `perl -e 1` for the floor. With --bash, also each program's start-up as a login shell (bash
-c) starts it: quoted on the command line (`exec perl -e '<program>'`, as a check still is) and
as a here-document on fd 3 (`exec perl /dev/fd/3 3<<...`, as a push is). Runs are interleaved (every program and request once, in a new
random order, then again) and split in rounds, so that a change in the machine's load falls on
all of them alike; the figure is the median over every run of user + system CPU (getrusage of the child) and of wall time, in
ms, with the spread of the rounds' medians. It reports; it asserts nothing.
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def source_text(spec):
    if os.path.exists(spec):
        with open(spec) as f:
            return f.read()
    return subprocess.run(['git', '-C', REPO, 'show', spec], check=True, capture_output=True,
                          text=True).stdout


def as_sent(text, parts=()):
    """The program as the agent sends it: lines whose first non-blank is '#', and blank lines,
    dropped; of its parts ("#>> NAME" to "#<< NAME", push.pl's "Parts"), only those in `parts`
    (a push with sudo: none; with the admin console: console; a check: check, and console with
    one; the resident mode: all). A source from before the parts is sent whole."""
    out, part = [], None
    for line in text.splitlines(keepends=True):
        if line.startswith('#>> ') or line.startswith('#<< '):
            part = line[4:].strip() if line.startswith('#>> ') else None
            continue
        stripped = line.lstrip(' \t')
        if stripped and stripped[0] not in '#\n' and (part is None or part in parts):
            out.append(line)
    return ''.join(out)


def request(fields):
    """The request framing of src/README.md: PGDEPLOY2, length-prefixed fields, end."""
    out = b'PGDEPLOY2\n'
    for key, value in fields:
        value = value.encode() if isinstance(value, str) else value
        out += f'{key} {len(value)}\n'.encode() + value + b'\n'
    return out + b'end 0\n\n'


def check_request(d):
    header = '; pgdeploy cluster=main primary=1 timeline=1 generation=1 digest=' + '0' * 64 + '\n'
    ini, users = f'{d}/main.ini', f'{d}/users.txt'
    with open(ini, 'w') as f:
        f.write(header + 'appdb = host=10.0.0.1 port=5432 dbname=appdb\n')
    with open(users, 'w') as f:
        f.write('"app" "secret"\n')
    return request([
        ('lock', f'{d}/.main.lock'), ('budget_ms', '5000'), ('reload', 'true'),
        ('timeline', '1'), ('generation', '2'), ('primary', '2'), ('force', '0'),
        ('target_host', '10.0.0.2'), ('target_port', '5432'), ('console', '0'), ('drain', '0'),
        ('pause_s', '0'), ('socket', ''), ('socket_user', ''), ('socket_db', ''), ('mode', 'check'),
        ('db', 'appdb'),
        ('path', ini), ('flags', 'rf'), ('content', header + 'appdb = host=10.0.0.2 port=5432 dbname=appdb\n'),
        ('path', users), ('flags', 'r'), ('content', '"app" "secret2"\n')])


def run_once(argv, stdin_bytes, expect):
    """One run: (cpu ms, wall ms). The answer must end as `expect` says, or the figure is wrong."""
    r, w = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.dup2(r, 0)
        os.close(r)
        os.close(w)
        devnull = os.open('/dev/null', os.O_WRONLY)
        os.dup2(devnull, 2)
        out = os.open(expect[0], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out, 1)
        os.execvp(argv[0], argv)
    os.close(r)
    os.write(w, stdin_bytes)   # small: fits in the pipe
    os.close(w)
    _, status, usage = os.wait4(pid, 0)
    wall = time.monotonic() - start
    with open(expect[0]) as f:
        answer = f.read()
    if expect[1] is not None and not answer.endswith(expect[1]):
        sys.exit(f'{argv[:2]}: unexpected answer (status {status}): {answer!r}')
    return 1000 * (usage.ru_utime + usage.ru_stime), 1000 * wall


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--runs', type=int, default=200, help='runs of each program and request, in all')
    p.add_argument('--rounds', type=int, default=5, help='rounds the runs are split in')
    p.add_argument('--bash', action='store_true', help='also the start-up through bash -c, both ways')
    p.add_argument('sources', nargs='*', default=[os.path.join(REPO, 'src/pgbouncer/push.pl')])
    args = p.parse_args()
    # As a push with sudo sends it (the start-up), and as a check without a console does.
    programs = [(s, as_sent(source_text(s)), as_sent(source_text(s), ('check',))) for s in args.sources]
    with tempfile.TemporaryDirectory() as d:
        answer = f'{d}/answer'
        cases = [('perl -e 1', ['perl', '-e', '1'], b'', (answer, None))]
        check = check_request(d)
        for name, text, check_text in programs:
            cases.append((f'{name}: start-up', ['perl', '-e', text], b'', (answer, 'DONE failed\n')))
            cases.append((f'{name}: check', ['perl', '-e', check_text], check, (answer, 'DONE ok\n')))
            if args.bash:
                quoted = "exec perl -e '" + text.replace("'", "'\\''") + "'"
                heredoc = "exec perl /dev/fd/3 3<<')PGDEPLOY_PL'\n" + text + ")PGDEPLOY_PL\n"
                cases.append((f'{name}: bash, quoted', ['bash', '-c', quoted], b'', (answer, 'DONE failed\n')))
                cases.append((f'{name}: bash, here-document', ['bash', '-c', heredoc], b'', (answer, 'DONE failed\n')))
        per_round = max(1, args.runs // args.rounds)
        cpu = {c[0]: [] for c in cases}
        wall = {c[0]: [] for c in cases}
        rounds = {c[0]: [] for c in cases}
        for _ in range(args.rounds):
            got = {c[0]: [] for c in cases}
            for _ in range(per_round):
                for name, argv, stdin_bytes, expect in random.sample(cases, len(cases)):
                    c, w = run_once(argv, stdin_bytes, expect)
                    cpu[name].append(c)
                    wall[name].append(w)
                    got[name].append(c)
            for name in got:
                rounds[name].append(statistics.median(got[name]))
    load = ', '.join(f'{x:.2f}' for x in os.getloadavg())
    print(f'{os.cpu_count()} CPUs, load {load}; {per_round * args.rounds} runs each in {args.rounds} rounds; '
          f'{subprocess.run(["perl", "-e", "print $^V"], capture_output=True, text=True).stdout}')
    print(f'| program: request | sent bytes | CPU ms (median) | rounds\' medians | wall ms (median) |')
    print('|---|---|---|---|---|')
    sizes = {}
    for name, text, check_text in programs:
        sizes[f'{name}: start-up'] = sizes[f'{name}: bash, quoted'] = sizes[f'{name}: bash, here-document'] = len(text)
        sizes[f'{name}: check'] = len(check_text)
    for name, argv, _, _ in cases:
        size = sizes.get(name, '-')
        spread = f'{min(rounds[name]):.2f}-{max(rounds[name]):.2f}'
        print(f'| {name} | {size} | {statistics.median(cpu[name]):.2f} | {spread} | '
              f'{statistics.median(wall[name]):.2f} |')


if __name__ == '__main__':
    main()
