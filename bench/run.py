#!/usr/bin/python3
"""pgdeploy benchmark: the agent against OpenSSH on a real loopback rig.

    /usr/bin/python3 bench/run.py --agent build/pgdeploy [--sizes 1,10,30,100] [--repeat 5]
                                  [--latency-ms 25] [--e2e] [--e2e-sizes 30,100] [--e2e-variants ...]
                                  [--warm-sizes 10,30,100] [--json-out FILE]

Needs root (the rig: namespaces, sshd, PgBouncer, PostgreSQL + repmgr). Runs
itself inside a private network namespace (re-executes under `unshare --net`),
so nothing it starts is reachable from, or collides with, anything else on the
machine. Prints tables and writes every raw measurement as JSON. It reports;
it exits 0 even when a measurement failed (the failure is in the output).

See bench/README.md for what each column means.
"""

import argparse
import asyncio
import calendar
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

sys.dont_write_bytecode = True    # keep bench/ free of __pycache__
import pgwire  # noqa: E402  (bench/, beside this file)
from startup import as_sent, source_text  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
NETNS_ENV = 'PGDEPLOY_BENCH_NETNS'
PUSH_PL = os.path.join(REPO, 'src', 'pgbouncer', 'push.pl')
BENCH_ROOT = '/var/lib/pgdeploy-bench'     # not the rig's default root: `rig.py down --all` leaves us be
PROXY_NET = '127.0.5.'                      # latency proxy i listens on 127.0.5.i:22
SSH_OPTS = ['-o', 'BatchMode=yes', '-o', 'KexAlgorithms=curve25519-sha256']
E2E_SERVERS = 30

rig = None          # tests/rig/rig.py, imported after the namespace switch


