#!/usr/bin/python3
"""Whole-machine CPU profile of a cold push, by kind of process (issue 26; bench/README.md).

    /usr/bin/python3 bench/profile_push.py --agent build/pgdeploy --n 30 --repeat 3 [--before OTHER]

Runs bench/run.py's rig and its measurements (the floor, the peer, a cold deploy with sudo and
with the admin console, the re-run, `pgdeploy check`) and, around each one, listens to the
kernel's per-task accounting at exit (taskstats over generic netlink: exact user+sys time of
every thread that ends, in microseconds; no bpf, no perf). Each exited task is traced up its
parents to a process that was alive when the measurement started: only tasks under the rig's
own processes (the app servers' sshd and PgBouncer, PostgreSQL on the DB host) or under the
launcher that timed the command are counted, so other work on a shared machine is left out.
Processes that live through the measurement (PgBouncer, the sshd listeners, the postmaster)
are measured by their /proc/<pid>/task/*/schedstat run time before and after.

Prints CPU per app server (ms, medians of --repeat runs) by kind of process and the wall time.
"""

import argparse
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402  (bench/run.py: the rig and the measurements)

NETLINK_GENERIC = 16
GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME = 0x10, 3, 1, 2
TASKSTATS_CMD_GET, TASKSTATS_CMD_ATTR_REGISTER_CPUMASK = 1, 3
TASKSTATS_TYPE_PID, TASKSTATS_TYPE_STATS, TASKSTATS_TYPE_AGGR_PID = 1, 3, 4
SOCKET_ENV = 'PGDEPLOY_PROFILE_SOCKET'
DELAYACCT = '/proc/sys/kernel/task_delayacct'


def attrs(data):
    """Netlink attributes: (type, payload) pairs."""
    at = 0
    while at + 4 <= len(data):
        length, kind = struct.unpack_from('HH', data, at)
        if length < 4:
            break
        yield kind & 0x3fff, data[at + 4:at + length]
        at += (length + 3) & ~3


def attr(kind, payload):
    raw = struct.pack('HH', 4 + len(payload), kind) + payload
    return raw + b'\0' * (-len(raw) % 4)


def genl_message(family, cmd, payload, seq):
    body = struct.pack('BBH', cmd, 1, 0) + payload
    return struct.pack('IHHII', 16 + len(body), family, 1 | 4, seq, 0) + body   # NLM_F_REQUEST|ACK


