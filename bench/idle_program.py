#!/usr/bin/python3
"""What an idle round of `pgdeploy watch` costs the app server: the resident push program's CPU
per idle request, for one or more versions of src/pgbouncer/push.pl, with userlist.txt of
--roles roles.

    /usr/bin/python3 bench/idle_program.py [--roles 10000] [--requests 200] [--rounds 5] [SOURCE ...]

SOURCE as for bench/startup.py (a file, or REV:PATH; default: src/pgbouncer/push.pl as it is in
the work tree). Each program is started as the watcher starts it (`perl -e '<program>' serve`,
every part), here on this machine as root, in a temporary directory: one push with the whole
content of the three files a deploy writes (the include file, userlist.txt, ~/.pgpass, with the
flags the agent sends), then --requests idle requests as a watcher's idle round sends them (each
file's header line alone, its generation moved on, as it moves with every proof), each answered
UNCHANGED by the resident program itself. The figure is the program's own CPU (user + system,
/proc/PID/stat, clock ticks) per idle request, median over --rounds rounds in which the programs
take turns, and its memory at the end (VmRSS, and VmHWM: the most it ever held). It reports; it
asserts nothing.
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from startup import as_sent, request, source_text  # noqa: E402

HEADER = '{c} pgdeploy cluster=main primary=2 timeline=1 generation={g} digest={d}\n'
TICK_MS = 1000 / os.sysconf('SC_CLK_TCK')


def contents(roles):
    users = ''.join(f'"role{i:05d}" "SCRAM-SHA-256$4096:{"s" * 24}${"k" * 44}:{"v" * 44}"\n'
                    for i in range(roles))
    digest = f'{roles:064d}'
    return [('etc/databases/main.ini', 'rf', ';', 'appdb = host=10.0.0.2 port=5432 dbname=appdb\n', digest),
            ('etc/userlist.txt', 'rb', ';', users, digest),
            ('home/.pgpass', 'b', '#', '*:*:*:app:pw\n', digest)]


def push(d, roles, generation, whole):
    fields = [('lock', f'{d}/etc/databases/.main.lock'), ('budget_ms', '5000'), ('reload', 'true'),
              ('timeline', '1'), ('generation', str(generation)), ('primary', '2'), ('force', '0'),
              ('target_host', '10.0.0.2'), ('target_port', '5432'), ('console', '0'), ('drain', '0'),
              ('pause_s', '0'), ('socket', ''), ('socket_user', ''), ('socket_db', ''), ('mode', 'push'),
              ('db', 'appdb')]
    for path, flags, comment, body, digest in contents(roles):
        head = HEADER.format(c=comment, g=generation, d=digest)
        fields += [('path', f'{d}/{path}'), ('flags', flags)]
        fields += [('content', head + body)] if whole else [('head', head.rstrip('\n'))]
    return request(fields)


class Resident:
    def __init__(self, program, d):
        os.makedirs(f'{d}/etc/databases')
        os.makedirs(f'{d}/home')
        self.p = subprocess.Popen(['perl', '-e', program, 'serve'], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, env=dict(os.environ, HOME=f'{d}/home'))

    def ask(self, req):
        self.p.stdin.write(req)
        self.p.stdin.flush()
        head = self.p.stdout.readline()
        if not head.startswith(b'ANSWER '):
            sys.exit(f'idle_program: unexpected answer {head!r}')
        return self.p.stdout.read(int(head.split()[1]))

    def cpu_ticks(self):
        with open(f'/proc/{self.p.pid}/stat') as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime

    def memory_mb(self):
        """VmRSS and VmHWM (its peak so far), MB."""
        with open(f'/proc/{self.p.pid}/status') as f:
            kb = dict(line.split(':', 1) for line in f if line.startswith(('VmRSS', 'VmHWM')))
        return tuple(int(kb[k].split()[0]) / 1024 for k in ('VmRSS', 'VmHWM'))

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--roles', type=int, default=10000)
    ap.add_argument('--requests', type=int, default=200, help='idle requests per program and round')
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('sources', nargs='*', default=[os.path.join(os.path.dirname(HERE), 'src/pgbouncer/push.pl')])
    args = ap.parse_args()
    load0 = ', '.join(f'{x:.2f}' for x in os.getloadavg())
    per_request = {src: [] for src in args.sources}
    with tempfile.TemporaryDirectory() as top:
        programs = {}
        for i, src in enumerate(args.sources):
            d = f'{top}/{i}'
            r = Resident(as_sent(source_text(src), ('console', 'check', 'resident')), d)
            answer = r.ask(push(d, args.roles, 1, True))
            if not answer.endswith(b'DONE ok\n') or b'CHANGED' not in answer:
                sys.exit(f'idle_program: {src}: the first push failed: {answer!r}')
            programs[src] = (r, d)
        generation = 2
        for _ in range(args.rounds):
            for src in random.sample(args.sources, len(args.sources)):
                r, d = programs[src]
                before = r.cpu_ticks()
                for _ in range(args.requests):
                    generation += 1
                    answer = r.ask(push(d, args.roles, generation, False))
                    if answer != b'UNCHANGED\nDONE ok\n':
                        sys.exit(f'idle_program: {src}: an idle request was answered {answer!r}')
                per_request[src].append((r.cpu_ticks() - before) * TICK_MS / args.requests)
        memory = {src: r.memory_mb() for src, (r, _) in programs.items()}
        for r, _ in programs.values():
            r.close()
    load = ', '.join(f'{x:.2f}' for x in os.getloadavg())
    print(f'{os.cpu_count()} CPUs, load {load0} -> {load}; {args.roles} roles, {args.rounds} rounds of '
          f'{args.requests} idle requests per program')
    print('| program | CPU ms per idle request (median of the rounds) | rounds | RSS at the end, MB | peak RSS, MB |')
    print('|---|---:|---|---:|---:|')
    for src in args.sources:
        v = per_request[src]
        print(f'| {src} | {statistics.median(v):.2f} | {min(v):.2f}-{max(v):.2f} | {memory[src][0]:.1f} | {memory[src][1]:.1f} |')


if __name__ == '__main__':
    main()