def log(msg):
    print(f'[bench {time.strftime("%H:%M:%S")}] {msg}', file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Private network namespace

def own_netns():
    return os.readlink('/proc/self/ns/net')


def enter_private_netns(script=None):
    """Re-execute `script` (default: this file) under `unshare --net` unless this process is
    that re-execution."""
    marker = os.environ.get(NETNS_ENV)
    if marker and marker != own_netns():
        subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
        with open('/proc/self/net/dev') as f:
            interfaces = [line.split(':')[0].strip() for line in f.readlines()[2:]]
        if interfaces != ['lo']:
            sys.exit(f'bench: expected a private network namespace with only lo, found {interfaces}')
        return
    if os.geteuid() != 0:
        sys.exit('bench: needs root (the rig uses namespaces, sshd, PgBouncer, PostgreSQL)')
    os.environ[NETNS_ENV] = own_netns()
    argv = ['unshare', '--net', '--', sys.executable, script or os.path.abspath(__file__)] + sys.argv[1:]
    os.execvp('unshare', argv)


# --------------------------------------------------------------------------
# Small helpers

def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt(v, digits=2, unit=''):
    if v is None:
        return '-'
    return f'{v:.{digits}f}{unit}'


def table(headers, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(headers)]
    line = '  '.join(str(h).rjust(w) for h, w in zip(headers, widths))
    out = [line, '  '.join('-' * w for w in widths)]
    out += ['  '.join(str(c).rjust(w) for c, w in zip(r, widths)) for r in rows]
    return '\n'.join(out)


def machine_info(agent):
    model = '?'
    with open('/proc/cpuinfo') as f:
        for line in f:
            if line.startswith('model name'):
                model = line.split(':', 1)[1].strip()
                break

    def version(argv):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (p.stdout + p.stderr).strip().splitlines()[0]
        except Exception as e:  # report, do not fail
            return f'? ({e})'
    with open(agent, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    git = subprocess.run(['git', '-C', REPO, 'log', '-1', '--format=%h %cd', '--date=iso'],
                         capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(['git', '-C', REPO, 'status', '--porcelain', '--', 'src'],
                           capture_output=True, text=True).stdout.strip()
    return {
        'nproc': os.cpu_count(), 'cpu_model': model, 'kernel': platform.release(),
        'loadavg_start': os.getloadavg(),
        'agent': f'{version([agent, "--version"])} sha256:{digest} '
                 f'built {time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.stat(agent).st_mtime))}',
        'git': git + (' (src/ has uncommitted changes)' if dirty else ''),
        'openssh': version(['ssh', '-V']), 'pgbouncer': version(['pgbouncer', '--version']),
        'python': platform.python_version(),
    }


# --------------------------------------------------------------------------
# The rig, with what the benchmark needs on top

class BenchRig:
    """Wraps a rig.Rig: known_hosts, the launcher, enabling N app servers, the admin console."""

    def __init__(self, agent, app_servers, notify=None):
        os.makedirs(BENCH_ROOT, mode=0o755, exist_ok=True)
        rid = f'{time.strftime("%Y%m%d-%H%M%S")}-{os.getpid()}-{os.urandom(2).hex()}'
        self.r = rig.Rig(app_servers=app_servers, agent=agent, base_dir=os.path.join(BENCH_ROOT, rid),
                         event_notification_command=notify)
        self.n = app_servers
        self.files = rig.remote_files(self.r.cluster)   # what the agent writes, as an app server sees it
        self.counter = 0
        self.enabled = None
        self.hung = {}     # node -> HungNode (the +hung end-to-end variants)

    def up(self):
        self.r.up()
        self.r.install_agent()
        self.work = rig.make_dir(os.path.join(self.r.dir, 'bench'), 0o755, rig.POSTGRES)
        self.launcher = os.path.join(self.work, 'launcher.py')
        shutil.copy(os.path.join(HERE, 'launcher.py'), self.launcher)
        os.chmod(self.launcher, 0o755)
        self.write_known_hosts()
        return self

    def down(self):
        self.r.down()

    def write_known_hosts(self):
        """Every app server's host key under its own address and its proxy address, so that
        neither OpenSSH nor the agent meets an unknown host (the agent refuses one by default)."""
        lines = []
        for i in range(1, self.n + 1):
            key = self.r.app[i].host_public_key()
            lines += [f'{self.r.app[i].addr} {key}', f'{PROXY_NET}{i} {key}']
        rig.write_file(self.r.known_hosts_path(), '\n'.join(lines) + '\n', 0o600, rig.POSTGRES)

    # ---- catalog ----------------------------------------------------------

    def sql(self, text):
        return self.primary().psql(text)

    def primary(self):
        """The rig's primary(), but a hung node is never asked: each question would wait
        out psql's connect timeout (5 s), and the catalog we want is the new primary's."""
        for node in self.r.node.values():
            if node.index not in self.hung and node.postmaster_pid() and node.is_writable():
                return node
        raise rig.RigError('no writable node')

    # ---- a hung node ---------------------------------------------------------------

    def hang(self, n, postmaster):
        """SIGSTOP node n's postmaster and every process of it (see HungNode)."""
        hung = self.hung[n] = HungNode()
        # Registered before anything stops. Rig.down() closes its faults before anything else:
        # the stopped processes are killed on every way out (an error, SIGTERM, atexit), or
        # pg_ctl stop would wait 20 s for a postmaster that cannot hear it and down() would
        # give up before removing the rig.
        self.r.add_fault(hung)
        hung.stop(postmaster)
        return hung

    def end_hangs(self):
        """Kill the hung nodes: from here on they are dead, as after kill -9. Not SIGCONT:
        node1 would come back as a second writable primary."""
        for hung in self.hung.values():
            hung.close()
        self.hung.clear()

    def enable(self, n):
        if self.enabled != n:
            self.sql(f'UPDATE repmgr.app_servers SET enabled = (substring(name from 4)::int <= {n})')
            self.enabled = n

    def set_targets(self, net):
        """Point app_servers.ip_addr at 127.0.1.i (the sshd) or PROXY_NET.i (its latency proxy)."""
        self.sql(f"UPDATE repmgr.app_servers SET ip_addr = '{net}' || substring(name from 4)")

    def setup_admin_console(self):
        """Give app_servers an admin_conninfo column unless the rig's table has one."""
        cols = self.sql("SELECT column_name FROM information_schema.columns WHERE table_schema = "
                        "'repmgr' AND table_name = 'app_servers' AND column_name = 'admin_conninfo'")
        if not cols:
            self.sql("ALTER TABLE repmgr.app_servers ADD COLUMN admin_conninfo TEXT DEFAULT ''")
        return not cols

    def set_admin(self, on):
        if on:
            self.sql("UPDATE repmgr.app_servers SET admin_conninfo = CASE substring(name from 4)::int "
                     + ' '.join(f'WHEN {i} THEN {rig.sql_literal(self.r.app[i].admin_conninfo())}'
                                for i in range(1, self.n + 1)) + " END")
        else:
            self.sql("UPDATE repmgr.app_servers SET admin_conninfo = ''")

    # ---- files on the app servers --------------------------------------------

    def mutated(self, text, tag):
        """text with its header's digest replaced: the agent must rewrite the file."""
        first, sep, rest = text.partition('\n')
        if ' digest=' not in first:
            raise rig.RigError(f'no pgdeploy header in {first!r}')
        return re.sub(r' digest=\S*$', f' digest={tag}', first) + sep + rest

    def alter_all(self, n):
        """Untimed: change every file the agent writes on app servers 1..n."""
        self.counter += 1
        tag = f'bench-{self.counter}'
        for i in range(1, n + 1):
            app = self.r.app[i]
            for path in self.files:
                app.write_file(path, self.mutated(app.read_file(path), tag))

    # ---- running things inside the DB host ---------------------------------------

    def launch(self, jobs, timeout=180, env=None):
        """Start jobs (dicts: argv, optional stdin text) all at once as postgres in the DB host."""
        self.counter += 1
        d = os.path.join(self.work, f'run{self.counter}')
        rig.make_dir(d, 0o700, rig.POSTGRES)
        spec_jobs = []
        for k, job in enumerate(jobs):
            entry = {'argv': job['argv'], 'stdout': f'{d}/{k}.out', 'stderr': f'{d}/{k}.err'}
            if job.get('stdin') is not None:
                entry['stdin'] = rig.write_file(f'{d}/{k}.in', job['stdin'], 0o600, rig.POSTGRES)
            spec_jobs.append(entry)
        spec = rig.write_file(f'{d}/spec.json', json.dumps(
            {'timeout': timeout, 'env': rig.postgres_env(env), 'jobs': spec_jobs}), 0o600, rig.POSTGRES)
        proc = self.r.dbhost.run(['/usr/bin/python3', self.launcher, spec], user=rig.PG_USER,
                                 cwd=self.work, timeout=timeout + 30)
        shutil.rmtree(d, ignore_errors=True)
        return json.loads(proc.stdout)

    def agent_argv(self, extra=()):
        return [self.r.agent_path, '-c', self.r.cluster, '-p', self.r.node[1].conninfo(), '--json', *extra]


# --------------------------------------------------------------------------
# Measurements

def ssh_argv(addr, command):
    return ['ssh', *SSH_OPTS, f'postgres@{addr}', command]


def parallel_ssh(br, addrs, command, stdins=None):
    jobs = [{'argv': ssh_argv(a, command if isinstance(command, str) else command[k]),
             'stdin': stdins[k] if stdins else None} for k, a in enumerate(addrs)]
    res = br.launch(jobs)
    failures = [(addrs[k], j['rc'], j['stderr'].strip()[-200:]) for k, j in enumerate(res['jobs'])
                if j['rc'] != 0]
    return {'wall': res['wall'], 'failed': len(failures), 'errors': failures[:3],
            'client_cpu': sum(j['user'] + j['sys'] for j in res['jobs']),
            'timed_out': res['timed_out']}


def peer_script(files, reload_command):
    """One ssh per host, the files on stdin: write each atomically, then reload."""
    steps = ['umask 077']
    for path, size in files:
        d, b = os.path.dirname(path), os.path.basename(path)
        q = path.replace(rig.PG_HOME, '"$HOME"', 1) if path.startswith(rig.PG_HOME + '/') else path
        qd = d.replace(rig.PG_HOME, '"$HOME"', 1) if d.startswith(rig.PG_HOME) else d
        tmp = f'{qd}/.{b}.peer-$$'
        steps.append(f'head -c {size} > {tmp} && mv -f {tmp} {q}')
    steps.append(reload_command)
    return ' && '.join(steps)


def peer(br, n, admin):
    """N parallel OpenSSH sessions doing the agent's remote work (write 3 files atomically, reload)."""
    br.counter += 1
    tag = f'peer-{br.counter}'
    commands, stdins = [], []
    for i in range(1, n + 1):
        contents = [br.mutated(br.r.app[i].read_file(p), tag) for p in br.files]
        reload_command = (f"psql {shlex.quote(br.r.app[i].admin_conninfo())} -X -q -c RELOAD" if admin
                          else 'sudo -n service pgbouncer reload')
        commands.append(peer_script([(p, len(c.encode())) for p, c in zip(br.files, contents)],
                                    reload_command))
        stdins.append(''.join(contents))
    return parallel_ssh(br, [br.r.app[i].addr for i in range(1, n + 1)], commands, stdins)


def agent(br, n, expect, extra=()):
    """One agent run; expect 'updated' (full deploy) or 'unchanged' (re-run)."""
    res = br.launch([{'argv': br.agent_argv(extra)}])
    job = res['jobs'][0]
    out = {'wall': res['wall'], 'rc': job['rc'], 'wait4_cpu': job['user'] + job['sys'],
           'wait4_rss_kb': job['maxrss_kb'], 'timed_out': res['timed_out']}
    try:
        report = json.loads(job['stdout'])
    except ValueError:
        out.update(lost=n, error=f'no JSON report (exit {job["rc"]}): {job["stderr"][-400:]}')
        return out
    servers = report.get('servers', [])
    counts = {}
    for s in servers:
        counts[s['result']] = counts.get(s['result'], 0) + 1
    good = [s for s in servers if s['result'] == expect
            and (expect != 'updated' or (len(s.get('changed', [])) == 3 and s.get('reloaded')))]
    errors = [f"{s['address']}: {s['result']} {s.get('error', '')} changed={len(s.get('changed', []))}"
              for s in servers if s not in good]
    host_seconds = sorted(s['seconds'] for s in servers)
    out.update(
        agent_seconds=report.get('seconds'), cpu=report.get('cpu_seconds'),
        rss_kb=report.get('max_rss_kb'), counts=counts, servers=len(servers),
        lost=n - len(good),
        errors=errors[:5], notes=sorted({s['note'] for s in servers if s.get('note')})[:3],
        host_median=median(host_seconds), host_max=host_seconds[-1] if host_seconds else None)
    if job['rc'] != 0:
        out['error'] = f'exit {job["rc"]}: {job["stderr"][-300:]}'
    return out


def agent_check(br, n, extra=(), asked_by='ssh'):
    """One `pgdeploy check` on a converged cluster (read only): every server must be OK, and the
    check asked as `asked_by` says (over new logins, or by this node's watcher)."""
    res = br.launch([{'argv': br.agent_argv(['check', *extra])}])
    job = res['jobs'][0]
    out = {'wall': res['wall'], 'rc': job['rc'], 'timed_out': res['timed_out']}
    try:
        report = json.loads(job['stdout'])
    except ValueError:
        out.update(lost=n, error=f'no JSON report (exit {job["rc"]}): {job["stderr"][-400:]}')
        return out
    out.update(agent_seconds=report.get('seconds'), lost=n - report.get('counts', {}).get('current', 0))
    if job['rc'] != 0:
        out['error'] = f'exit {job["rc"]}: {report.get("summary")}'
    elif report.get('asked_by') != asked_by:
        out['error'] = f'asked by {report.get("asked_by")}, not {asked_by}'
    return out


def record(results, key, value):
    results.setdefault(key, []).append(value)
    bad = value.get('lost') or value.get('failed') or value.get('error')
    if bad:
        log(f'  {key}: {bad if not isinstance(bad, int) else ""} '
            f'{value.get("errors") or value.get("error") or ""}')


def bench_size(br, n, repeat, breakdown):
    log(f'N={n}: {repeat} repetitions')
    br.enable(n)
    addrs = [br.r.app[i].addr for i in range(1, n + 1)]
    res = {}
    for rep in range(repeat):
        br.set_admin(False)
        record(res, 'floor', parallel_ssh(br, addrs, 'true'))
        record(res, 'peer_sudo', peer(br, n, admin=False))
        br.alter_all(n)
        record(res, 'agent_sudo', agent(br, n, 'updated'))
        record(res, 'rerun', agent(br, n, 'unchanged'))
        record(res, 'check', agent_check(br, n))
        br.set_admin(True)
        record(res, 'peer_admin', peer(br, n, admin=True))
        br.alter_all(n)
        record(res, 'agent_admin', agent(br, n, 'updated'))
        record(res, 'rerun_admin', agent(br, n, 'unchanged'))
        record(res, 'check_admin', agent_check(br, n))
        if breakdown:
            for name, cmd in breakdown_commands(br, n):
                record(res, f'breakdown:{name}', parallel_ssh(br, addrs, cmd))
        log(f'  N={n} rep {rep + 1}: floor {res["floor"][-1]["wall"]:.2f}s '
            f'peer {res["peer_sudo"][-1]["wall"]:.2f}s agent {res["agent_sudo"][-1]["wall"]:.2f}s '
            f're-run {res["rerun"][-1]["wall"]:.2f}s | admin: peer {res["peer_admin"][-1]["wall"]:.2f}s '
            f'agent {res["agent_admin"][-1]["wall"]:.2f}s re-run {res["rerun_admin"][-1]["wall"]:.2f}s '
            f'check {res["check_admin"][-1]["wall"]:.2f}s')
    br.set_admin(False)
    return res


def breakdown_commands(br, n):
    """What the remote work costs, piece by piece (the issue's N = 10 breakdown): the same
    N parallel logins, each running only this."""
    admin = [f"psql {shlex.quote(br.r.app[i].admin_conninfo())} -X -q -c RELOAD" for i in range(1, n + 1)]
    return [
        ('true', 'true'),
        ('cat > tmp && mv', 'umask 077 && cat > /etc/pgbouncer/.bench.tmp && '
                            'mv -f /etc/pgbouncer/.bench.tmp /etc/pgbouncer/.bench'),
        ('3x (head -c > tmp && mv) + flock',
         'umask 077 && for f in a b c; do head -c 0 > /etc/pgbouncer/.b.$f && '
         'mv -f /etc/pgbouncer/.b.$f /etc/pgbouncer/.bb.$f; done && flock -w 1 /etc/pgbouncer/.bench.lock true'),
        ('sudo -n service pgbouncer reload', 'sudo -n service pgbouncer reload'),
        ('psql (pg_wrapper) ... -c RELOAD', admin),
        (f'{rig.PG_BIN}/psql ... -c RELOAD', [f'{rig.PG_BIN}/{c}' for c in admin]),
        # The push program's own pieces (issue 26): perl alone; the work tree's push.pl compiled
        # and refusing an empty request (its start-up); the /proc scan a push made after every
        # reload (unlisted(): each process's comm read), on a host with this rig's processes.
        ('perl -e 1', 'perl -e 1'),
        ("push.pl's start-up (work tree, as a push with sudo gets it)", 'perl -e ' + shlex.quote(as_sent(source_text(PUSH_PL))) + ' </dev/null; true'),
        ('/proc scan (every comm read)', 'perl -e ' + shlex.quote(
            'opendir(my $d, "/proc") or die; for (grep { /^\\d+\\z/ } readdir $d) '
            '{ open(my $f, "<", "/proc/$_/comm") and scalar <$f> }')),
    ]


# ---- latency ----------------------------------------------------------------------

class LatencyProxy:
    def __init__(self, delay_ms, count):
        maps = [f'--map={PROXY_NET}{i}:22={rig.APP_NET}{i}:22' for i in range(1, count + 1)]
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, 'latency_proxy.py'),
                                      f'--delay-ms={delay_ms}', *maps],
                                     stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != 'ready':
            self.close()
            raise rig.RigError(f'latency proxy did not start: {line!r}')

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def bench_latency(br, delay_ms, sizes, repeat):
    res = {}
    br.set_admin(False)
    try:
        br.set_targets(PROXY_NET)
        for delay in (0, delay_ms):
            proxy = LatencyProxy(delay, max(sizes))
            try:
                for n in sizes:
                    br.enable(n)
                    addrs = [f'{PROXY_NET}{i}' for i in range(1, n + 1)]
                    for rep in range(repeat):
                        record(res, f'{n}:{delay}:ssh', parallel_ssh(br, addrs, 'true'))
                        br.alter_all(n)
                        record(res, f'{n}:{delay}:agent', agent(br, n, 'updated'))
                        record(res, f'{n}:{delay}:rerun', agent(br, n, 'unchanged'))
                    log(f'  latency {delay} ms, N={n}: ssh {median(r["wall"] for r in res[f"{n}:{delay}:ssh"]):.3f}s '
                        f'agent {median(r["wall"] for r in res[f"{n}:{delay}:agent"]):.3f}s')
            finally:
                proxy.close()
    finally:
        br.set_targets(rig.APP_NET)
    return res


# ---- end to end -----------------------------------------------------------------

WRAPPER = """#!/bin/bash
# pgdeploy bench: time each event_notification_command run, then pass its exit code on.
s=$EPOCHREALTIME
echo "$s" >> {log_dir}/notify-starts.log
"$@" >> {log_dir}/agent-output.log 2>&1
rc=$?
printf '%s %s %s %s\\n' "$s" "$EPOCHREALTIME" "$rc" "$*" >> {log_dir}/notify-timeline.log
exit $rc
"""

SEED_TEMPLATE = '{agent} -c {cluster} -p "host=127.0.0.1 port={port} user=repmgr dbname=repmgr"'
PLACEHOLDERS = SEED_TEMPLATE + ' --event %e --node-id %n --success %s'
# name -> (event_notification_command, admin console): with the admin console the agent reloads
# PgBouncer with RELOAD and cuts sessions on the old primary (KILL, RESUME) instead of `sudo -n
# service pgbouncer reload`. Any name + WAIT_SUFFIX adds service_promote_command (promote_wait_conf);
# any name + HUNG_SUFFIX makes node1 hang instead of dying (HungNode). Both: name+wait+hung.
# The hook handing its event to the node's watcher: the watcher's --lock-file, per node ({home}:
# the postgres home, filled in once the rig module is loaded; the two nodes share one DB host).
WATCH_HOOK = PLACEHOLDERS + ' --lock-file {home}/.pgdeploy-{cluster}-node{node}.lock'
E2E_VARIANTS = {
    'none': (None, False),                  # no agent: repmgrd alone
    'seed': (SEED_TEMPLATE, False),         # the seed README's form
    'placeholders': (PLACEHOLDERS, False),
    'admin': (PLACEHOLDERS, True),
    'watch': (WATCH_HOOK, False),           # `pgdeploy watch` on both nodes, the hook hands off
}
WAIT_SUFFIX = '+wait'
HUNG_SUFFIX = '+hung'
ADMIN_SUFFIX = '+admin'                     # the admin console with any base: watch+admin
SUFFIXES = (WAIT_SUFFIX, HUNG_SUFFIX, ADMIN_SUFFIX)
E2E_DEFAULT = 'none,seed,placeholders,admin,none+wait,admin+wait,admin+wait+hung'


def e2e_variant(name):
    """'admin+wait+hung' -> {'template', 'admin', 'wait', 'hung', 'watch'}; None for a name we
    do not know. The suffixes in any order, each at most once."""
    base, *flags = name.split('+')
    if base not in E2E_VARIANTS or len(set(flags)) != len(flags) \
            or not set(flags) <= {f[1:] for f in SUFFIXES}:
        return None
    template, admin = E2E_VARIANTS[base]
    if admin and ADMIN_SUFFIX[1:] in flags:   # admin+admin
        return None
    return {'template': template, 'admin': admin or ADMIN_SUFFIX[1:] in flags,
            'wait': WAIT_SUFFIX[1:] in flags, 'hung': HUNG_SUFFIX[1:] in flags, 'watch': base == 'watch'}


def promote_wait_conf(r):
    """repmgr.conf lines of the +wait variants, per node. `repmgr standby promote` on PostgreSQL
    >= 12 calls pg_promote(wait => false), checks pg_is_in_recovery() at once and then only every
    promote_check_interval (1 s, whole seconds): standby_promote, and the agent it starts, comes
    up to 1 s after node2 became writable. With service_promote_command repmgr runs that command
    instead and starts checking when it returns; `pg_ctl -w promote` returns once promotion is
    complete (it polls every 0.1 s), so repmgr's first check succeeds."""
    return lambda n: [f"service_promote_command='{rig.PG_BIN}/pg_ctl -w -D {r.node[n].data} promote'"]


def child_pids(pid):
    """pid's children: /proc/<pid>/task/<tid>/children where the kernel has it
    (CONFIG_PROC_CHILDREN), else every process whose parent is pid."""
    tasks = os.listdir(f'/proc/{pid}/task') if os.path.isdir(f'/proc/{pid}/task') else []
    if tasks and os.path.exists(f'/proc/{pid}/task/{tasks[0]}/children'):
        return [int(c) for tid in tasks for c in (rig.read_text(f'/proc/{pid}/task/{tid}/children') or '').split()]
    kids = []
    for entry in filter(str.isdigit, os.listdir('/proc')):
        stat = rig.read_text(f'/proc/{entry}/stat') or ')  0'
        if int(stat.rsplit(')', 1)[1].split()[1]) == pid:
            kids.append(int(entry))
    return kids


def process_state(pid):
    return (rig.read_text(f'/proc/{pid}/stat') or ') X').rsplit(')', 1)[1].split()[0]


class HungNode:
    """A PostgreSQL node that hangs like a frozen or cut-off machine: its postmaster and every
    process it started (backends, walsender, checkpointer, logger...) SIGSTOPped. The kernel
    still accepts TCP connections (into the listen backlog) and keeps established ones open,
    but nothing answers: a new connection waits out its connect timeout, an existing one
    (repmgrd's, node2's walreceiver's) hangs. Stopping the postmaster alone would leave the
    backends of existing connections answering. close() kills them all (idempotent): a rig
    cannot stop a node that cannot hear pg_ctl."""

    def __init__(self):
        self.pids, self.titles = [], []

    def stop(self, postmaster):
        if not postmaster or not self.stop_one(postmaster):
            raise rig.RigError('no postmaster to hang')
        # Only once it is stopped is the set of its children final (a stopped process forks
        # no more; the kernel restarts a fork() that a SIGSTOP interrupts).
        rig.wait_for(lambda: process_state(postmaster) in 'Tt', 2, 'the postmaster to stop', 0.001)
        todo = child_pids(postmaster)
        while todo:
            pid = todo.pop()
            if self.stop_one(pid):
                todo += child_pids(pid)

    def stop_one(self, pid):
        try:
            os.kill(pid, signal.SIGSTOP)
        except ProcessLookupError:
            return False    # a child that was exiting
        self.pids.append(pid)
        self.titles.append((rig.read_text(f'/proc/{pid}/cmdline') or '').replace('\0', ' ').strip())
        return True

    def close(self):
        pids, self.pids = self.pids, []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


async def e2e_poll(br, servers, timeout=60.0, follow=True, hang=False, client_timeout=1.0):
    """kill -9 node1's postmaster (with hang: SIGSTOP it and all its processes); time node2
    becoming writable and every PgBouncer leading to it."""
    r = br.r
    reader, writer = await pgwire.connect('127.0.0.1', r.node[2].port, 'repmgr', 'repmgr')
    t = {}
    pid = r.node[1].postmaster_pid()
    t0 = time.monotonic()
    t0_real = time.time()
    if hang:
        br.hang(1, pid)
    else:
        os.kill(pid, signal.SIGKILL)
    deadline = t0 + timeout

    async def writable():
        nonlocal reader, writer
        while time.monotonic() < deadline:
            try:
                if await asyncio.wait_for(pgwire.query_one(reader, writer, 'select pg_is_in_recovery()'), 2) == 'f':
                    t['writable'] = time.monotonic() - t0
                    return
            except Exception:
                try:
                    reader, writer = await pgwire.connect('127.0.0.1', r.node[2].port, 'repmgr', 'repmgr')
                except Exception:
                    pass
            await asyncio.sleep(0.01)

    follows, last = {}, {}

    async def follows_node2(i):
        # One client at a time per PgBouncer: in session mode each waiting client holds (or
        # waits for) its own server connection, and node2 allows only max_connections = 60:
        # several at once from 30 PgBouncers would make the measurement fail the failover.
        # A client that waits inside PgBouncer is served the moment PgBouncer reaches node2.
        addr = r.app[i].addr
        while time.monotonic() < deadline:
            try:
                port = await pgwire.fetch(addr, rig.PGBOUNCER_PORT, rig.APP_USER, rig.APP_DB,
                                          'select inet_server_port()', rig.APP_PASSWORD, timeout=client_timeout)
                last[i] = f'port {port}'
                if port == str(r.node[2].port):
                    follows[i] = time.monotonic() - t0
                    return
            except Exception as e:
                last[i] = f'{type(e).__name__}: {e}'
            await asyncio.sleep(0.05)

    jobs = [writable()] + ([follows_node2(i) for i in servers] if follow else [])
    await asyncio.gather(*jobs)
    pgwire.close(writer)
    return t0_real, t.get('writable'), follows, last


# PgBouncer's log lines, and PostgreSQL's with its default log_line_prefix '%m [%p] ' (the rig
# keeps it; log_timezone is the machine's, UTC on the test machines): a line in another zone is
# not recognised, so its time is missing (-), never wrong.
TIMESTAMPED_LINE = re.compile(r'(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(\.\d+)? (?:UTC|GMT) \[\d+\] (.*)')


def log_times(log_path, pattern, since):
    """Seconds after `since` (epoch), in order, of the lines of a PgBouncer or PostgreSQL log from
    `since` on whose text after the timestamp and pid matches `pattern` (millisecond stamps)."""
    times = []
    for line in (rig.read_text(log_path) or '').splitlines():
        m = TIMESTAMPED_LINE.match(line)
        if m and re.search(pattern, m.group(3)):
            t = calendar.timegm(time.strptime(m.group(1), '%Y-%m-%d %H:%M:%S')) + float(m.group(2) or 0)
            if t >= since:
                times.append(t - since)
    return times


def first_server_login(log_path, port, since):
    """Seconds after `since` (epoch) of PgBouncer's first server connection to `port`, from its log."""
    times = log_times(log_path, r'@127\.0\.0\.1:' + str(port) + r' new connection to server', since)
    return times[0] if times else None


def sudo_reload_times(app, since):
    """Seconds after `since` of each `service pgbouncer reload` on an app server: the rig's
    `service` stand-in appends `<epoch> reload by <user>` to its reload log."""
    stamps = [float(line.split()[0]) for line in (rig.read_text(app.reload_log) or '').splitlines()]
    return [t - since for t in stamps if t >= since]


def console_reload_times(app, since):
    """Seconds after `since` of each RELOAD on the PgBouncer's admin console: PgBouncer 1.18
    logs `LOG RELOAD command issued` (no `service` runs, so the reload log stays as it was)."""
    return log_times(app.pgbouncer_log, r'^LOG RELOAD command issued', since)


def agent_on_node1(output):
    """What the agent's runs said about node1 (its proof: `  node1 (id 1): <state>`), each
    distinct line once, in order: a hung node1 should be `unreachable` after the probe timeout."""
    lines = [line.strip() for line in output.splitlines() if re.match(r'\s*node1 \(id 1\)', line)]
    return list(dict.fromkeys(lines))


def promote_method(log_text):
    """How `repmgr standby promote` promoted node2, from its log: `pg_promote()`, or the
    service_promote_command it ran, in double quotes."""
    found = re.findall(r'promoting server "node2" \(ID: 2\) using (.*)', log_text)
    return found[-1].strip() if found else None


def repmgr_events(br, since):
    """repmgr.events rows from `since` (epoch) on, times in s after it. event_timestamp is the
    row's insert, just before repmgr starts the event_notification_command."""
    rows = br.sql('SELECT event, node_id, successful, extract(epoch from event_timestamp) FROM repmgr.events '
                  f'WHERE event_timestamp >= to_timestamp({since}) ORDER BY event_timestamp')
    return [{'event': e, 'node': int(n), 'ok': ok == 't', 'at': float(t) - since} for e, n, ok, t in rows]


def wait_failover_done(br, since, timeout=20):
    """Wait until repmgrd on node2 recorded repmgrd_failover_promote (its promote_command
    returned): node2 is writable before that, and without an agent nothing else waits for it."""
    def done():
        try:
            return any(e['event'] == 'repmgrd_failover_promote' for e in repmgr_events(br, since))
        except rig.RigError:
            return False
    try:
        rig.wait_for(done, timeout, 'repmgrd_failover_promote', 0.2)
    except rig.RigError as e:
        log(f'  {e}')


def wait_notifications_quiet(log_dir):
    """Let repmgr's remaining notification runs (repmgrd_failover_promote...) finish: wait until
    every started run has ended and nothing new started for 1.5 s (20 s at most)."""
    def runs():
        return tuple(len((rig.read_text(os.path.join(log_dir, f)) or '').splitlines())
                     for f in ('notify-starts.log', 'notify-timeline.log'))
    quiet_since, seen, until = time.monotonic(), runs(), time.monotonic() + 20
    while time.monotonic() < until:
        time.sleep(0.1)
        now = runs()
        if now != seen:
            seen, quiet_since = now, time.monotonic()
        elif now[0] == now[1] and time.monotonic() - quiet_since > 1.5:
            break


def notification_timeline(log_dir, t0_real):
    timeline = []
    for line in (rig.read_text(os.path.join(log_dir, 'notify-timeline.log')) or '').splitlines():
        s, e, rc, cmd = line.split(' ', 3)
        ev = re.search(r'--event (\S+)', cmd)
        timeline.append({'start': float(s) - t0_real, 'end': float(e) - t0_real, 'rc': int(rc),
                         'seconds': float(e) - float(s), 'event': ev.group(1) if ev else '(seed: none)',
                         'port': re.search(r'port=(\d+)', cmd).group(1)})
    return timeline


def pgbouncer_timeline(br, n, admin, t0_real, follows):
    """Per PgBouncer, s after the kill: its first reload, from the source that applies (PgBouncer's
    own log with the admin console, the rig's reload log with sudo), its first KILL (admin console:
    sessions cut on the old primary), its first server login to node2 (its log) and the first
    client answer from node2 (the poller). Summed up: first/last reload (earliest / latest of the
    per-host first reloads), last server login, and reload -> login / follow per host."""
    hosts, total, sudo_in_admin = {}, 0, 0
    for i in range(1, n + 1):
        app = br.r.app[i]
        sudo = sudo_reload_times(app, t0_real)
        reloads = console_reload_times(app, t0_real) if admin else sudo
        total += len(reloads)
        sudo_in_admin += len(sudo) if admin else 0   # expected 0
        kills = log_times(app.pgbouncer_log, r'^LOG KILL .* command issued', t0_real) if admin else []
        login = first_server_login(app.pgbouncer_log, br.r.node[2].port, t0_real)
        # PgBouncer's failed logins to the dead node1: after one it tries again only
        # server_login_retry later, a reload or KILL in between or not.
        failed = [t for t in log_times(app.pgbouncer_log, r'@127\.0\.0\.1:' + str(br.r.node[1].port)
                                       + r' closing because: connect failed', t0_real)
                  if login is None or t < login]
        # and what went wrong on the way to node2 (a refused login waits out server_login_retry too)
        node2_errors = [line for line in (rig.read_text(app.pgbouncer_log) or '').splitlines()
                        if re.search(r'@127\.0\.0\.1:' + str(br.r.node[2].port) + r' (closing because|.*ERROR)', line)
                        and TIMESTAMPED_LINE.match(line)][:3]
        hosts[i] = {'reload': reloads[0] if reloads else None, 'kill': kills[0] if kills else None,
                    'login': login, 'follow': follows.get(i), 'last_failed_login': failed[-1] if failed else None,
                    'node2_errors': node2_errors}

    def values(key):
        return [h[key] for h in hosts.values() if h[key] is not None]

    def after_reload(key):
        return [h[key] - h['reload'] for h in hosts.values() if h[key] is not None and h['reload'] is not None]
    reloads, logins, kills = values('reload'), values('login'), values('kill')
    failed_to_login = [h['login'] - h['last_failed_login'] for h in hosts.values()
                       if h['login'] is not None and h['last_failed_login'] is not None]
    to_login, to_follow = after_reload('login'), after_reload('follow')
    return {
        'reload_source': 'pgbouncer log (RELOAD command issued)' if admin else 'reload log (service)',
        'first_reload': min(reloads) if reloads else None, 'last_reload': max(reloads) if reloads else None,
        'hosts_reloaded': len(reloads), 'reloads_after_kill': total,
        'sudo_reloads_in_admin_variant': sudo_in_admin if admin else None,
        'first_kill': min(kills) if kills else None, 'last_kill': max(kills) if kills else None,
        'pgbouncer_to_node2_median': median(logins),
        'pgbouncer_to_node2_max': max(logins) if len(logins) == n else None,
        'failed_to_login_median': median(failed_to_login),
        'failed_to_login_min': min(failed_to_login) if failed_to_login else None,
        'hosts_with_failed_login': len(failed_to_login),
        'reload_to_login_median': median(to_login), 'reload_to_login_max': max(to_login) if to_login else None,
        'reload_to_follow_median': median(to_follow), 'reload_to_follow_max': max(to_follow) if to_follow else None,
        'hosts': hosts,
    }


def bench_e2e(agent_path, variant, n, client_timeout=1.0):
    spec = e2e_variant(variant)
    template, admin = spec['template'], spec['admin']
    log(f'e2e {variant}: rig with {n} app servers, repmgrd on both nodes')
    br = BenchRig(agent_path, n)
    out = {'variant': variant, 'n': n, 'client_timeout': client_timeout, 'notify': template, 'admin': admin,
           'promote_wait': spec['wait'], 'hung': spec['hung'], 'watch': spec['watch']}
    watchers = {}
    if spec['wait']:   # before up(): every repmgr.conf the rig writes gets it
        br.r.repmgr_conf_extra = promote_wait_conf(br.r)
        out['repmgr_conf_extra'] = br.r.repmgr_conf_extra(2)
    try:
        br.up()
        if n > E2E_SERVERS:
            raise_max_connections(br, n + 60)
        if template:
            template = template.replace('{home}', rig.PG_HOME)
        log_dir = os.path.join(br.work, 'e2e')
        rig.make_dir(log_dir, 0o755, rig.POSTGRES)
        wrapper = rig.write_file(os.path.join(br.work, 'notify-wrap'), WRAPPER.format(log_dir=log_dir), 0o755)
        if admin:      # before the initial deploy, so the agent knows the consoles from the start
            br.setup_admin_console()
            br.set_admin(True)
        if template:
            br.r.set_event_notification(f'{wrapper} {template}')
            first = agent(br, n, 'updated')
            if first.get('lost'):
                raise rig.RigError(f'initial deploy failed: {first}')
        if spec['watch']:   # node1's pushes (all current), node2's keeps its sessions warm
            watchers = {node: start_watcher(br, node) for node in (1, 2)}
            wait_servers(watchers[1], n, 'updated|current')
            wait_servers(watchers[2], n, 'session warm')
        wait_replayed(br)
        for node in (1, 2):
            br.r.node[node].start_repmgrd()
        before = {i: br.r.app[i].reaches() for i in (1, n)} if template else {}
        logins = sshd_logins(br, n)
        t0_real, writable, follows, last = asyncio.run(e2e_poll(br, range(1, n + 1), follow=bool(template),
                                                                hang=spec['hung'], client_timeout=client_timeout))
        out.update(writable=writable, before=str(before))
        if spec['hung']:   # what was stopped: walsender, backends (repmgrd's), checkpointer...
            out['hung_processes'] = br.hung[1].titles
        if template:
            missing = [i for i in range(1, n + 1) if i not in follows]
            if missing:   # why: the poller's last answer, psql's answer now, PgBouncer's log
                out['stuck'] = {i: {'poller': last.get(i), 'psql now': str(br.r.app[i].reaches()),
                                    'pgbouncer log': rig.tail(br.r.app[i].pgbouncer_log, 8)}
                                for i in missing[:3]}
                log(f'  not following: {missing}: {json.dumps(out["stuck"], indent=1)}')
            out.update(all_follow=None if missing else max(follows.values()),
                       follow_median=median(follows.values()), not_following=len(missing))
            if writable is not None and not missing:
                out['gap'] = out['all_follow'] - writable
        wait_failover_done(br, t0_real)
        if template:
            wait_notifications_quiet(log_dir)
            out['notifications'] = notification_timeline(log_dir, t0_real)
            out.update(pgbouncer_timeline(br, n, admin, t0_real, follows))
            if follows:   # the last PgBouncer to follow: its own account of the failover
                slowest = max(follows, key=follows.get)
                out['slowest_pgbouncer'] = {'app': slowest, 'log': rig.tail(br.r.app[slowest].pgbouncer_log, 30)}
            agent_output = rig.read_text(os.path.join(log_dir, 'agent-output.log')) or ''
            out['agent_output_tail'] = agent_output[-3000:]
            out['agent_on_node1'] = agent_on_node1(agent_output)
            out['logins_during_failover'] = sshd_logins(br, n) - logins
        if watchers:
            text = watchers[2].text()
            out['hook_handed_over'] = re.findall(r'a hook handed over (\S+)', text)
            out['rounds_at_once'] = 'rounds at once' in text
            out['watch_log_node2'] = text[-3000:]
            out['watch_log_node1'] = watchers[1].text()[-1500:]
            if spec['hung'] and not any(': unreachable' in line for line in out['agent_on_node1']):
                out['error'] = f'the agent never called the hung node1 unreachable: {out["agent_on_node1"]}'
        # Only now, with every notification run done (they too met the hung node), is node1
        # killed: from here on it is dead, as after kill -9, and the rest asks node2.
        br.end_hangs()
        events = repmgr_events(br, t0_real)
        out['events_after_kill'] = events
        promoted = [e['at'] for e in events if e['event'] == 'standby_promote' and e['node'] == 2]
        out['standby_promote_event'] = promoted[0] if promoted else None
        if promoted and writable is not None:
            out['promote_event_after_writable'] = promoted[0] - writable
        # node2's own view: when PostgreSQL got the promote request and when it was ready
        pg_log = os.path.join(br.r.node[2].dir, 'log', 'postgresql.log')
        for key, pattern in (('promote_request', r'^LOG:  received promote request'),
                             ('pg_ready', r'^LOG:  database system is ready to accept connections')):
            times = log_times(pg_log, pattern, t0_real)
            out[key] = times[0] if times else None
        node2_log = rig.read_text(br.r.node[2].log) or ''
        out['promote_method'] = promote_method(node2_log)
        if spec['wait'] and 'pg_ctl -w' not in (out['promote_method'] or '') and not out.get('error'):
            out['error'] = f'service_promote_command not used: promoted using {out["promote_method"]}'
        out['repmgr_log_node2'] = rig.tail(br.r.node[2].log, 40)
        out['repmgr_events'] = br.sql("SELECT event, successful, to_char(event_timestamp, 'HH24:MI:SS.MS') FROM "
                                      "repmgr.events WHERE node_id = 2 ORDER BY event_timestamp DESC LIMIT 6")
        log(f'  e2e {variant}: writable {fmt(writable)}s, standby_promote {fmt(out["standby_promote_event"])}s '
            f'({out["promote_method"]}), every PgBouncer {fmt(out.get("all_follow"))}s, gap {fmt(out.get("gap"))}s'
            + (f', logins {out.get("logins_during_failover")}, hook handed over {out.get("hook_handed_over")}'
               if watchers else ''))
    except Exception as e:
        out['error'] = f'{type(e).__name__}: {e}'
        log(f'  e2e {variant} failed: {traceback.format_exc()}')
    finally:
        for w in watchers.values():
            w.stop()
        br.down()
    return out



# ---- warm sessions (pgdeploy watch) ------------------------------------------------

WATCH_INTERVAL = 1.0
WARM_METRICS_PORT = 9187       # the watcher's --metrics-listen in the warm push measurement
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))   # loopback, whatever *_proxy says