class ExitListener:
    """Every task's exit record (struct taskstats) while registered, read on a thread."""

    def __init__(self):
        # The kernel sends exit records to listeners in init's network namespace only: main() made
        # the socket there, before it entered the private one (a socket keeps its namespace).
        self.sock = socket.socket(fileno=int(os.environ[SOCKET_ENV]))
        self.sock.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)   # SO_RCVBUFFORCE: no record lost
        self.sock.bind((0, 0))
        self.sock.send(genl_message(GENL_ID_CTRL, CTRL_CMD_GETFAMILY,
                                    attr(CTRL_ATTR_FAMILY_NAME, b'TASKSTATS\0'), 1))
        reply = self.sock.recv(65536)
        self.family = None
        for kind, value in attrs(reply[20:]):
            if kind == CTRL_ATTR_FAMILY_ID:
                self.family = struct.unpack('H', value[:2])[0]
        if self.family is None:
            raise SystemExit('profile: the kernel has no taskstats (CONFIG_TASKSTATS)')
        cpus = f'0-{os.cpu_count() - 1}'.encode() + b'\0'
        self.sock.send(genl_message(self.family, TASKSTATS_CMD_GET,
                                    attr(TASKSTATS_CMD_ATTR_REGISTER_CPUMASK, cpus), 2))
        self.records, self.lost, self.on = [], False, True
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()
        # A socket made in another network namespace (under `unshare --net`) hears nothing.
        probe = subprocess.Popen(['true'])
        probe.wait()
        for _ in range(50):
            if any(r['tid'] == probe.pid for r in self.records):
                return
            time.sleep(0.02)
        raise SystemExit('profile: no exit records from the kernel: run this from the host\'s network '
                         'namespace (it enters a private one itself), with kernel.task_delayacct available')

    def read(self):
        self.sock.settimeout(0.1)
        while self.on:
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            except OSError:     # ENOBUFS: the kernel dropped records
                self.lost = True
                continue
            at = 0
            while at + 16 <= len(data):
                length, kind = struct.unpack_from('IH', data, at)
                if kind == self.family:
                    self.parse(data[at + 20:at + length])
                at += (length + 3) & ~3

    def parse(self, payload):
        for kind, value in attrs(payload):
            if kind != TASKSTATS_TYPE_AGGR_PID:
                continue
            tid, stats = None, None
            for k, v in attrs(value):
                if k == TASKSTATS_TYPE_PID:
                    tid = struct.unpack('I', v[:4])[0]
                elif k == TASKSTATS_TYPE_STATS:
                    stats = v
            if tid is None or stats is None or len(stats) < 168:
                continue
            comm = stats[80:112].split(b'\0')[0].decode(errors='replace')
            uid, _gid, _pid, ppid = struct.unpack_from('IIII', stats, 120)
            # cpu_run_virtual_total: the scheduler's sum_exec_runtime (ns), exact; ac_utime,
            # ac_stime and cpu_run_real_total are counted in scheduler ticks (4 ms here)
            run_ns = struct.unpack_from('Q', stats, 72)[0]
            self.records.append({'tid': tid, 'ppid': ppid, 'comm': comm, 'uid': uid,
                                 'us': run_ns // 1000})

    def mark(self):
        return len(self.records)

    def close(self):
        self.on = False
        self.thread.join()
        self.sock.close()


def run_time_ns(pid):
    """A live process's CPU so far: the sum of its threads' schedstat run time."""
    total = 0
    try:
        for tid in os.listdir(f'/proc/{pid}/task'):
            with open(f'/proc/{pid}/task/{tid}/schedstat') as f:
                total += int(f.read().split()[0])
    except OSError:
        pass
    return total


def comm_of(pid):
    try:
        with open(f'/proc/{pid}/comm') as f:
            return f.read().strip()
    except OSError:
        return '?'


def rig_pids(br):
    """Every live process of the rig: in its app servers' and DB host's mount namespaces."""
    ids = {a.ns.ns_id for a in br.r.app.values()} | {br.r.dbhost.ns_id}
    table = run.rig.mount_namespaces()
    return {pid for ns in ids for pid in table.get(ns, [])}


UIDS = {}


def kind(rec):
    """What a task was: its command, and for sshd which of its processes (by user)."""
    comm = rec['comm']
    if comm == 'sshd':
        if rec['uid'] == 0:
            return 'sshd (root: connection, monitor)'
        if rec['uid'] == UIDS.get('sshd'):
            return 'sshd (pre-auth, privsep)'
        return 'sshd (session, as the user)'
    if comm in ('bash', 'sh', 'dash'):
        return 'shell (bash/sh)'
    if comm.startswith('postgres') or comm.startswith('postmaster'):
        return 'postgres (backends)'
    return comm


def measure(br, listener, what):
    """Runs what() (a bench measurement) and returns its result and CPU by kind (microseconds)."""
    live = rig_pids(br)
    before = {pid: run_time_ns(pid) for pid in live}
    start = listener.mark()
    result = what()
    time.sleep(0.5)                 # sessions end on the server a little after the clients
    after = {pid: run_time_ns(pid) for pid in live}
    recs = listener.records[start:]
    by_tid = {r['tid']: r for r in recs}
    me = os.getpid()
    cpu, procs = {}, {}
    for r in recs:
        anchor, seen = r, 0
        while anchor['ppid'] in by_tid and seen < 64:
            anchor, seen = by_tid[anchor['ppid']], seen + 1
        top = anchor['ppid']
        # under the rig's live processes, or under the launcher (whose parent is this process)
        if not (top in live or (top == me and anchor is not r)):
            continue
        k = kind(r)
        cpu[k] = cpu.get(k, 0) + r['us']
        procs[k] = procs.get(k, 0) + 1
    for pid in live:
        delta = (after[pid] - before[pid]) // 1000
        if delta > 0:
            k = f'{comm_of(pid)} (alive throughout)'
            cpu[k] = cpu.get(k, 0) + delta
    return result, cpu, procs


def main():
    p = argparse.ArgumentParser(description='CPU of a cold push by kind of process (see bench/README.md)')
    p.add_argument('--agent', default=os.path.join(run.REPO, 'build', 'pgdeploy'))
    p.add_argument('--n', type=int, default=30, help='app servers (default 30)')
    p.add_argument('--repeat', type=int, default=3)
    p.add_argument('--before', metavar='BINARY', help='also every agent measurement with this agent, right '
                   'before the same one with --agent: columns "<measurement> (before)"')
    p.add_argument('--perf', metavar='DIR', help='also `perf record -a -g` each agent run of the first '
                   'repetition into DIR/<measurement>.data, and the agent\'s pids into DIR/<measurement>.pids')
    args = p.parse_args()
    if SOCKET_ENV not in os.environ:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        sock.set_inheritable(True)
        os.environ[SOCKET_ENV] = str(sock.detach())
    run.enter_private_netns(script=os.path.abspath(__file__))
    # taskstats fills its run times only with delay accounting on: on for the run, then as it was
    with open(DELAYACCT) as f:
        was = f.read().strip()
    with open(DELAYACCT, 'w') as f:
        f.write('1')
    try:
        return profile(args)
    finally:
        with open(DELAYACCT, 'w') as f:
            f.write(was)


AGENT_STEPS = ('agent', 're-run', 'check')


def perf_recorded(what, path, listener):
    """what() under a system-wide `perf record`; the agent's thread ids go beside the data."""
    def wrapped():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        start = listener.mark()
        perf = subprocess.Popen(['perf', 'record', '-a', '-g', '-F', '4999', '-q', '-o', path + '.data'],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)    # perf is recording
        try:
            return what()
        finally:
            perf.send_signal(signal.SIGINT)
            perf.wait()
            time.sleep(0.2)
            with open(path + '.pids', 'w') as f:
                f.write(','.join(str(r['tid']) for r in listener.records[start:] if r['comm'] == 'pgdeploy'))
    return wrapped


def profile(args):
    sys.path.insert(0, os.path.join(run.REPO, 'tests', 'rig'))
    import rig as rig_module
    run.rig = rig_module
    import pwd
    UIDS['sshd'] = pwd.getpwnam('sshd').pw_uid
    n = args.n
    import shutil
    import tempfile
    snapshot = tempfile.mkdtemp(prefix='pgdeploy-profile-')
    agent_path = shutil.copy2(args.agent, os.path.join(snapshot, 'pgdeploy'))
    before_path = args.before and shutil.copy2(args.before, os.path.join(snapshot, 'pgdeploy-before'))
    load0 = os.getloadavg()
    br = run.BenchRig(agent_path, n)
    listener = ExitListener()
    cols = ['floor', 'peer sudo', 'agent sudo', 're-run', 'check', 'peer admin', 'agent admin']
    if before_path:
        cols = [c for name in cols for c in ([f'{name} (before)', name] if name.startswith(AGENT_STEPS) else [name])]
    table = {c: [] for c in cols}
    try:
        run.log(f'rig with {n} app servers')
        br.up()
        br.setup_admin_console()
        br.enable(n)
        run.agent(br, n, 'updated')
        addrs = [br.r.app[i].addr for i in range(1, n + 1)]
        for rep in range(args.repeat):
            br.set_admin(False)
            steps = [('floor', None, lambda: run.parallel_ssh(br, addrs, 'true')),
                     ('peer sudo', None, lambda: run.peer(br, n, admin=False)),
                     ('agent sudo', 'alter', lambda: run.agent(br, n, 'updated')),
                     ('re-run', None, lambda: run.agent(br, n, 'unchanged')),
                     ('check', None, lambda: run.agent_check(br, n)),
                     ('peer admin', 'admin', lambda: run.peer(br, n, admin=True)),
                     ('agent admin', 'alter', lambda: run.agent(br, n, 'updated'))]
            if before_path:    # each agent measurement twice: the binary before, then this one
                steps = [(f'{name} (before)' if binary else name, prep, what, binary)
                         for name, prep, what in steps
                         for binary in ([before_path, None] if name.startswith(AGENT_STEPS) else [None])]
            else:
                steps = [(name, prep, what, None) for name, prep, what in steps]
            for name, before, what, binary in steps:
                if before == 'admin':
                    br.set_admin(True)
                if before == 'alter':
                    br.alter_all(n)
                if before_path:
                    br.r.install_agent(binary or agent_path)
                if args.perf and rep == 0 and name.startswith(('agent', 're-run', 'check')):
                    what = perf_recorded(what, os.path.join(args.perf, name.replace(' ', '-')), listener)
                result, cpu, procs = measure(br, listener, what)
                bad = result.get('lost') or result.get('failed') or result.get('error')
                if bad:
                    run.log(f'  {name}: failed: {result.get("errors") or result.get("error")}')
                table[name].append({'wall': result['wall'], 'cpu': cpu, 'procs': procs})
            run.log(f'rep {rep + 1} done')
    finally:
        listener.close()
        br.down()
        shutil.rmtree(snapshot, ignore_errors=True)
    print(report(table, cols, n, load0, os.getloadavg(), listener.lost))
    return 0


def report(table, cols, n, load0, load1, lost):
    kinds = sorted({k for c in cols for run_ in table[c] for k in run_['cpu']})

    def cell(c, k):
        values = [r['cpu'].get(k, 0) / 1000 / n for r in table[c]]
        return run.median(values) if values else 0

    def procs(c, k):
        values = [r['procs'].get(k, 0) / n for r in table[c]]
        return run.median(values) if values else 0
    # the rows that matter first: most CPU in the cold deploy with sudo
    kinds.sort(key=lambda k: -max(cell(c, k) for c in cols))
    rows = []
    for k in kinds:
        if max(cell(c, k) for c in cols) < 0.05:
            continue
        rows.append([k] + [f'{cell(c, k):.2f}' + (f' ({procs(c, k):.0f})' if procs(c, k) >= 0.5 else '')
                           for c in cols])
    totals = [run.median([sum(r['cpu'].values()) / 1000 / n for r in table[c]]) for c in cols]
    rows.append(['**all**'] + [f'**{t:.2f}**' for t in totals])
    rows.append(['wall, s'] + [f'{run.median([r["wall"] for r in table[c]]):.2f}' for c in cols])
    head = (f'CPU per app server, ms (user+sys; in brackets: tasks per server, threads count), N = {n}, '
            f'medians of {len(table[cols[0]])}; load average {load0[0]:.2f} at the start, '
            f'{load1[0]:.2f} at the end' + ('; SOME EXIT RECORDS WERE LOST' if lost else ''))
    lines = ['| ' + ' | '.join(['process'] + cols) + ' |', '|---' + '|---:' * len(cols) + '|']
    lines += ['| ' + ' | '.join(r) + ' |' for r in rows]
    return head + '\n\n' + '\n'.join(lines)


if __name__ == '__main__':
    sys.exit(main())
