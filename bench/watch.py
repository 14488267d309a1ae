#!/usr/bin/python3
"""pgdeploy watch: the idle cost of a round, and a soak.

    unshare --net -- bash -c 'ip link set lo up && /usr/bin/python3 bench/watch.py \\
        --agent build/pgdeploy [--before OTHER_BINARY] [--sizes 10,30,100] [--roles 0,10000] \\
        [--rounds 20] [--interval 1] [--soak-seconds 300] [--soak-interval 0.1] \\
        [--soak-servers 30] [--min-free-mb 1536] [--pgbouncer-auth-aside] [--json FILE]'

Needs root (the rig) and a private network namespace (the rig's loopback addresses are fixed;
other rigs may run on this machine): it refuses to run outside one. It starts one rig of max(N)
app servers; for each N it enables app1..appN in the catalog, starts a watcher on node1 (with
--metrics-listen), waits until every server is current, then measures K idle rounds; with --roles, for each count of extra login roles (each with a SCRAM
verifier: userlist.txt grows by about 150 bytes a role), and with --before, the other binary
measured the same way right before this one (installed in the same rig). The soak
then runs a watcher with a short interval at N = --soak-servers. See
bench/README.md, "pgdeploy watch: the idle cost of a round".
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, 'tests', 'rig'))
import rig  # noqa: E402

BENCH_ROOT = '/var/lib/pgdeploy-bench'
METRICS = '127.0.0.1:9187'
CLK_TCK = os.sysconf('SC_CLK_TCK')


def log(msg):
    print(f'[watch-bench {time.strftime("%H:%M:%S")}] {msg}', file=sys.stderr, flush=True)


def require_private_netns():
    with open('/proc/self/net/dev') as f:
        interfaces = [line.split(':')[0].strip() for line in f.readlines()[2:]]
    if interfaces != ['lo']:
        sys.exit(f'watch-bench: run me inside `unshare --net` (found interfaces {interfaces})')
    if os.geteuid() != 0:
        sys.exit('watch-bench: needs root (the rig)')


# --------------------------------------------------------------------------
# What we read about the watcher and the rig

def metrics():
    """The watcher's metrics as {sample name with labels: value}."""
    with urllib.request.urlopen(f'http://{METRICS}/metrics', timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith('#'):
            name, value = line.rsplit(' ', 1)
            out[name] = float(value)
    return out


def try_metrics():
    try:
        return metrics()
    except OSError:
        return {}


def rounds(m):
    return int(m.get('pgdeploy_watch_round_duration_seconds_count', 0))


def current(m):
    return int(m.get('pgdeploy_watch_app_servers{state="current"}', 0))


def proc_cpu(pid):
    """utime+stime+cutime+cstime of pid, seconds: every thread's, those that have exited too
    (the watcher starts threads each round: the push pool, the node probes), and children's
    (it should have none). 10 ms ticks: over K rounds the figure is within 10/K ms."""
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLK_TCK


def proc_io(pid):
    """rchar + wchar: bytes through read/write-family system calls, sockets included (the
    SSH sessions, libpq, the metrics socket), whether or not they touched a disk."""
    with open(f'/proc/{pid}/io') as f:
        d = dict(line.split(':') for line in f.read().splitlines())
    return int(d['rchar']), int(d['wchar'])


def proc_status(pid, key):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    return None


def mem_available_mb():
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemAvailable:'):
                return int(line.split()[1]) // 1024
    return 0


def check_memory(floor_mb):
    """Stop the run (the rig comes down) before this machine runs out of memory: others work
    here too, and the OOM killer would pick any process. Each app server holds ~58 MB once
    its files carry 10,001 roles (see bench/README.md): a rig of 1000 then needs ~58 GB."""
    available = mem_available_mb()
    if available < floor_mb:
        raise MemoryError(f'watch-bench: only {available} MB of memory available (--min-free-mb '
                          f'{floor_mb}): stopping before the machine runs out')


def fd_count(pid):
    return len(os.listdir(f'/proc/{pid}/fd'))


def db_stats(r):
    """{node: (xact_commit, sessions)} summed over pg_stat_database. Each call is itself one
    session and one transaction on every node; sample() subtracts that."""
    out = {}
    for n, node in r.node.items():
        rows = node.psql('SELECT sum(xact_commit), sum(sessions) FROM pg_stat_database')
        out[n] = (int(rows[0][0]), int(rows[0][1]))
    return out


def sshd_logins(r):
    return sum((rig.read_text(app.sshd_log) or '').count('Accepted publickey') for app in r.app.values())


def reloads(r):
    return sum(app.reload_count() for app in r.app.values())


def app_pids(r):
    table = rig.mount_namespaces()
    return {i: set(app.ns.pids(table)) for i, app in r.app.items()}


def warm_session_memory(r, i=1):
    """RSS (kB) of app server i's sshd session processes (not the listener) and of the
    resident perl, as one warm session costs the server."""
    app = r.app[i]
    listener = app.sshd_pid()
    rss, names = 0, []
    for pid, argv, _ in app.processes():
        name = os.path.basename(argv[0]) if argv else ''
        is_session = name.startswith('sshd') and pid != listener
        if is_session or name.startswith('perl') or (argv and 'perl' in argv[0]):
            kb = proc_status(pid, 'VmRSS') or 0
            rss += kb
            names.append(f'{" ".join(argv).split(chr(10))[0][:40]} ({kb} kB)')
    return {'rss_kb': rss, 'processes': names}


# --------------------------------------------------------------------------
# Measurements

def start_rig(agent, n):
    os.makedirs(BENCH_ROOT, mode=0o755, exist_ok=True)
    rid = f'watch-{time.strftime("%Y%m%d-%H%M%S")}-{os.getpid()}-{n}'
    r = rig.Rig(app_servers=n, agent=agent, base_dir=os.path.join(BENCH_ROOT, rid))
    t0 = time.monotonic()
    r.up()
    r.install_agent()
    log(f'rig with {n} app servers up in {time.monotonic() - t0:.0f}s')
    return r


def enable(r, n):
    """Exactly app1..appN enabled in the catalog (the rig has max(N) rows)."""
    r.primary().psql(f'UPDATE repmgr.app_servers SET enabled = (substring(name from 4)::int <= {n})')


def auth_file_aside(r):
    """Point every app server's PgBouncer at an empty auth_file of its own, so that a reload no
    longer loads the userlist.txt the agent writes. PgBouncer 1.18 holds ~29 MB more for 10,000
    users; 1000 of them would hold 29 GB. Nothing the watcher or the app server's program does
    changes: they write, read and compare userlist.txt as before; an idle round reloads nothing.
    The pushes' reloads (SIGHUP) read the changed pgbouncer.ini."""
    old = 'auth_file = /etc/pgbouncer/userlist.txt\n'
    for app in r.app.values():
        with open(app.pgbouncer_ini) as f:
            ini = f.read()
        if old not in ini:
            raise RuntimeError(f'{app.pgbouncer_ini}: no line {old!r}')
        rig.write_file(os.path.join(app.etc_pgbouncer, 'bench-userlist.txt'), '', 0o600, rig.POSTGRES)
        rig.write_file(app.pgbouncer_ini, ini.replace(old, 'auth_file = /etc/pgbouncer/bench-userlist.txt\n'),
                       0o640, rig.POSTGRES)


def start_watcher(r, n, interval, min_free_mb):
    w = r.node[1].start_watcher(args=['--metrics-listen', METRICS], interval=interval)
    t0 = time.monotonic()
    rig.wait_for(lambda: check_memory(min_free_mb) or w.proc.poll() is not None or current(try_metrics()) == n,
                 60 + 2 * n, f'{n} app servers current')
    if w.proc.poll() is not None:
        raise RuntimeError(f'watcher exited {w.proc.returncode}:\n{w.text()}')
    converged = time.monotonic() - t0
    log(f'{n} app servers current after {converged:.1f}s')
    return w, converged


ROLE_BATCH = 1000


def set_roles(r, count, batch=ROLE_BATCH):
    """Exactly `count` roles bench_role_NNNNN with a password, so userlist.txt holds them all: the
    same SCRAM verifier, made once. `batch` roles per psql (one DO block: one statement, one
    transaction), each psql well inside the rig's 60 s. Not CREATE ROLE ... PASSWORD '<verifier>':
    PostgreSQL 15 checks that such a verifier is not one of the empty password, a whole SCRAM
    derivation (4096 iterations, ~4 ms) per role, 40 s of CPU for 10,000 even on a quiet machine
    (one psql of 10,000 such statements outlived the 60 s under load). The roles are made without
    a password and pg_authid.rolpassword is then set to the verifier directly (we are superuser)."""
    p = r.primary()
    while True:
        dropped = int(p.psql(
            "DO $$ DECLARE n int := 0; rname text; BEGIN "
            "FOR rname IN SELECT rolname FROM pg_roles WHERE rolname LIKE 'bench\\_role\\_%' "
            f"AND substring(rolname from 12)::int > {count} LIMIT {batch} LOOP "
            "EXECUTE format('DROP ROLE %I', rname); n := n + 1; END LOOP; "
            "PERFORM set_config('bench.dropped', n::text, false); END $$; "
            "SELECT current_setting('bench.dropped')")[0][0])
        if dropped < batch:
            break
    if count:
        p.psql("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_role_00001') THEN "
               "CREATE ROLE bench_role_00001 LOGIN PASSWORD 'bench'; END IF; END $$")
    for first in range(2, count + 1, batch):
        last = min(count, first + batch - 1)
        p.psql("DO $$ DECLARE rname text; BEGIN "
               "FOR rname IN SELECT 'bench_role_' || lpad(i::text, 5, '0') "
               f"FROM generate_series({first}, {last}) i LOOP "
               "IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = rname) THEN "
               "EXECUTE format('CREATE ROLE %I LOGIN', rname); END IF; END LOOP; "
               "UPDATE pg_authid SET rolpassword = (SELECT rolpassword FROM pg_authid "
               "WHERE rolname = 'bench_role_00001') "
               f"WHERE rolname IN (SELECT 'bench_role_' || lpad(i::text, 5, '0') FROM generate_series({first}, {last}) i) "
               "AND rolpassword IS DISTINCT FROM (SELECT rolpassword FROM pg_authid "
               "WHERE rolname = 'bench_role_00001'); END $$")
    return int(p.psql("SELECT count(*) FROM pg_authid WHERE rolpassword IS NOT NULL")[0][0])


def next_round(after, timeout=60):
    """Wait until the round counter passes `after`; return the metrics."""
    return rig.wait_for(lambda: (lambda m: m if rounds(m) > after else None)(try_metrics()),
                        timeout, 'a round', interval=0.02)


def lo_bytes():
    """Bytes sent on loopback in this (private) network namespace: every TCP/IP packet once,
    headers included."""
    with open('/proc/net/dev') as f:
        for line in f:
            if line.strip().startswith('lo:'):
                return int(line.split(':', 1)[1].split()[8])
    return 0


def ssh_socket_bytes():
    """Payload bytes sent + received on the established client sockets to port 22: in the rig
    during a measurement only the watcher's warm sessions are such sockets."""
    out = subprocess.run(['ss', '-tinH', 'state', 'established', '( dport = :22 )'],
                         capture_output=True, text=True, check=True).stdout
    sent = sum(int(x) for x in re.findall(r'\bbytes_sent:(\d+)', out))
    received = sum(int(x) for x in re.findall(r'\bbytes_received:(\d+)', out))
    return sent + received


def new_processes(r, before, seen):
    for i, pids in app_pids(r).items():
        for pid in pids - before[i]:
            try:
                with open(f'/proc/{pid}/cmdline', 'rb') as f:
                    argv = f.read().replace(b'\0', b' ').decode(errors='replace').strip()
            except OSError:
                argv = '?'
            seen.setdefault(f'app{i}', {})[pid] = argv


def idle(r, w, n, k, interval, min_free_mb):
    """Measure k idle rounds of watcher w. The window opens just after a round ends and closes
    half an interval after the k-th next one would end (the loop sleeps `interval` after each
    round), so no round is cut at either edge. The watcher's metrics are read only outside the
    window (serving them costs the watcher CPU); app server processes are sampled four times a
    second inside it (that costs only us)."""
    m = next_round(rounds(try_metrics()))      # settle: one more whole round after converging
    m0 = next_round(rounds(m))
    wall_est = (m0['pgdeploy_watch_round_duration_seconds_sum']
                - m['pgdeploy_watch_round_duration_seconds_sum']) / (rounds(m0) - rounds(m))
    db0, ssh0, rel0 = db_stats(r), sshd_logins(r), reloads(r)
    pids0 = app_pids(r)
    t0 = time.monotonic()
    lo0, sock0 = lo_bytes(), ssh_socket_bytes()
    cpu0, io0 = proc_cpu(w.pid), proc_io(w.pid)
    end = t0 + k * (interval + wall_est) + interval / 2
    new_pids = {}
    while time.monotonic() < end:
        new_processes(r, pids0, new_pids)
        check_memory(min_free_mb)
        time.sleep(max(0.0, min(0.25, end - time.monotonic())))
    cpu1, io1 = proc_cpu(w.pid), proc_io(w.pid)
    lo1, sock1 = lo_bytes(), ssh_socket_bytes()
    window = time.monotonic() - t0
    m = try_metrics()
    db1, ssh1, rel1 = db_stats(r), sshd_logins(r), reloads(r)
    done = rounds(m) - rounds(m0)
    wall = (m['pgdeploy_watch_round_duration_seconds_sum']
            - m0['pgdeploy_watch_round_duration_seconds_sum']) / done
    per_node = {}
    for node in db0:
        # minus our own db_stats() call: one session and one transaction per node
        xacts = db1[node][0] - db0[node][0] - 1
        sessions = db1[node][1] - db0[node][1] - 1
        per_node[f'node{node}'] = {'xact_commit_per_round': xacts / done,
                                   'sessions_per_round': sessions / done}
    return {
        'app_servers': n,
        'rounds': done,
        'window_seconds': window,
        'cpu_ms_per_round': (cpu1 - cpu0) * 1000 / done,
        'round_wall_ms': wall * 1000,
        'rchar_per_round': (io1[0] - io0[0]) / done,
        'wchar_per_round': (io1[1] - io0[1]) / done,
        'loopback_bytes_raw': lo1 - lo0,
        'ssh_bytes_per_round': (sock1 - sock0) / done,
        'db': per_node,
        'ssh_logins': ssh1 - ssh0,
        'reloads': rel1 - rel0,
        'pushes_updated': m['pgdeploy_watch_pushes_total{result="updated"}']
        - m0['pgdeploy_watch_pushes_total{result="updated"}'],
        # the agent's own count of the sessions' channel bytes (requests + answers), where it has one
        'agent_bytes_per_server_round': sum(
            m.get(f'pgdeploy_watch_ssh_bytes_total{{direction="{d}"}}', float('nan'))
            - m0.get(f'pgdeploy_watch_ssh_bytes_total{{direction="{d}"}}', float('nan'))
            for d in ('sent', 'received')) / done / n,
        'new_app_pids': new_pids,
        'watcher_rss_kb': proc_status(w.pid, 'VmRSS'),
        'watcher_fds': fd_count(w.pid),
    }


def loopback_background(seconds):
    """Loopback bytes per second with no watcher running (the standby's replication, ...)."""
    lo0 = lo_bytes()
    time.sleep(seconds)
    return (lo_bytes() - lo0) / seconds


def soak(r, n, interval, seconds, min_free_mb, every=15.0):
    w, _ = start_watcher(r, n, interval, min_free_mb)
    try:
        samples = []
        t0 = time.monotonic()
        while True:
            t = time.monotonic() - t0
            samples.append({'t': round(t, 1), 'rounds': rounds(try_metrics()),
                            'rss_kb': proc_status(w.pid, 'VmRSS'), 'fds': fd_count(w.pid)})
            log(f'soak: {samples[-1]}')
            if t >= seconds:
                break
            time.sleep(min(every, max(0.0, seconds - t)))
        warm = warm_session_memory(r)
        m = try_metrics()
        return {'app_servers': n, 'interval': interval, 'seconds': seconds,
                'samples': samples, 'rounds': samples[-1]['rounds'] - samples[0]['rounds'],
                'rounds_total': samples[-1]['rounds'],
                'ssh_logins_total': m.get('pgdeploy_watch_ssh_logins_total'),
                'reconnects_total': m.get('pgdeploy_watch_reconnects_total'),
                'warm_session_app1': warm}
    finally:
        rc = w.stop()
        log(f'soak watcher stopped: exit {rc}')


# --------------------------------------------------------------------------
# Output

def table(headers, rows):
    widths = [max(len(str(h)), *(len(str(row[i])) for row in rows)) for i, h in enumerate(headers)]
    out = ['  '.join(str(h).rjust(wd) for h, wd in zip(headers, widths)),
           '  '.join('-' * wd for wd in widths)]
    out += ['  '.join(str(c).rjust(wd) for c, wd in zip(row, widths)) for row in rows]
    return '\n'.join(out)


def report(result):
    lines = [f"machine: {result['machine']}", f"load average at start: {result['load_start']}"]
    if result.get('pgbouncer_auth_aside'):
        lines.append("app servers' PgBouncers: an empty auth_file of their own (--pgbouncer-auth-aside)")
    lines.append('')
    rows = []
    for s in result['idle']:
        db = s['db']
        rows.append([s.get('agent', ''), s.get('roles') or '', s['app_servers'], s['rounds'],
                     f"{s['cpu_ms_per_round']:.1f}",
                     f"{s['round_wall_ms']:.1f}",
                     f"{s['loopback_bytes_per_round'] / 1024:.1f}", f"{s['ssh_bytes_per_round'] / 1024:.1f}",
                     f"{s['ssh_bytes_per_round'] / s['app_servers']:.0f}",
                     f"{s['agent_bytes_per_server_round']:.0f}",
                     f"{s['rchar_per_round']:.0f}/{s['wchar_per_round']:.0f}",
                     '/'.join(f"{d['xact_commit_per_round']:.1f}" for d in db.values()),
                     '/'.join(f"{d['sessions_per_round']:.1f}" for d in db.values()),
                     s['ssh_logins'], s['reloads'], int(s['pushes_updated']),
                     sum(len(v) for v in s['new_app_pids'].values()),
                     s['watcher_rss_kb'], s['watcher_fds']])
    if rows:
        lines.append(f"Idle rounds (interval {result['interval']}s), per round:")
        lines.append(table(['agent', 'roles', 'N', 'rounds', 'cpu ms', 'wall ms', 'net KiB', 'ssh KiB',
                            'ssh B/server', 'channel B/server', 'rchar/wchar B',
                            'xacts n1/n2', 'conns n1/n2', 'ssh logins', 'reloads', 'pushes',
                            'new app pids', 'rss kB', 'fds'], rows))
        lines.append('cpu: the watcher\'s utime+stime (all threads, exited ones too; 10 ms ticks); '
                     'wall: the round histogram\'s _sum/_count; net: loopback bytes (TCP/IP, headers, '
                     'libpq to both nodes + SSH) minus the rig\'s background with no watcher; ssh: payload '
                     'on the warm sessions (ss bytes_sent+bytes_received); ssh B/server: that / N; '
                     'channel B/server: the agent\'s pgdeploy_watch_ssh_bytes_total delta / rounds / N '
                     '(requests and answers on the channels, without SSH\'s framing; nan: an agent '
                     'without it); roles: login roles with a password (userlist.txt\'s lines); rchar/wchar: /proc/PID/io, '
                     'read()/write() on files and pipes only (libpq and libssh use recv/send: not counted); '
                     'xacts, conns: pg_stat_database xact_commit, sessions deltas per node (our own '
                     'sampling subtracted); ssh logins: "Accepted publickey" in the sshd logs; new app pids: '
                     'processes that appeared in any app server namespace during the window (sampled 4/s)')
        for s in result['idle']:
            for app, pids in s['new_app_pids'].items():
                lines.append(f"  N={s['app_servers']} {app}: new processes {pids}")
        lines.append('')
    s = result.get('soak')
    if s:
        rss = [x['rss_kb'] for x in s['samples']]
        fds = [x['fds'] for x in s['samples']]
        lines.append(f"Soak: N={s['app_servers']}, interval {s['interval']}s, {s['seconds']:.0f}s, "
                     f"{s['rounds']} rounds sampled ({s['rounds_total']} in all), "
                     f"ssh logins {s['ssh_logins_total']:.0f}, reconnects {s['reconnects_total']:.0f}")
        lines.append(table(['', 'first', 'last', 'max'],
                           [['watcher VmRSS kB', rss[0], rss[-1], max(rss)],
                            ['watcher fds', fds[0], fds[-1], max(fds)]]))
        warm = s['warm_session_app1']
        lines.append(f"warm session on app1: {warm['rss_kb']} kB RSS in {len(warm['processes'])} processes:")
        lines += [f'  {p}' for p in warm['processes']]
    return '\n'.join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--agent', default=os.path.join(REPO, 'build', 'pgdeploy'))
    ap.add_argument('--before', metavar='BINARY',
                    help='another pgdeploy measured the same way right before --agent, in the same rig')
    ap.add_argument('--roles', default='',
                    help='counts of extra login roles to measure with, e.g. 100,10000 ("": as the rig has them)')
    ap.add_argument('--sizes', default='10,30,100', help='app server counts for the idle rounds ("" for none)')
    ap.add_argument('--rounds', type=int, default=20, help='idle rounds measured per size')
    ap.add_argument('--interval', type=float, default=1.0)
    ap.add_argument('--soak-servers', type=int, default=30)
    ap.add_argument('--soak-interval', type=float, default=0.1)
    ap.add_argument('--soak-seconds', type=float, default=300, help='0: no soak')
    ap.add_argument('--min-free-mb', type=int, default=1536,
                    help='stop (the rig comes down) when the machine has less memory available')
    ap.add_argument('--pgbouncer-auth-aside', action='store_true',
                    help="point the app servers' PgBouncers at an empty auth_file of their own, so they "
                         "do not load the roles (for --roles 10000 at large N: ~29 MB per PgBouncer)")
    ap.add_argument('--json', metavar='FILE', help='also write every figure as JSON to FILE ("-": stdout)')
    args = ap.parse_args()
    require_private_netns()
    agent = os.path.abspath(args.agent)
    agents = ([('before', os.path.abspath(args.before))] if args.before else []) + [('after' if args.before else '', agent)]
    for _, a in agents:
        if not os.access(a, os.X_OK):
            sys.exit(f'watch-bench: no pgdeploy at {a}')
    role_counts = [int(x) for x in args.roles.split(',') if x] or [None]
    sizes = [int(x) for x in args.sizes.split(',') if x]
    with open('/proc/loadavg') as f:
        load = ' '.join(f.read().split()[:3])
    result = {'machine': f'{platform.node()} {os.cpu_count()} CPUs {platform.release()}',
              'load_start': load, 'interval': args.interval, 'pgbouncer_auth_aside': args.pgbouncer_auth_aside, 'idle': [], 'soak': None}
    soak_n = args.soak_servers if args.soak_seconds > 0 else None
    r = start_rig(agent, max(sizes + ([soak_n] if soak_n else [])))
    try:
        if args.pgbouncer_auth_aside:
            auth_file_aside(r)
        for roles in role_counts:
            t0 = time.monotonic()
            in_userlist = set_roles(r, roles) if roles is not None else None
            if roles is not None:
                log(f'{in_userlist} roles with a password after {time.monotonic() - t0:.1f}s')
            for n in sorted(set(sizes)):
                enable(r, n)
                for label, binary in agents:
                    r.install_agent(binary)
                    w, converged = start_watcher(r, n, args.interval, args.min_free_mb)
                    try:
                        s = idle(r, w, n, args.rounds, args.interval, args.min_free_mb)
                        s['converge_seconds'] = converged
                    finally:
                        w.stop()
                    s['agent'], s['roles'] = label, in_userlist
                    s['mem_available_mb'] = mem_available_mb()
                    s['loopback_background_per_s'] = loopback_background(5)
                    s['loopback_bytes_per_round'] = (
                        s['loopback_bytes_raw'] - s['loopback_background_per_s'] * s['window_seconds']) / s['rounds']
                    result['idle'].append(s)
                    log(f'{label} roles={in_userlist} N={n}: {s}')
        if soak_n:
            enable(r, soak_n)
            r.install_agent(agent)
            result['soak'] = soak(r, soak_n, args.soak_interval, args.soak_seconds, args.min_free_mb)
    finally:
        r.down()
    with open('/proc/loadavg') as f:
        result['load_end'] = ' '.join(f.read().split()[:3])
    print(report(result))
    print(f"load average at end: {result['load_end']}")
    if args.json == '-':
        print(json.dumps(result, indent=2))
    elif args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=2)


if __name__ == '__main__':
    try:
        main()
    except MemoryError as e:    # check_memory(): the rig is down already
        sys.exit(str(e))