def start_watcher(br, node, metrics_port=None):
    """`pgdeploy watch` on one node (the rig's Watcher: the per-node lock file, so the hook socket
    beside it, is the one WATCH_HOOK names)."""
    args = ['--metrics-listen', f'127.0.0.1:{metrics_port}'] if metrics_port else []
    return br.r.node[node].start_watcher(args=args, interval=WATCH_INTERVAL)


def wait_servers(watcher, n, state, timeout=60):
    """Until the watcher's log has said `appI <addr>: <state>` (a regex) for every app server 1..n."""
    def seen():
        return {int(m) for m in re.findall(r'app(\d+) \S+: (?:' + state + ')', watcher.text())} \
            >= set(range(1, n + 1))
    rig.wait_for(seen, timeout, f'every app server {state} ({watcher.log_path})', 0.2)


def sshd_logins(br, n):
    """SSH logins accepted so far by app servers 1..n (their sshd logs, LogLevel VERBOSE)."""
    return sum((rig.read_text(br.r.app[i].sshd_log) or '').count('Accepted publickey') for i in range(1, n + 1))


def raise_max_connections(br, value):
    """max_connections = value on both nodes (node.conf, outside the data directory), standby
    first (a standby must not have fewer than its primary). The rig's 60 do not hold N > 30
    PgBouncers each with its server connection to node2, plus repmgr and the watchers."""
    for n in (2, 1):
        node = br.r.node[n]
        with open(os.path.join(node.dir, 'node.conf'), 'a') as f:
            f.write(f'max_connections = {value}   # pgdeploy bench: N app servers\n')
        node.stop('fast')
        node.start()


def wait_replayed(br, timeout=30):
    """Until node2 has replayed everything node1 wrote so far: after a restart (raise_max_connections)
    its walreceiver reconnects only after wal_retrieve_retry_interval, and a kill before that would
    promote a standby without the last catalog changes (admin_conninfo...)."""
    lsn = br.r.node[1].psql('SELECT pg_current_wal_lsn()')[0][0]
    rig.wait_for(lambda: br.r.node[2].psql(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'") == [['t']],
                 timeout, f'node2 to replay up to {lsn}', 0.1)


def watch_metrics(port):
    """round count, round seconds sum and pushes from the watcher's /metrics; None if it does not answer."""
    try:
        with NO_PROXY.open(f'http://127.0.0.1:{port}/metrics', timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return None
    got = {}
    for key, name in (('rounds', 'pgdeploy_watch_round_duration_seconds_count'),
                      ('sum', 'pgdeploy_watch_round_duration_seconds_sum'),
                      ('pushes', 'pgdeploy_watch_pushes_total{result="updated"}')):
        m = re.search(r'^' + re.escape(name) + r' (\S+)$', text, re.M)
        if not m:
            return None
        got[key] = float(m.group(1))
    got['current'] = re.search(r'^pgdeploy_watch_app_servers\{state="current"\} (\S+)$', text, re.M)
    got['current'] = float(got['current'].group(1)) if got['current'] else 0
    return got


def app_cpu(br, n):
    """CPU seconds (user + system, with the children each process reaped) of every process on app
    servers 1..n now: sshd, the resident program (its forked children, reaped, included),
    PgBouncer. A process that ended unreaped there in between is missed (the guardian, if any)."""
    tick = os.sysconf('SC_CLK_TCK')
    total = 0
    for i in range(1, n + 1):
        for pid in br.r.app[i].ns.pids():
            try:
                with open(f'/proc/{pid}/stat') as f:
                    fields = f.read().rsplit(')', 1)[1].split()
            except OSError:
                continue
            total += sum(int(x) for x in fields[11:15])   # utime stime cutime cstime
    return total / tick


def warm_push(br, n, port, timeout=30):
    """CREATE DATABASE on the primary, then sample the watcher's metrics every 10 ms until it has
    pushed to all n servers: 'wall' is the duration of the round that pushed (its sum delta, when
    the round was seen alone: rounds are WATCH_INTERVAL apart, far more than the sampling)."""
    idle = []                  # first one idle round (no change to push), for what a round costs anyway
    start = watch_metrics(port)
    until = time.monotonic() + 5
    while time.monotonic() < until and not idle:
        time.sleep(0.01)
        cur = watch_metrics(port)
        if cur and cur['rounds'] == start['rounds'] + 1 and cur['pushes'] == start['pushes']:
            idle.append(cur['sum'] - start['sum'])
        elif cur and cur['rounds'] != start['rounds']:
            start = cur
    before = prev = watch_metrics(port)
    cpu_before = app_cpu(br, n)
    br.counter += 1
    db = f'bench_warm_{br.counter}'
    br.sql(f'CREATE DATABASE {db}')
    until = time.monotonic() + timeout
    rounds = []
    while time.monotonic() < until:
        time.sleep(0.01)
        cur = watch_metrics(port)
        if cur is None:
            continue
        if cur['rounds'] > prev['rounds']:
            rounds.append({'rounds': cur['rounds'] - prev['rounds'], 'seconds': cur['sum'] - prev['sum'],
                           'pushes': cur['pushes'] - prev['pushes']})
        prev = cur
        if cur['pushes'] - before['pushes'] >= n:
            break
    cpu = app_cpu(br, n) - cpu_before
    pushed = [r for r in rounds if r['pushes']]
    idle += [r['seconds'] for r in rounds if not r['pushes'] and r['rounds'] == 1]
    out = {'rounds': rounds, 'pushes': prev['pushes'] - before['pushes'], 'idle': median(idle),
           'app_cpu_ms': 1000 * cpu / n,
           'lost': sum(1 for i in range(1, n + 1) if not br.r.app[i].ini_entry(db))}
    if len(pushed) == 1 and pushed[0]['rounds'] == 1 and pushed[0]['pushes'] >= n:
        out['wall'] = pushed[0]['seconds']
    else:
        out.update(wall=None, error=f'no single round pushed to all {n}: {pushed}')
    return out


def bench_warm(br, n, repeat):
    """One watcher on the primary, converged (sessions warm): the ssh floor (part 1's `ssh true`)
    against a round pushing a change to all n servers over the warm sessions."""
    log(f'warm push N={n}: {repeat} repetitions')
    br.enable(n)
    br.set_admin(False)
    res = {}
    w = start_watcher(br, 1, metrics_port=WARM_METRICS_PORT)
    try:
        try:
            rig.wait_for(lambda: (watch_metrics(WARM_METRICS_PORT) or {}).get('current') == n, 60,
                         f'the watcher: all {n} current', 0.2)
        except rig.RigError as e:
            raise rig.RigError(f'{e}; metrics {watch_metrics(WARM_METRICS_PORT)}; its log:\n{w.text()[-2000:]}')
        res['logins_to_converge'] = sshd_logins(br, n)
        addrs = [br.r.app[i].addr for i in range(1, n + 1)]
        for admin in (False, True):   # reload with sudo service, then through the admin console
            br.set_admin(admin)
            key = 'push_admin' if admin else 'push'
            for rep in range(repeat):
                if not admin:
                    record(res, 'floor', parallel_ssh(br, addrs, 'true'))
                logins = sshd_logins(br, n)
                record(res, key, warm_push(br, n, WARM_METRICS_PORT))
                res[key][-1]['logins'] = sshd_logins(br, n) - logins
                if admin:   # pgdeploy check, by the watcher and over new logins, against a re-run
                    record(res, 'rerun_admin', agent(br, n, 'unchanged'))
                    record(res, 'check_admin', agent_check(br, n))
                    logins = sshd_logins(br, n)
                    record(res, 'check_watcher', agent_check(br, n, ['--lock-file', w.lock_file], 'watcher'))
                    res['check_watcher'][-1]['logins'] = sshd_logins(br, n) - logins
                log(f'  warm N={n} rep {rep + 1}: floor {res["floor"][-1]["wall"]:.3f}s {key} '
                    f'{fmt(res[key][-1]["wall"], 3)}s idle round {fmt(res[key][-1]["idle"], 3)}s '
                    f'(logins {res[key][-1]["logins"]})')
        br.set_admin(False)
        res['watch_log_tail'] = w.text()[-2000:]
    finally:
        w.stop()
    return res


# --------------------------------------------------------------------------
# Report

def summarize(results, sizes, info, args):
    lines = []
    lines.append(f'machine: {info["nproc"]} CPUs, {info["cpu_model"]}, Linux {info["kernel"]}, '
                 f'load average at start {", ".join(f"{x:.2f}" for x in info["loadavg_start"])}'
                 + (f', at end {", ".join(f"{x:.2f}" for x in info["loadavg_end"])}' if 'loadavg_end' in info else ''))
    lines.append(f'agent: {info["agent"]}; repo {info["git"]}')
    lines.append(f'{info["openssh"]}; {info["pgbouncer"]}; medians of {args.repeat} runs; wall times in s')
    sz = results.get('sizes', {})
    if sz:
        rows, rows2 = [], []
        for n in sizes:
            r = sz.get(str(n))
            if not r:
                continue
            m = {k: median(x['wall'] for x in v) for k, v in r.items()}
            cpu = median(x.get('cpu') for x in r['agent_sudo'])
            rss = max((x.get('rss_kb') or 0) for k in ('agent_sudo', 'agent_admin', 'rerun') for x in r[k])
            lost_full = sum(x.get('lost', 0) for k in ('agent_sudo', 'agent_admin') for x in r[k])
            total_full = n * (len(r['agent_sudo']) + len(r['agent_admin']))
            rerun_bad = sum(x.get('lost', 0) for k in ('rerun', 'rerun_admin') for x in r[k])
            ssh_fail = sum(x.get('failed', 0) for k in ('floor', 'peer_sudo', 'peer_admin') for x in r[k])
            rows.append([n, fmt(m['floor']), fmt(m['peer_sudo']), fmt(m['agent_sudo']),
                         fmt(m['rerun']), fmt(m['peer_admin']), fmt(m['agent_admin']),
                         fmt(median(x.get('host_median') for x in r['agent_sudo'])),
                         fmt(median(x.get('host_max') for x in r['agent_sudo']))])
            rows2.append([n, fmt(ratio(m['agent_sudo'], m['floor'])), fmt(ratio(m['agent_sudo'], m['peer_sudo'])),
                          fmt(ratio(m['agent_admin'], m['floor'])), fmt(ratio(m['agent_admin'], m['peer_admin'])),
                          fmt(ratio(m['rerun'], m['agent_sudo'])),
                          fmt(cpu * 1000 / n if cpu is not None else None, 1),
                          fmt(median(x['client_cpu'] for x in r['floor']) * 1000 / n, 1),
                          fmt(rss / 1024, 1), f'{lost_full}/{total_full}', rerun_bad, ssh_fail])
        lines.append('\nWall time (s), medians:')
        lines.append(table(['N', 'floor', 'peer sudo', 'agent sudo', 're-run', 'peer admin', 'agent admin',
                            'host med', 'host max'], rows))
        lines.append('\nRatios, cost and correctness:')
        lines.append(table(['N', 'sudo a/floor', 'sudo a/peer', 'admin a/floor', 'admin a/peer',
                            're-run/full', 'agent CPU ms/host', 'ssh CPU ms/host', 'agent RSS MB',
                            'lost updates', 're-run not unchanged', 'ssh failures'], rows2))
        checks = []
        for n in sizes:
            r = sz.get(str(n)) or {}
            if r.get('check') and r.get('check_admin'):
                m = {k: median(x['wall'] for x in r[k]) for k in ('rerun', 'check', 'rerun_admin', 'check_admin')}
                bad = sum(x.get('lost', 0) for k in ('check', 'check_admin') for x in r[k])
                checks.append([n, fmt(m['rerun']), fmt(m['check']), fmt(ratio(m['check'], m['rerun'])),
                               fmt(m['rerun_admin']), fmt(m['check_admin']),
                               fmt(ratio(m['check_admin'], m['rerun_admin'])), bad])
        if checks:
            lines.append('\npgdeploy check against a deploy re-run (nothing to change), medians:')
            lines.append(table(['N', 're-run (files only)', 'check (files only)', 'check/re-run',
                                're-run (admin console)', 'check (admin console)', 'check/re-run',
                                'servers not OK'], checks))
        for n in sizes:
            r = sz.get(str(n)) or {}
            bd = [(k.split(':', 1)[1], median(x['wall'] for x in v)) for k, v in r.items()
                  if k.startswith('breakdown:')]
            if bd:
                lines.append(f'\nRemote work, piece by piece (N = {n} parallel OpenSSH logins running only this):')
                lines.append(table(['remote command', 'wall s', 'minus true'],
                                   [[k, fmt(v), fmt(v - bd[0][1])] for k, v in bd]))
    dry = results.get('dry_run')
    if dry and dry.get('cpu') is not None:
        lines.append(f'\nagent --dry-run with {dry.get("n", "?")} servers enabled (catalog, proof, '
                     f'rendering, every server asked read only): {fmt(dry["seconds"], 3)} s, CPU {fmt(dry["cpu"] * 1000, 1)} ms, '
                     f'RSS {fmt(dry["rss_kb"] / 1024, 1)} MB')
    lat = results.get('latency')
    if lat:
        d = args.latency_ms
        rows = []
        for n in args.latency_sizes:
            get = lambda what, delay: median(x['wall'] for x in lat.get(f'{n}:{delay}:{what}', []))
            row = [n]
            for what in ('ssh', 'agent', 'rerun'):
                t0, td = get(what, 0), get(what, d)
                row += [fmt(td), fmt(ratio(td, 2 * d / 1000)), fmt(ratio((td or 0) - (t0 or 0), 2 * d / 1000) if td else None)]
            row.append(fmt(ratio(get('agent', d), 2 * d / 1000) - ratio(get('ssh', d), 2 * d / 1000)
                           if get('agent', d) and get('ssh', d) else None))
            rows.append(row)
        lines.append(f'\nRound trips with {d} ms added each way (RTT {2 * d} ms); RT = wall / RTT, '
                     f'extra RT = (wall - wall through the same proxy at 0 ms) / RTT:')
        lines.append(table(['N', 'ssh true s', 'RT', 'extra RT', 'agent s', 'RT', 'extra RT',
                            're-run s', 'RT', 'extra RT', 'agent RT - ssh RT'], rows))
    e2e = results.get('e2e')
    if e2e:
        rows, rows2 = [], []
        for x in e2e:
            agent_wired = bool(x.get('notify'))
            rows.append([x['variant'], x.get('n', E2E_SERVERS), fmt(x.get('writable')), fmt(x.get('all_follow')),
                         fmt(x.get('gap')), fmt(x.get('follow_median')),
                         fmt(x.get('first_reload')), fmt(x.get('last_reload')),
                         fmt(x.get('pgbouncer_to_node2_max')),
                         x.get('not_following', '-') if agent_wired else '-',
                         (x.get('error') or '')[:60]])
            method = x.get('promote_method') or '-'
            rows2.append([x['variant'], x.get('n', E2E_SERVERS), 'pg_ctl -w' if 'pg_ctl -w' in method else method[:30],
                          fmt(x.get('promote_request')), fmt(x.get('standby_promote_event')),
                          fmt(x.get('promote_event_after_writable')),
                          ('console' if x.get('admin') else 'sudo') if agent_wired else '-',
                          fmt(x.get('reload_to_login_median')), fmt(x.get('reload_to_login_max')),
                          fmt(x.get('reload_to_follow_max'))])
        lines.append(f'\nEnd to end (kill -9 of the primary; {HUNG_SUFFIX}: the primary hangs, SIGSTOP of it and '
                     f'all its processes; repmgrd failover, N app servers; poller clients given '
                     f'{args.e2e_client_timeout:g} s each), s after the kill or stop:')
        lines.append(table(['variant', 'N', 'node2 writable', 'every PgBouncer', 'gap', 'median PgBouncer',
                            'first reload', 'last reload', 'last server login', 'not following', 'error'], rows))
        lines.append('\nPromotion and reloads (promoted with: from node2\'s repmgr log; promote request: node2\'s '
                     'PostgreSQL log; standby_promote: its repmgr.events row, s after the kill, and minus node2 '
                     'writable; reload->login / follow: per PgBouncer, s from its first reload after the kill to '
                     'its first server login to node2 / first client answer from node2):')
        lines.append(table(['variant', 'N', 'promoted with', 'promote request', 'standby_promote', '- writable',
                            'reload by', 'reload->login med', 'reload->login max', 'reload->follow max'], rows2))
        notes = []
        for x in e2e:
            for ev in x.get('notifications', []):
                notes.append([x['variant'], ev['event'], ev['port'], fmt(ev['start']),
                              fmt(ev['start'] - x['writable'] if x.get('writable') is not None else None),
                              fmt(ev['end']), fmt(ev['seconds'] * 1000, 0), ev['rc']])
        if notes:
            lines.append('\nevent_notification_command runs (s after the kill; start - writable: after node2 '
                         'became writable):')
            lines.append(table(['variant', 'event', 'node port', 'start', 'start - writable', 'end', 'ms', 'exit'],
                               notes))
        watched = [[x['variant'], x.get('n', E2E_SERVERS), fmt(x.get('gap')), x.get('logins_during_failover', '-'),
                    ', '.join(x.get('hook_handed_over') or []) or 'no', 'yes' if x.get('rounds_at_once') else 'no',
                    fmt(x.get('last_reload') - x['writable'] if x.get('last_reload') is not None
                        and x.get('writable') is not None else None),
                    fmt(x.get('reload_to_login_median')), fmt(x.get('failed_to_login_median')),
                    fmt(x.get('failed_to_login_min'))]
                   for x in e2e if x.get('watch')]
        if watched:
            lines.append('\nWith watchers (sshd logins: "Accepted publickey" on all app servers from the kill until '
                         'repmgr\'s notifications ended; hook handed over: events in node2\'s watcher log):')
            lines.append(table(['variant', 'N', 'gap', 'sshd logins', 'hook handed over', 'rounds at once',
                                'last reload - writable', 'reload->login med', 'failed->login med',
                                'failed->login min'], watched))
        said = [[x['variant'], line] for x in e2e if x.get('hung') for line in x.get('agent_on_node1', [])]
        if said:
            lines.append(f'\nWhat the agent said about the hung node1 ({HUNG_SUFFIX} variants, each distinct line once):')
            lines.append(table(['variant', 'agent output'], said))
    warm = results.get('warm')
    if warm:
        rows = []
        for n, r in sorted(warm.items(), key=lambda kv: int(kv[0])):
            floor = median(x['wall'] for x in r.get('floor', []))
            push = median(x['wall'] for x in r.get('push', []))
            admin = median(x['wall'] for x in r.get('push_admin', []))
            pushes = r.get('push', []) + r.get('push_admin', [])
            rows.append([n, fmt(floor, 3), fmt(push, 3), fmt(ratio(push, floor)), fmt(admin, 3),
                         fmt(ratio(admin, floor)),
                         fmt(median(x.get('app_cpu_ms') for x in r.get('push_admin', [])), 1),
                         fmt(median(x.get('idle') for x in pushes), 3),
                         sum(x.get('logins', 0) for x in pushes), sum(x.get('lost', 0) for x in pushes)])
        lines.append(f'\nA push over warm sessions (pgdeploy watch on node1, a round pushing a new database to every '
                     f'server, from its round-duration metric) against the ssh floor (`ssh true`), medians of '
                     f'{args.repeat}, s:')
        lines.append(table(['N', 'ssh floor', 'push (sudo)', 'push/floor', 'push (admin)', 'push/floor',
                            'app CPU ms/server (admin)', 'idle round', 'sshd logins', 'lost'], rows))
        rows = []
        for n, r in sorted(warm.items(), key=lambda kv: int(kv[0])):
            if not (r.get('rerun_admin') and r.get('check_admin') and r.get('check_watcher')):
                continue
            m = {k: median(x['wall'] for x in r[k]) for k in ('rerun_admin', 'check_admin', 'check_watcher')}
            checks = r['check_admin'] + r['check_watcher']
            rows.append([n, fmt(m['rerun_admin']), fmt(m['check_admin']), fmt(ratio(m['check_admin'], m['rerun_admin'])),
                         fmt(m['check_watcher']), fmt(ratio(m['check_watcher'], m['rerun_admin'])),
                         sum(x.get('logins', 0) for x in r['check_watcher']),
                         sum(1 for x in checks if x.get('error')) + sum(x.get('lost', 0) for x in checks)])
        if rows:
            lines.append('\npgdeploy check with the watcher running (admin console), against a deploy re-run '
                         '(nothing to change), medians, s: over new logins, and run by the watcher over its '
                         'warm sessions (--lock-file of the watcher):')
            lines.append(table(['N', 're-run', 'check (logins)', 'check/re-run', 'check (watcher)',
                                'check/re-run', 'sshd logins', 'not OK or not as asked'], rows))
    return '\n'.join(lines)


def main():
    p = argparse.ArgumentParser(description='pgdeploy benchmark (see bench/README.md)')
    p.add_argument('--agent', default=os.path.join(REPO, 'build', 'pgdeploy'))
    p.add_argument('--sizes', default='1,10,30,100', help='numbers of app servers (default 1,10,30,100)')
    p.add_argument('--repeat', type=int, default=5)
    p.add_argument('--latency-ms', type=float, default=25, help='added delay each way; 0 skips the round trip part')
    p.add_argument('--latency-sizes', default='1,10')
    p.add_argument('--e2e', action='store_true', help='also the end-to-end failover measurement')
    p.add_argument('--e2e-repeat', type=int, default=2)
    p.add_argument('--e2e-variants', default=E2E_DEFAULT,
                   help=f'of {", ".join(E2E_VARIANTS)}, each also with {", ".join(SUFFIXES)} '
                        f'(default {E2E_DEFAULT})')
    p.add_argument('--e2e-sizes', default=str(E2E_SERVERS),
                   help=f'numbers of app servers of the end-to-end runs (default {E2E_SERVERS})')
    p.add_argument('--e2e-client-timeout', type=float, default=1.0,
                   help='s each poller client through a PgBouncer is given (default 1)')
    p.add_argument('--warm-sizes', default='',
                   help='numbers of app servers of the warm push against the ssh floor (pgdeploy watch), '
                        'e.g. 10,30,100; default: none')
    p.add_argument('--no-breakdown', action='store_true', help='skip the remote-work breakdown at N = 10')
    p.add_argument('--json-out', default=None, help='default: /tmp/pgdeploy-bench-<time>.json')
    args = p.parse_args()
    args.sizes = sorted({int(x) for x in args.sizes.split(',') if x})
    args.latency_sizes = sorted({int(x) for x in args.latency_sizes.split(',') if x}) if args.latency_ms else []
    args.json_out = args.json_out or f'/tmp/pgdeploy-bench-{time.strftime("%Y%m%d-%H%M%S")}.json'
    args.e2e_variants = [v for v in args.e2e_variants.split(',') if v]
    args.e2e_sizes = [int(x) for x in args.e2e_sizes.split(',') if x]
    args.warm_sizes = sorted({int(x) for x in args.warm_sizes.split(',') if x})
    unknown = [v for v in args.e2e_variants if e2e_variant(v) is None]
    if args.e2e and unknown:   # now, not after part 1 has run for minutes
        p.error(f'unknown e2e variant(s) {", ".join(unknown)}; known: {", ".join(E2E_VARIANTS)}, '
                f'each also with {", ".join(SUFFIXES)}')
    enter_private_netns()

    global rig
    sys.path.insert(0, os.path.join(REPO, 'tests', 'rig'))
    sys.path.insert(0, HERE)
    import rig as rig_module
    rig = rig_module

    if not os.path.isfile(args.agent):
        print(f'bench: no agent binary at {args.agent}', file=sys.stderr)
        return 0
    # A private copy: others may rebuild build/pgdeploy while we measure.
    snapshot_dir = tempfile.mkdtemp(prefix='pgdeploy-bench-')
    agent_path = shutil.copy2(args.agent, os.path.join(snapshot_dir, 'pgdeploy'))
    info = machine_info(agent_path)
    results = {'machine': info, 'args': {k: v for k, v in vars(args).items()}, 'sizes': {}}
    print(f'pgdeploy benchmark: {info["nproc"]} CPUs ({info["cpu_model"]}), agent {info["agent"]}', flush=True)

    def save():
        with open(args.json_out, 'w') as f:
            json.dump(results, f, indent=1, default=str)

    try:
        big = max(args.sizes + args.latency_sizes + args.warm_sizes, default=0)
        if big:
            br = BenchRig(agent_path, big)
            try:
                log(f'rig with {big} app servers')
                br.up()
                added = br.setup_admin_console()
                log(f'admin_conninfo column {"added" if added else "present"}; warm-up deploy')
                br.enable(big)
                warm = agent(br, big, 'updated')
                if warm.get('lost'):
                    log(f'warm-up deploy: {warm}')
                results['warmup'] = warm
                dry = br.launch([{'argv': br.agent_argv(['--dry-run'])}])['jobs'][0]
                # --dry-run --json: one JSON document (older agents printed the include file first)
                text = dry['stdout']
                at = 0 if text.startswith('{') else text.find('\n{') + 1
                try:
                    rep = json.JSONDecoder().raw_decode(text[at:])[0] if at >= 0 else {}
                except ValueError:
                    rep = {}
                results['dry_run'] = {'n': big, 'rc': dry['rc'], 'seconds': rep.get('seconds'),
                                      'cpu': rep.get('cpu_seconds', dry['user'] + dry['sys']),
                                      'rss_kb': rep.get('max_rss_kb', dry['maxrss_kb'])}
                for n in args.sizes:
                    results['sizes'][str(n)] = bench_size(br, n, args.repeat,
                                                          breakdown=(n == 10 and not args.no_breakdown))
                    save()
                if args.latency_sizes:
                    log(f'round trips: {args.latency_ms} ms each way, N in {args.latency_sizes}')
                    results['latency'] = bench_latency(br, args.latency_ms, args.latency_sizes, args.repeat)
                    save()
                results['warm'] = {}
                for n in args.warm_sizes:
                    results['warm'][str(n)] = bench_warm(br, n, args.repeat)
                    save()
            finally:
                br.down()
        if args.e2e:
            results['e2e'] = []
            for n in args.e2e_sizes:
                for variant in args.e2e_variants:
                    # without an agent there is nothing to repeat for: repmgr alone, once
                    for rep in range(1 if e2e_variant(variant)['template'] is None else args.e2e_repeat):
                        results['e2e'].append(bench_e2e(agent_path, variant, n, args.e2e_client_timeout))
                        save()
    except BaseException as e:
        results['error'] = f'{type(e).__name__}: {e}'
        log(f'benchmark stopped: {traceback.format_exc()}')
    finally:
        shutil.rmtree(snapshot_dir, ignore_errors=True)
    info['loadavg_end'] = os.getloadavg()
    save()
    print(summarize(results, args.sizes, info, args))
    if results.get('error'):
        print(f'\nbenchmark incomplete: {results["error"]}')
    print(f'\nraw results: {args.json_out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
