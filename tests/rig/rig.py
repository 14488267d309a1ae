#!/usr/bin/python3
"""Loopback integration rig for pgdeploy: a whole deployment on one machine.

* The "DB host" is a private mount namespace in which /var/lib/postgresql is a
  rig directory (so the machine's real postgres home is never touched). The
  PostgreSQL 15 nodes (node n listens on 127.0.0.1:544n), repmgr, repmgrd and
  pgdeploy all run there as postgres with HOME=/var/lib/postgresql.
* App server i (i = 1..N) is 127.0.1.i (past 254: 127.1.k.j, app_addr): a mount namespace in which
  /etc/pgbouncer, /var/lib/postgresql, /etc/sudoers.d and /usr/sbin/service are
  rig files, with its own sshd (port 22) and PgBouncer (port 6432).
* Fault hosts (see faults.py) hang or black-hole SSH connections.

Everything lives under one base directory (default /var/lib/pgdeploy-rig/<id>);
Rig.down() or `rig.py down --dir DIR` kills every process the rig started
(found through its namespaces) and removes the directory.

Library: Rig is the whole deployment (up/down, the DB host's known_hosts, catalog rows,
running the agent, fault hosts); rig.node[n] is a Node (PostgreSQL node n: psql, start,
stop, kill, promote, repmgrd) and rig.app[i] an AppServer (its files, sshd, PgBouncer,
clients through it, its fault and lock), numbered from 1 as their names are:
    with Rig(app_servers=3) as rig:
        rc, out, err = rig.run_agent(['-c', rig.cluster, '-p', rig.node[1].conninfo()])
        rig.app[2].stop_sshd()
        rig.node[1].kill()
        rig.node[2].promote()
        assert rig.app[1].reaches() == (False, rig.node[2].port)
CLI (for the demo and benchmarks; `rig.py -h` lists every command):
    rig.py up [--app-servers N] [--cluster NAME] [--dir DIR] [--agent PATH --notify]
    rig.py down --dir DIR | --all
    rig.py status [--dir DIR]
"""

import argparse
import atexit
import concurrent.futures
import fcntl
import grp
import json
import os
import pwd
import re
import resource
import secrets
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faults  # noqa: E402  (sibling module, importable from tests and CLI alike)

PG_BIN = '/usr/lib/postgresql/15/bin'
RIG_ROOT = '/var/lib/pgdeploy-rig'
PG_USER = 'postgres'
PG_HOME = '/var/lib/postgresql'
NODE_PORT_BASE = 5440            # node n listens on 5440 + n
APP_NET = '127.0.1.'             # app server i <= 254 is 127.0.1.i (app_addr)
MAX_APP_SERVERS = 254 * 5        # beyond 254: 127.1.k.j (benchmarks of large fleets)
FAULT_NET = '127.0.2.'           # free addresses for fault hosts
PUBLIC_NET = '127.0.3.'          # node n also listens on 127.0.3.n (its "public" address, for -P)
PGBOUNCER_PORT = 6432
PARTITION_PREF_BASE = 100       # Node.partition(): ip rule preferences 102.. (two a node)
PARTITION_LOCAL_PREF = 1000      # ... and the local table's lookup, moved below them from 0
APP_USER, APP_PASSWORD, APP_DB = 'app', 'app-password', 'appdb'
MARKER = '.pgdeploy-rig'         # in each namespace's home: proves a process is ours

# event_notification_command as the seed README wires it, one per node.
# Fields: {agent} (the binary copied into the rig), {cluster}, {port}, {node}.
SEED_NOTIFY = '{agent} -c {cluster} -p "host=127.0.0.1 port={port} user=repmgr dbname=repmgr"'

APP_SERVER_COLUMNS = ('name', 'ip_addr', 'username', 'application_name', 'enabled', 'auth_trust',
                      'admin_conninfo')


def app_addr(index):
    """App server i's address: 127.0.1.i up to 254 (what the tests use), then 127.1.k.j, clear
    of the fault hosts' and public addresses."""
    if index <= 254:
        return f'{APP_NET}{index}'
    k, j = divmod(index - 255, 254)
    return f'127.1.{k}.{j + 1}'


class RigError(RuntimeError):
    pass


def log(msg):
    print(f'[rig] {msg}', file=sys.stderr, flush=True)


def sql_literal(value):
    return "'" + str(value).replace("'", "''") + "'"


def sql_ident(name):
    return '"' + name.replace('"', '""') + '"'


def sql_value(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return 'NULL' if value is None else sql_literal(value)


def remote_files(cluster):
    """The files pgdeploy writes on an app server (as the app server sees them)."""
    return [f'/etc/pgbouncer/databases/{cluster}.ini', '/etc/pgbouncer/userlist.txt',
            f'{PG_HOME}/.pgpass']


def app_servers_ddl(schema, auth_trust=True, admin_conninfo=True):
    """The seed README's table, plus the optional auth_trust and admin_conninfo columns."""
    extra = ",\n  auth_trust BOOLEAN DEFAULT false" if auth_trust else ''
    extra += ",\n  admin_conninfo TEXT DEFAULT ''" if admin_conninfo else ''
    return (f"CREATE TABLE {schema}.app_servers (\n"
            "  id SERIAL,\n"
            "  name     VARCHAR(150),\n"
            "  ip_addr  VARCHAR(150),\n"
            "  username VARCHAR(150) DEFAULT 'postgres',\n"
            "  application_name VARCHAR(150) DEFAULT '',\n"
            f"  enabled  BOOLEAN DEFAULT 't'{extra}\n);\n")


def insert_app_servers_sql(schema, rows, suffix=''):
    """rows: tuples of values for the leading APP_SERVER_COLUMNS."""
    columns = ', '.join(APP_SERVER_COLUMNS[:len(rows[0])])
    values = ', '.join('(' + ', '.join(map(sql_value, row)) + ')' for row in rows)
    return f'INSERT INTO {schema}.app_servers ({columns}) VALUES {values} {suffix};\n'


# --------------------------------------------------------------------------
# Files and processes

_PG = pwd.getpwnam(PG_USER)
POSTGRES = (_PG.pw_uid, _PG.pw_gid)
ROOT = (0, 0)


def make_dir(path, mode=0o755, owner=ROOT):
    os.makedirs(path, exist_ok=True)
    os.chown(path, *owner)
    os.chmod(path, mode)
    return path


def write_file(path, text, mode=0o644, owner=ROOT):
    """Write atomically (temp file + rename) with the given mode and owner."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix='.tmp-')
    with os.fdopen(fd, 'w') as f:
        f.write(text)
    os.chown(tmp, *owner)
    os.chmod(tmp, mode)
    os.rename(tmp, path)
    return path


def read_text(path):
    try:
        with open(path, errors='replace') as f:
            return f.read()
    except FileNotFoundError:
        return None


def tail(path, lines=15):
    text = read_text(path) or ''
    return '\n'.join(text.splitlines()[-lines:])


def pid_alive(pid):
    """Whether pid runs (a zombie does not: our own children stay zombies until reaped)."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except (FileNotFoundError, ProcessLookupError):
        return False


def pidfile_pid(path):
    """The live process named in a pid file (None: no file, no number, or it is gone)."""
    text = read_text(path)
    pid = int(text.strip()) if text and text.strip().isdigit() else None
    return pid if pid and pid_alive(pid) else None


def run(argv, *, check=True, timeout=60, capture=True, **kwargs):
    """Run a short command, capture its output (unless capture=False: it goes to
    ours), raise RigError on failure."""
    kwargs.setdefault('stdin', subprocess.DEVNULL)
    try:
        proc = subprocess.run(argv, capture_output=capture, text=True, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired as e:
        raise RigError(f'timed out after {timeout}s: {shlex.join(argv)}') from e
    if check and proc.returncode != 0:
        raise RigError(f'exit {proc.returncode}: {shlex.join(argv)}\n{proc.stdout or ""}{proc.stderr or ""}')
    return proc


def postgres_env(extra=None):
    env = {
        'HOME': PG_HOME, 'USER': PG_USER, 'LOGNAME': PG_USER, 'SHELL': '/bin/bash',
        'PATH': f'{PG_BIN}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
        'LANG': 'C.UTF-8',
    }
    env.update(extra or {})
    return env


def listening(addr, port):
    """Whether some socket listens on addr:port (IPv4), read from /proc/net/tcp."""
    want = f'{socket.inet_aton(addr)[::-1].hex().upper()}:{port:04X}'
    with open('/proc/net/tcp') as f:
        return any(fields[1] == want and fields[3] == '0A'
                   for fields in (line.split() for line in f))


def in_private_netns():
    """True in a network namespace other than init's (what `unshare --net` gives). Where init's
    cannot be read (a sandbox), one whose only interface is loopback: a host has others."""
    try:
        return os.readlink('/proc/self/ns/net') != os.readlink('/proc/1/ns/net')
    except OSError:
        pass
    links = run(['ip', '-o', 'link', 'show'], check=False).stdout.splitlines()
    return bool(links) and all(line.split(':')[1].strip() == 'lo' for line in links)


def rerun_in_private_netns(script, argv):
    """Runs `script` (a Python program) again, with `argv`, in a private network namespace with
    loopback up, unless this process is in one already; returns only in that case."""
    if in_private_netns():
        return
    os.execvp('unshare', ['unshare', '--net', '--', 'sh', '-c', 'ip link set lo up && exec "$@"',
                          'netns', sys.executable, os.path.abspath(script), *argv])


def require_private_netns(what):
    if not in_private_netns():
        raise RigError(f'{what} changes routing rules: run in a private network namespace '
                       '(unshare --net), never on the host')


def _move_local_table():
    """Policy rules run in order of preference and the local table (every 127/8 address) is
    looked up first, at 0: move it to PARTITION_LOCAL_PREF so a partition's rules come before
    it. Once per network namespace."""
    rules = run(['ip', 'rule', 'list']).stdout
    if not re.search(rf'^{PARTITION_LOCAL_PREF}:\s+from all lookup local', rules, re.M):
        run(['ip', 'rule', 'add', 'pref', str(PARTITION_LOCAL_PREF), 'lookup', 'local'])
    if re.search(r'^0:\s+from all lookup local', rules, re.M):
        run(['ip', 'rule', 'del', 'pref', '0', 'lookup', 'local'])


def wait_for(predicate, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise RigError(f'timed out after {timeout}s waiting for {what}')
        time.sleep(interval)


def wait_listening(addr, port, proc, logfile, timeout=15):
    def ready():
        if proc.poll() is not None:
            raise RigError(f'{shlex.join(proc.args)} exited with {proc.returncode}:\n{tail(logfile)}')
        return listening(addr, port)
    wait_for(ready, timeout, f'a listener on {addr}:{port}')


def mount_namespaces():
    """Map 'mnt:[inode]' -> pids, for every process on the machine."""
    table = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                table.setdefault(os.readlink(f'/proc/{entry}/ns/mnt'), []).append(int(entry))
            except OSError:
                pass
    return table


class Namespace:
    """A private mount namespace kept alive by a holder (`sleep infinity`).

    Commands enter it with nsenter. Its processes are found by namespace id
    and confirmed by a marker file that only processes inside see (namespace
    ids are reused by the kernel once a namespace is gone).
    """

    def __init__(self, holder_pid, ns_id, marker_path, marker_value):
        self.holder_pid, self.ns_id = holder_pid, ns_id
        self.marker_path, self.marker_value = marker_path, marker_value

    @classmethod
    def create(cls, marker_path, marker_value, procs):
        own = os.readlink('/proc/self/ns/mnt')
        holder = subprocess.Popen(['unshare', '-m', '--propagation', 'private', 'sleep', 'infinity'],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        procs.append(holder)

        def entered():
            if holder.poll() is not None:
                raise RigError(f'unshare exited with {holder.returncode}')
            ns = os.readlink(f'/proc/{holder.pid}/ns/mnt')
            return ns if ns != own else None
        return cls(holder.pid, wait_for(entered, 5, 'unshare'), marker_path, marker_value)

    def to_state(self):
        return {'holder_pid': self.holder_pid, 'ns_id': self.ns_id,
                'marker_path': self.marker_path, 'marker_value': self.marker_value}

    @classmethod
    def from_state(cls, state):
        return cls(state['holder_pid'], state['ns_id'], state['marker_path'], state['marker_value'])

    def argv(self, argv, user=None):
        """argv run inside the namespace, as `user` if given (setpriv execs, keeps the pid)."""
        prefix = ['nsenter', '-t', str(self.holder_pid), '-m']
        if user:
            prefix += ['setpriv', '--reuid', user, '--regid', user, '--init-groups', '--']
        return prefix + list(argv)

    def run(self, argv, user=None, env=None, **kwargs):
        return run(self.argv(argv, user), env=env or postgres_env(), **kwargs)

    def spawn(self, argv, procs, logfile, user=None, env=None, cwd=None):
        """Start a long-running process inside the namespace; output goes to logfile."""
        with open(logfile, 'ab') as out:
            proc = subprocess.Popen(self.argv(argv, user), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, env=env or postgres_env(),
                                    cwd=cwd, start_new_session=True)
        procs.append(proc)
        return proc

    def bind(self, pairs):
        """Bind-mount each (rig path, path seen inside) pair, in one nsenter call."""
        script = '\n'.join(f'mount --bind {shlex.quote(src)} {shlex.quote(dst)}' for src, dst in pairs)
        self.run(['sh', '-ec', script])

    def mount_tmpfs(self, path, owner, mode=0o700, size='1g'):
        """A tmpfs at path, seen only inside: it vanishes with the namespace."""
        self.run(['mount', '-t', 'tmpfs', '-o', f'size={size},mode={mode:o},uid={owner[0]},gid={owner[1]}',
                  'pgdeploy-rig', path])

    def view(self, path):
        """The host-side name of `path` as processes inside see it."""
        return f'/proc/{self.holder_pid}/root{path}'

    def pids(self, table=None):
        table = mount_namespaces() if table is None else table
        ours = []
        for pid in table.get(self.ns_id, []):
            try:
                with open(f'/proc/{pid}/root{self.marker_path}') as f:
                    if f.read() == self.marker_value:
                        ours.append(pid)
            except OSError:
                pass
        return ours

    def alive(self):
        return bool(self.pids())


def kill_namespaces(namespaces, timeout=5):
    """SIGKILL every process in these namespaces (holders included) until none is left."""
    deadline = time.monotonic() + timeout
    while True:
        table = mount_namespaces()
        pids = [pid for ns in namespaces for pid in ns.pids(table)]
        if not pids:
            return
        if time.monotonic() > deadline:
            raise RigError(f'processes {pids} survive SIGKILL')
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


# --------------------------------------------------------------------------
# Cleanup of every rig this process created, whatever way it ends

_live_rigs = set()
_live_lock = threading.RLock()


def _down_all():
    with _live_lock:
        rigs = list(_live_rigs)
    for rig in rigs:
        try:
            rig.down()
        except Exception as e:  # keep cleaning the others
            log(f'cleanup of {rig.dir} failed: {e}')


def _interrupt_on_signal(signum, _frame):
    # Like Ctrl-C: unwinds with-blocks and stops unittest (which would record a
    # SystemExit as one more test error and go on); atexit then downs the rigs.
    raise KeyboardInterrupt(f'signal {signal.Signals(signum).name}')


def _register(rig):
    with _live_lock:
        if not getattr(_register, 'installed', False):
            atexit.register(_down_all)
            if threading.current_thread() is threading.main_thread():
                for sig in (signal.SIGTERM, signal.SIGHUP):
                    if signal.getsignal(sig) == signal.SIG_DFL:
                        signal.signal(sig, _interrupt_on_signal)
            _register.installed = True
        _live_rigs.add(rig)


def _unregister(rig):
    with _live_lock:
        _live_rigs.discard(rig)


# Stand-ins for service(8) (Debian: `service pgbouncer reload`) and, for the PGDG shape
# (AppServer.make_pgdg), systemctl(1) (`systemctl reload pgbouncer`, as the unit's ExecReload
# does), for there is no init system here: each does only that reload.
RELOAD_STAND_IN = """#!/bin/sh
# Rig stand-in for {tool} on {{name}}: only `{tool} {args}`.
if [ "$#" -eq 2 ] && [ "$1 $2" = "{args}" ]; then
    kill -HUP "$(cat {{pidfile}})" || exit 1
    echo "$(date +%s.%N) reload by $(id -un)" >> {{reload_log}}
    exit 0
fi
echo "{tool} (pgdeploy rig): unsupported: $*" >&2
exit 1
"""
SERVICE_SCRIPT = RELOAD_STAND_IN.format(tool='service', args='pgbouncer reload')
SYSTEMCTL_SCRIPT = RELOAD_STAND_IN.format(tool='systemctl', args='reload pgbouncer')

SERVICE_FAILING = """#!/bin/sh
# Rig stand-in for service(8) on {name}, broken on purpose (AppServer.fail_reloads).
echo "service (pgdeploy rig): pgbouncer reload fails on purpose" >&2
exit 1
"""

SSHD_CONFIG = """ListenAddress {addr}:22
HostKey {sshd_dir}/ssh_host_ed25519_key
PidFile {pidfile}
UsePAM yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
StrictModes yes
PermitRootLogin prohibit-password
UseDNS no
PrintMotd no
X11Forwarding no
MaxStartups 100:30:200
Subsystem sftp internal-sftp
LogLevel VERBOSE
PermitUserEnvironment PGDEPLOY_FAULT
"""

PGBOUNCER_INI = """[databases]
%include /etc/pgbouncer/databases/{cluster}.ini

[pgbouncer]
logfile = {run_dir}/pgbouncer.log
pidfile = {run_dir}/pgbouncer.pid
listen_addr = {addr}
listen_port = {port}
unix_socket_dir = {run_dir}
auth_type = hba
auth_hba_file = /etc/pgbouncer/pgbouncer_hba.conf
auth_file = /etc/pgbouncer/userlist.txt
admin_users = postgres
pool_mode = session
ignore_startup_parameters = extra_float_digits
; rig only: retry a failed server login after 1 s instead of 15 s
server_login_retry = 1
"""


# TCP clients authenticate with SCRAM as under auth_type = scram-sha-256. The admin console
# is reachable through the unix socket by the OS user PgBouncer runs as (postgres) as user
# "pgbouncer" (built into PgBouncer, needs no line here), and as user postgres by peer
# authentication (setup step 5, docs/setup.md; PgBouncer 1.18 also wants postgres in auth_file).
PGBOUNCER_HBA = """# pgdeploy rig
local   pgbouncer   postgres                  peer
host    all         all         127.0.0.0/8   scram-sha-256
"""


class ClientSession:
    """One psql session held open through a PgBouncer (pool_mode session: it keeps its
    server connection until it ends, or PgBouncer cuts it). query() runs SQL in it and
    returns psql's unaligned, tuples-only output; None once the session is gone."""

    def __init__(self, argv, env):
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, start_new_session=True)
        self._count = 0
        self._pending = b''

    def query(self, sql, timeout=10):
        self._count += 1
        marker = f'__pgdeploy_rig_done_{self._count}__'
        try:
            self.proc.stdin.write(f'{sql.rstrip().rstrip(";")};\n\\echo {marker}\n'.encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            return None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while True:
            done = self._pending.find(f'{marker}\n'.encode())
            if done >= 0:
                out, self._pending = self._pending[:done], self._pending[done + len(marker) + 1:]
                return out.decode(errors='replace')
            left = deadline - time.monotonic()
            if left <= 0:
                raise RigError(f'no answer to {sql!r} within {timeout}s from {shlex.join(self.argv)}')
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:           # psql exited: the session is gone
                    self.proc.wait(timeout=5)
                    return None
                self._pending += chunk

    def alive(self):
        return self.proc.poll() is None

    def error_output(self):
        """psql's standard error, once it has exited ('' while it runs)."""
        if self.proc.poll() is None:
            return ''
        return self.proc.stderr.read().decode(errors='replace')

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except (BrokenPipeError, OSError):
                pass


class HeldLock:
    """An exclusive flock(2) on a file, held until release() (what pgdeploy's push program
    takes on an app server before it compares and writes)."""

    def __init__(self, path, owner=POSTGRES):
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            if os.fstat(self.fd).st_uid == 0 and owner != ROOT:
                os.fchown(self.fd, *owner)      # new file: the deploy user must open it too
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.fd)
            raise

    def release(self):
        if self.fd is not None:
            os.close(self.fd)       # closing the descriptor releases the lock
            self.fd = None




# --------------------------------------------------------------------------
# App servers

class AppServer:
    """App server i (127.0.1.i) of a rig: its files, its sshd and PgBouncer, its catalog row.
    rig.app[i] is this object; every per-server behaviour is a method here."""

    # path as the app server sees it -> rig subdirectory bind-mounted there
    BINDS = {'/etc/pgbouncer': 'etc-pgbouncer', PG_HOME: 'home',
             '/etc/sudoers.d': 'sudoers.d', '/usr/sbin/service': 'service'}

    def __init__(self, rig, index, ns=None):
        self.rig = rig
        self.index = index
        self.name = f'app{index}'
        self.addr = app_addr(index)
        self.dir = os.path.join(rig.dir, self.name)
        self.etc_pgbouncer = os.path.join(self.dir, 'etc-pgbouncer')
        self.home = os.path.join(self.dir, 'home')
        self.sshd_dir = os.path.join(self.dir, 'sshd')
        self.run_dir = os.path.join(self.dir, 'run')      # pgbouncer pid, log, socket
        self.reload_log = os.path.join(self.dir, 'reload.log')
        self.sshd_config = os.path.join(self.sshd_dir, 'sshd_config')
        self.sshd_log = os.path.join(self.sshd_dir, 'sshd.log')
        self.sshd_pidfile = os.path.join(self.sshd_dir, 'sshd.pid')
        self.pgbouncer_ini = os.path.join(self.etc_pgbouncer, 'pgbouncer.ini')
        self.pgbouncer_pidfile = os.path.join(self.run_dir, 'pgbouncer.pid')
        self.pgbouncer_log = os.path.join(self.run_dir, 'pgbouncer.log')
        self.pgbouncer_stdout = os.path.join(self.run_dir, 'pgbouncer.stdout')   # early errors
        self.service_script = os.path.join(self.dir, 'service')
        self.ns = ns

    def __repr__(self):
        return f'<AppServer {self.name} {self.addr}>'

    def host_path(self, path):
        """Where a path the app server sees is reachable from the host: its rig
        directory for the bind-mounted paths, else through the namespace."""
        for seen, sub in self.BINDS.items():
            if path == seen or path.startswith(seen + '/'):
                return os.path.join(self.dir, sub) + path[len(seen):]
        return self.ns.view(path)

    # ---- start-up ---------------------------------------------------------------

    def _start(self):
        """Write its files, create its namespace, start sshd and PgBouncer (Rig.up)."""
        rig = self.rig
        make_dir(self.dir)
        make_dir(self.sshd_dir, 0o700)
        make_dir(self.run_dir, 0o755, POSTGRES)
        make_dir(self.etc_pgbouncer, 0o755, POSTGRES)
        make_dir(os.path.join(self.etc_pgbouncer, 'databases'), 0o755, POSTGRES)
        make_dir(os.path.join(self.dir, 'sudoers.d'), 0o755)
        make_dir(self.home, 0o755, POSTGRES)
        make_dir(os.path.join(self.home, '.ssh'), 0o700, POSTGRES)
        write_file(os.path.join(self.home, MARKER), f'{rig.id}/{self.name}')
        write_file(os.path.join(self.home, '.ssh', 'authorized_keys'), rig.db_public_key, 0o600, POSTGRES)
        write_file(self.pgbouncer_ini, PGBOUNCER_INI.format(
            cluster=rig.cluster, run_dir=self.run_dir, addr=self.addr, port=PGBOUNCER_PORT), 0o640, POSTGRES)
        write_file(os.path.join(self.etc_pgbouncer, 'pgbouncer_hba.conf'), PGBOUNCER_HBA, 0o640, POSTGRES)
        write_file(os.path.join(self.etc_pgbouncer, 'userlist.txt'), '', 0o600, POSTGRES)
        write_file(os.path.join(self.etc_pgbouncer, 'databases', f'{rig.cluster}.ini'), '', 0o600, POSTGRES)
        write_file(os.path.join(self.dir, 'sudoers.d', 'pgbouncer'),
                   'postgres ALL = NOPASSWD: /usr/sbin/service pgbouncer reload\n', 0o440)
        write_file(self.service_script, self._service_script(SERVICE_SCRIPT), 0o755)
        self._write_sshd_config()
        run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', f'root@pgdeploy-rig-{self.name}',
             '-f', os.path.join(self.sshd_dir, 'ssh_host_ed25519_key')])
        os.makedirs('/run/sshd', mode=0o755, exist_ok=True)   # sshd's privilege separation dir

        self.ns = Namespace.create(f'{PG_HOME}/{MARKER}', f'{rig.id}/{self.name}', rig._procs)
        rig._write_state()
        self.ns.bind([(self.host_path(seen), seen) for seen in self.BINDS])
        sshd = self._spawn_sshd()
        pgbouncer = self._spawn_pgbouncer()
        wait_listening(self.addr, 22, sshd, self.sshd_log)
        wait_listening(self.addr, PGBOUNCER_PORT, pgbouncer, self.pgbouncer_stdout)

    def _service_script(self, template):
        return template.format(name=self.name, pidfile=self.pgbouncer_pidfile, reload_log=self.reload_log)

    def _write_sshd_config(self, extra_port=None):
        config = SSHD_CONFIG.format(addr=self.addr, sshd_dir=self.sshd_dir, pidfile=self.sshd_pidfile)
        write_file(self.sshd_config, config + (f'ListenAddress {self.addr}:{extra_port}\n'
                                               if extra_port else ''), 0o600)

    def _spawn_sshd(self):
        return self.ns.spawn(['/usr/sbin/sshd', '-D', '-f', self.sshd_config, '-E', self.sshd_log],
                             self.rig._procs, os.path.join(self.sshd_dir, 'sshd.stdout'))

    def _spawn_pgbouncer(self):
        return self.ns.spawn(['/usr/sbin/pgbouncer', '/etc/pgbouncer/pgbouncer.ini'], self.rig._procs,
                             self.pgbouncer_stdout, user=self.pgbouncer_user, cwd=self.run_dir)

    # ---- the PGDG (RHEL-family) shape ----------------------------------------------------

    pgbouncer_user = PG_USER      # the OS user PgBouncer runs as: 'pgbouncer' once make_pgdg()
    PGDG_USERLIST = '/etc/pgbouncer/databases/userlist.txt'

    def make_pgdg(self, console=True):
        """Rebuild this (started) app server the way the PostgreSQL community RPMs lay it out,
        by docs/setup.md's RHEL-family steps: PgBouncer runs as OS user `pgbouncer` (a passwd
        and group of this server's own, bind-mounted), `/etc/pgbouncer` and pgbouncer.ini are
        root's, the files pgdeploy writes live in `/etc/pgbouncer/databases`, which `pgbouncer`
        owns (auth_file there too: PGDG_USERLIST), the SSH user of the row is `pgbouncer`, and the
        reload is the admin console (console=True: `user=pgbouncer` through the socket, as the OS
        user PgBouncer runs as) or `sudo -n systemctl reload pgbouncer` (a stand-in that SIGHUPs
        it). The socket stays in this server's run directory (/var/run/pgbouncer on RHEL)."""
        rig = self.rig
        os.kill(self.pgbouncer_pid(), signal.SIGTERM)
        wait_for(lambda: not listening(self.addr, PGBOUNCER_PORT), 10, f'{self.name} PgBouncer to stop')
        taken = {p.pw_uid for p in pwd.getpwall()} | {g.gr_gid for g in grp.getgrall()}
        uid = next(n for n in range(990, 60000) if n not in taken)
        home = os.path.join(self.dir, 'pgbouncer-home')   # its parents are root's: StrictModes
        passwd, group = os.path.join(self.dir, 'passwd'), os.path.join(self.dir, 'group')
        write_file(passwd, read_text('/etc/passwd') + f'pgbouncer:x:{uid}:{uid}:PgBouncer Server:{home}:/bin/bash\n')
        write_file(group, read_text('/etc/group') + f'pgbouncer:x:{uid}:\n')
        # PAM's account check wants a shadow entry: one with no password for every user (the
        # host's shadow is never read).
        shadow = os.path.join(self.dir, 'shadow')
        write_file(shadow, ''.join(f'{line.split(":")[0]}:*:19000:0:99999:7:::\n'
                                   for line in read_text(passwd).splitlines() if line), 0o600)
        owner = (uid, uid)
        make_dir(home, 0o700, owner)
        make_dir(os.path.join(home, '.ssh'), 0o700, owner)
        write_file(os.path.join(home, '.ssh', 'authorized_keys'), rig.db_public_key, 0o600, owner)
        # Step 3, RHEL-family: /etc/pgbouncer stays root's; pgdeploy's directory is pgbouncer's.
        databases = os.path.join(self.etc_pgbouncer, 'databases')
        os.chown(self.etc_pgbouncer, *ROOT)
        os.chmod(self.etc_pgbouncer, 0o755)
        for name in os.listdir(databases):
            os.unlink(os.path.join(databases, name))
        os.chown(databases, *owner)
        os.chmod(databases, 0o700)
        write_file(os.path.join(databases, f'{rig.cluster}.ini'), '', 0o600, owner)
        write_file(self.host_path(self.PGDG_USERLIST), '', 0o600, owner)
        os.unlink(os.path.join(self.etc_pgbouncer, 'userlist.txt'))   # the Debian shape's
        ini = PGBOUNCER_INI.format(cluster=rig.cluster, run_dir=self.run_dir, addr=self.addr, port=PGBOUNCER_PORT)
        write_file(self.pgbouncer_ini, ini.replace('auth_file = /etc/pgbouncer/userlist.txt',
                                                   f'auth_file = {self.PGDG_USERLIST}'), 0o644)
        os.chmod(os.path.join(self.etc_pgbouncer, 'pgbouncer_hba.conf'), 0o644)
        os.chown(os.path.join(self.etc_pgbouncer, 'pgbouncer_hba.conf'), *ROOT)
        for name in os.listdir(self.run_dir):
            os.chown(os.path.join(self.run_dir, name), *owner)
        os.chown(self.run_dir, *owner)
        # Step 4, RHEL-family: the reload through sudo and systemctl.
        systemctl = os.path.join(self.dir, 'systemctl')
        write_file(systemctl, self._service_script(SYSTEMCTL_SCRIPT), 0o755)
        write_file(os.path.join(self.dir, 'sudoers.d', 'pgbouncer'),
                   'pgbouncer ALL = NOPASSWD: /usr/bin/systemctl reload pgbouncer\n', 0o440)
        self.ns.bind([(passwd, '/etc/passwd'), (group, '/etc/group'), (shadow, '/etc/shadow'), (systemctl, '/usr/bin/systemctl')])
        self.pgbouncer_user = 'pgbouncer'
        wait_listening(self.addr, PGBOUNCER_PORT, self._spawn_pgbouncer(), self.pgbouncer_stdout)
        rig.primary().psql(f"UPDATE repmgr.app_servers SET username = 'pgbouncer', admin_conninfo = "
                           f"{sql_literal(self.admin_conninfo() if console else '')} "
                           f"WHERE name = {sql_literal(self.name)}")

    def set_hosts(self, lines):
        """/etc/hosts here (for sshd's sessions and PgBouncer, both already running) becomes
        `lines` (e.g. '::1 localhost': first, so taken before the host's) then the host's own,
        bind-mounted over it in this server's namespace: the host's file is never touched."""
        path = os.path.join(self.dir, 'hosts')
        write_file(path, ''.join(f'{line}\n' for line in lines) + (read_text('/etc/hosts') or ''), 0o644)
        self.ns.bind([(path, '/etc/hosts')])

    def hide_perl(self, *names):
        """Make perl here lack what a package would have brought: each name ('IO.pm', 'IO': a
        module or a directory of them, relative to @INC) disappears from every @INC directory
        in this server's namespace (an empty directory bind-mounted over a directory; /dev/null,
        which is no plain file, over a file: perl then finds neither). As a RHEL perl without
        perl-IO is missing IO.pm and IO/."""
        inc = run(['perl', '-e', 'print "$_\\n" for grep { !ref } @INC']).stdout.split()
        empty = os.path.join(self.dir, 'empty-dir')
        make_dir(empty, 0o755)
        pairs = [(empty if os.path.isdir(path) else '/dev/null', path)
                 for path in (os.path.join(d, name) for d in inc for name in names) if os.path.exists(path)]
        self.ns.bind(pairs)

    # ---- its files ----------------------------------------------------------------

    def read_file(self, path):
        """Contents of `path` as this app server sees it (None if missing)."""
        return read_text(self.host_path(path))

    def stat_file(self, path):
        """os.stat_result of `path` on this app server (None if missing)."""
        try:
            return os.stat(self.host_path(path))
        except FileNotFoundError:
            return None

    def write_file(self, path, text, mode=0o600):
        """Write `path` on this app server as postgres would (owner postgres)."""
        write_file(self.host_path(path), text, mode, POSTGRES)

    def set_fault(self, spec=None):
        """PGDEPLOY_FAULT=spec for every SSH session here (~/.ssh/environment, which the rig's
        sshd reads for that one variable): the push program acts at the named step (see
        src/pgbouncer/push.pl). None: no fault."""
        path = self.host_path(f'{PG_HOME}/.ssh/environment')
        if spec:
            write_file(path, f'PGDEPLOY_FAULT={spec}\n', 0o600, POSTGRES)
        elif os.path.exists(path):
            os.unlink(path)

    def snapshot(self):
        """Contents, mtime and inode of every file pgdeploy writes here (None: missing), plus
        the reload counts: equal snapshots mean pgdeploy touched nothing."""
        snap = {}
        for path in remote_files(self.rig.cluster):
            st = self.stat_file(path)
            snap[path] = st and (self.read_file(path), st.st_mtime_ns, st.st_ino)
        snap['reloads'] = self.reload_count()
        snap['console reloads'] = self.console_reload_count()
        return snap

    def ini_lines(self):
        """Non-comment lines of the databases file pgdeploy writes here (its routes)."""
        text = self.read_file(remote_files(self.rig.cluster)[0]) or ''
        return [line.strip() for line in text.splitlines()
                if line.strip() and not line.lstrip().startswith((';', '#'))]

    def ini_entry(self, dbname):
        """The `dbname = ...` connection string in that databases file, or None."""
        for line in self.ini_lines():
            key, _, value = line.partition('=')
            if key.strip().strip('"') == dbname:
                return value.strip()
        return None

    @property
    def lock_path(self):
        """Host-side path of the lock pgdeploy's push program takes here
        (<include dir>/.<cluster>.lock)."""
        return self.host_path(f'/etc/pgbouncer/databases/.{self.rig.cluster}.lock')

    def hold_lock(self):
        """Take this server's pgdeploy lock (HeldLock; release() it): a run that has
        something to write here waits for it, up to its --host-timeout."""
        return HeldLock(self.lock_path)

    def processes(self):
        """[(pid, argv, state)] of every process in this server's namespace (state as in
        /proc/PID/stat: R, S, T for stopped, ...)."""
        found = []
        for pid in self.ns.pids():
            try:
                with open(f'/proc/{pid}/cmdline', 'rb') as f:
                    argv = [arg.decode(errors='replace') for arg in f.read().split(b'\0')[:-1]]
                with open(f'/proc/{pid}/stat') as f:
                    state = f.read().rsplit(')', 1)[1].split()[0]
            except OSError:
                continue
            found.append((pid, argv, state))
        return found

    # ---- the whole host: down, hung -------------------------------------------------------

    def _own_pids(self):
        """Every process in this server's namespace but its holder (which keeps it alive)."""
        return [pid for pid in self.ns.pids() if pid != self.ns.holder_pid]

    def crash(self):
        """SIGKILL everything running here (sshd, its sessions, PgBouncer): a host that went
        down. boot() starts sshd and PgBouncer again, with the files left as they were."""
        for pid in self._own_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_for(lambda: not (listening(self.addr, 22) or listening(self.addr, PGBOUNCER_PORT)
                              or self._own_pids()), 10, f'{self.name} to go down')

    def boot(self):
        """Start sshd and PgBouncer after crash()."""
        for path in (self.sshd_pidfile, self.pgbouncer_pidfile):
            if os.path.exists(path):
                os.unlink(path)
        sshd, pgbouncer = self._spawn_sshd(), self._spawn_pgbouncer()
        wait_listening(self.addr, 22, sshd, self.sshd_log)
        wait_listening(self.addr, PGBOUNCER_PORT, pgbouncer, self.pgbouncer_stdout)

    def freeze(self):
        """SIGSTOP everything running here: the kernel still accepts connections to sshd and
        PgBouncer, and nothing answers (a hung host). thaw() undoes it (do, before down)."""
        for pid in self._own_pids():
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass

    def thaw(self):
        for pid in self._own_pids():
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    # ---- sshd and its logins ----------------------------------------------------------

    def sshd_pid(self):
        return pidfile_pid(self.sshd_pidfile)

    def stop_sshd(self):
        """Kill this server's sshd (and its sessions): the host stops speaking SSH."""
        pid = self.sshd_pid()
        if pid:
            os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not listening(self.addr, 22), 10, f'sshd on {self.addr} to stop')

    def start_sshd(self, extra_port=None):
        proc = self._spawn_sshd()
        wait_listening(self.addr, 22, proc, self.sshd_log)
        if extra_port:
            wait_listening(self.addr, extra_port, proc, self.sshd_log)

    def set_sshd_extra_port(self, port=None):
        """Restart sshd listening on `port` as well as on 22 (None: 22 only)."""
        self._write_sshd_config(port)
        self.stop_sshd()
        self.start_sshd(port)

    def host_public_key(self):
        """This server's sshd host key ('ssh-ed25519 AAAA...')."""
        text = read_text(os.path.join(self.sshd_dir, 'ssh_host_ed25519_key.pub'))
        return ' '.join(text.split()[:2])

    def set_authorized_keys(self, text):
        """Replace ~postgres/.ssh/authorized_keys here."""
        self.write_file(f'{PG_HOME}/.ssh/authorized_keys', text)

    def force_command(self, command):
        """Make sshd run `command` for the DB host's key whatever the client asks
        (authorized_keys command=\"...\"), e.g. 'yes' for a host that answers without end;
        set_authorized_keys(rig.db_public_key) undoes it."""
        self.set_authorized_keys(f'command="{command}" {self.rig.db_public_key}')

    def ssh_check(self):
        """`ssh postgres@<addr> true` with OpenSSH as postgres from the DB host (rig self-test)."""
        return self.rig.dbhost.run(['ssh', '-i', f'{PG_HOME}/.ssh/id_ed25519', '-o', 'BatchMode=yes',
                                    '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
                                    '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=5',
                                    f'postgres@{self.addr}', 'true'],
                                   user=PG_USER, cwd=self.rig.dir, check=False)

    # ---- PgBouncer ------------------------------------------------------------------

    def pgbouncer_pid(self):
        return pidfile_pid(self.pgbouncer_pidfile)

    def reload_pgbouncer(self):
        """SIGHUP PgBouncer and wait until it has re-read its configuration."""
        before = self.pgbouncer_reload_count()
        os.kill(self.pgbouncer_pid(), signal.SIGHUP)
        wait_for(lambda: self.pgbouncer_reload_count() > before, 10, f'{self.name} PgBouncer reload', 0.05)

    def set_pgbouncer_setting(self, key, value):
        """Set `key = value` in pgbouncer.ini's [pgbouncer] section and SIGHUP PgBouncer,
        waiting until it has re-read its configuration."""
        lines = [line for line in read_text(self.pgbouncer_ini).splitlines()
                 if line.split('=')[0].strip() != key]
        write_file(self.pgbouncer_ini, '\n'.join(lines + [f'{key} = {value}']) + '\n', 0o640, POSTGRES)
        self.reload_pgbouncer()

    def include_cluster(self, cluster):
        """Another cluster's include file (empty until it deploys), %included in [databases]
        after the first cluster's; PgBouncer re-reads its configuration (Rig.add_cluster)."""
        write_file(os.path.join(self.etc_pgbouncer, 'databases', f'{cluster}.ini'), '', 0o600, POSTGRES)
        text = read_text(self.pgbouncer_ini).replace(
            '\n[pgbouncer]\n', f'%include /etc/pgbouncer/databases/{cluster}.ini\n\n[pgbouncer]\n', 1)
        write_file(self.pgbouncer_ini, text, 0o640, POSTGRES)
        self.reload_pgbouncer()

    def fail_reloads(self, failing=True):
        """Make `service pgbouncer reload` here fail (exit 1, PgBouncer not told), or work
        again. The script is bind-mounted: it is rewritten in place, same inode."""
        with open(self.service_script, 'w') as f:
            f.write(self._service_script(SERVICE_FAILING if failing else SERVICE_SCRIPT))

    def reload_count(self):
        """How many times `service pgbouncer reload` ran here."""
        return len((read_text(self.reload_log) or '').splitlines())

    def console_reload_count(self):
        """How many RELOAD commands PgBouncer took on its admin console."""
        return (read_text(self.pgbouncer_log) or '').count('LOG RELOAD command issued')

    def pgbouncer_reload_count(self):
        """How many times PgBouncer re-read its configuration, by SIGHUP (service pgbouncer
        reload) or by RELOAD on its admin console (from its log)."""
        text = read_text(self.pgbouncer_log) or ''
        return text.count('LOG got SIGHUP, re-reading config') + text.count('LOG RELOAD command issued')

    def pgbouncer_log_tail(self, lines=8):
        return '--- pgbouncer log:\n' + tail(self.pgbouncer_log, lines)

    def admin_conninfo(self, user='pgbouncer', socket_dir=None):
        """What psql on this app server needs to reach PgBouncer's admin console through
        its unix socket without a password. user 'pgbouncer': PgBouncer admits the OS user it
        runs as (postgres) under that name on the socket, whatever auth_type says. user
        'postgres': setup step 5's form (docs/setup.md; hba `local pgbouncer postgres peer`);
        PgBouncer 1.18 admits it only while postgres is also listed in auth_file (see README.md
        here)."""
        return f'host={socket_dir or self.run_dir} port={PGBOUNCER_PORT} dbname=pgbouncer user={user}'

    def set_admin_conninfo(self, conninfo, node=None):
        """Set this server's app_servers.admin_conninfo ('' = no admin console) on node
        (a Node; default: the primary). conninfo True means the rig's working one."""
        if conninfo is True:
            conninfo = self.admin_conninfo()
        (node or self.rig.primary()).psql(
            f"UPDATE repmgr.app_servers SET admin_conninfo = {sql_literal(conninfo or '')} "
            f"WHERE name = {sql_literal(self.name)}")

    def admin_query(self, sql, user='pgbouncer', timeout=15, socket_dir=None):
        """psql here, as postgres, to PgBouncer's admin console through the unix socket
        (as pgdeploy does with admin_conninfo); return (rc, stdout, stderr). socket_dir: that
        of another process (add_pgbouncers)."""
        proc = self.ns.run([os.path.join(PG_BIN, 'psql'), self.admin_conninfo(user, socket_dir), '-X', '-q', '-A', '-t',
                            '-v', 'ON_ERROR_STOP=1', '-c', sql],
                           user=self.pgbouncer_user, cwd=self.run_dir, check=False, timeout=timeout)
        return proc.returncode, proc.stdout, proc.stderr

    # ---- several PgBouncer processes on one port (so_reuseport) -----------------------------

    def pgbouncer_dir(self, k):
        """Process k's directory: its unix socket, pidfile and logfile (k = 1: run_dir)."""
        return self.run_dir if k == 1 else os.path.join(self.dir, f'run-{k}')

    def pgbouncer_ini_of(self, k):
        """Process k's configuration file, as the host sees it (k = 1: pgbouncer_ini)."""
        return self.pgbouncer_ini if k == 1 else os.path.join(self.etc_pgbouncer, f'pgbouncer-{k}.ini')

    def add_pgbouncers(self, count=1):
        """Start `count` more PgBouncer processes on this server's port, as PgBouncer >= 1.12
        allows with so_reuseport = 1: each has its own unix_socket_dir, pidfile and logfile
        (pgbouncer_dir(k)) and its own ini (/etc/pgbouncer/pgbouncer-<k>.ini), the same as
        pgbouncer.ini otherwise (the same %include). The first process is restarted with
        so_reuseport = 1 too: a listening socket takes the option only when it is made. Clients
        may log in with SCRAM on the unix sockets as well (`local all all scram-sha-256`), so a
        test can hold a session on the process it chooses. Returns every process's socket
        directory, the first's first."""
        hba = os.path.join(self.etc_pgbouncer, 'pgbouncer_hba.conf')
        if 'local   all' not in read_text(hba):
            write_file(hba, read_text(hba) + 'local   all         all                       scram-sha-256\n',
                       0o640, POSTGRES)
        ini = read_text(self.pgbouncer_ini)
        if 'so_reuseport' not in ini:
            ini += 'so_reuseport = 1\n'
            write_file(self.pgbouncer_ini, ini, 0o640, POSTGRES)
            pid = self.pgbouncer_pid()
            os.kill(pid, signal.SIGTERM)
            wait_for(lambda: not pid_alive(pid) and not listening(self.addr, PGBOUNCER_PORT), 10,
                     f'{self.name} PgBouncer to stop')
            if os.path.exists(self.pgbouncer_pidfile):
                os.unlink(self.pgbouncer_pidfile)
            wait_listening(self.addr, PGBOUNCER_PORT, self._spawn_pgbouncer(), self.pgbouncer_stdout)
        k = 2
        for _ in range(count):
            while os.path.exists(self.pgbouncer_ini_of(k)):
                k += 1
            run_dir = self.pgbouncer_dir(k)
            make_dir(run_dir, 0o755, POSTGRES)
            write_file(self.pgbouncer_ini_of(k), ini.replace(self.run_dir + '/', run_dir + '/')
                       .replace(f'unix_socket_dir = {self.run_dir}\n', f'unix_socket_dir = {run_dir}\n'),
                       0o640, POSTGRES)
            stdout = os.path.join(run_dir, 'pgbouncer.stdout')
            proc = self.ns.spawn(['/usr/sbin/pgbouncer', f'/etc/pgbouncer/pgbouncer-{k}.ini'], self.rig._procs,
                                 stdout, user=PG_USER, cwd=run_dir)
            socket_path = os.path.join(run_dir, f'.s.PGSQL.{PGBOUNCER_PORT}')
            wait_for(lambda: os.path.exists(socket_path) or proc.poll() is not None, 15,
                     f'{self.name} PgBouncer process {k}')
            if proc.poll() is not None:
                raise RigError(f'{self.name} PgBouncer process {k} did not start: {tail(stdout)}')
        return [self.pgbouncer_dir(i) for i in range(1, k + 1) if os.path.exists(self.pgbouncer_ini_of(i))]

    def pgbouncer_pid_of(self, k):
        return pidfile_pid(os.path.join(self.pgbouncer_dir(k), 'pgbouncer.pid'))

    def set_admin_sockets(self, dirs, node=None):
        """Set this server's app_servers.admin_sockets (the column is added if missing) on
        node (default: the primary): a list of socket directories, or a text as the row holds it."""
        text = dirs if isinstance(dirs, str) else ', '.join(dirs)
        node = node or self.rig.primary()
        node.psql('ALTER TABLE repmgr.app_servers ADD COLUMN IF NOT EXISTS admin_sockets text')
        node.psql(f"UPDATE repmgr.app_servers SET admin_sockets = {sql_literal(text)} "
                  f"WHERE name = {sql_literal(self.name)}")

    # ---- clients through PgBouncer -------------------------------------------------------

    def _client_env(self, db, user, password, host=None):
        return {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'LANG': 'C.UTF-8',
                'PGHOST': host or self.addr, 'PGPORT': str(PGBOUNCER_PORT),
                'PGDATABASE': db, 'PGUSER': user, 'PGPASSWORD': password,
                'PGCONNECT_TIMEOUT': '3', 'PGSSLMODE': 'disable'}

    def client_query(self, db, user, password, sql, timeout=15):
        """psql through this server's PgBouncer; return (rc, stdout, stderr)."""
        proc = run([os.path.join(PG_BIN, 'psql'), '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
                    '-c', sql], env=self._client_env(db, user, password), check=False, timeout=timeout)
        return proc.returncode, proc.stdout, proc.stderr

    def client_session(self, db=APP_DB, user=APP_USER, password=APP_PASSWORD, host=None):
        """A ClientSession through this server's PgBouncer, connected (closed at down()).
        host: a PgBouncer process's unix socket directory (see add_pgbouncers), to hold the
        session on that process; default: its TCP address."""
        session = ClientSession([os.path.join(PG_BIN, 'psql'), '-X', '-q', '-A', '-t'],
                                self._client_env(db, user, password, host))
        self.rig._sessions.append(session)
        if session.query('select 1') is None:
            raise RigError(f'cannot open a session through {self.name} PgBouncer to {db}: '
                           f'{session.error_output().strip()}')
        return session

    def reaches(self, db=APP_DB, user=APP_USER, password=APP_PASSWORD):
        """(in_recovery, port) of the server this PgBouncer leads to, or None."""
        rc, out, _ = self.client_query(db, user, password,
                                       "select pg_is_in_recovery(), inet_server_port()")
        if rc != 0:
            return None
        recovery, port = out.strip().split('|')
        return recovery == 't', int(port)

    def verify(self):
        """Self-test: OpenSSH logs in, PgBouncer answers on TCP and on its admin console."""
        proc = self.ssh_check()
        if proc.returncode != 0:
            raise RigError(f'ssh postgres@{self.addr} failed: {proc.stderr}')
        rc, _, err = self.client_query('pgbouncer', 'nobody', 'x', 'show version')
        if 'FATAL' not in err:    # a refusal from PgBouncer itself proves it answers
            raise RigError(f'PgBouncer on {self.addr} did not answer: rc {rc} {err}')
        rc, out, err = self.admin_query('SHOW VERSION')
        if rc != 0 or 'PgBouncer' not in out:
            raise RigError(f'admin console of PgBouncer on {self.addr}: rc {rc} {err}')

    def describe(self):
        return (f'  {self.name}  {self.addr}  sshd {"up" if listening(self.addr, 22) else "down"}'
                f'  pgbouncer {"up" if listening(self.addr, PGBOUNCER_PORT) else "down"}'
                f'  reloads {self.reload_count()}')


# --------------------------------------------------------------------------
# A watcher (`pgdeploy watch`) on a node

_watcher_ids = iter(range(1, 1 << 30))


class Watcher:
    """`pgdeploy watch` on one node, as postgres in the DB host, in the background: started
    by rig.node[n].start_watcher(). Its standard output and error go to one log file."""

    def __init__(self, node, args=(), interval=1.0, wait_timeout=None, nofile=None, env=None):
        """nofile: (soft, hard) descriptor limit to start it with; env: added variables."""
        rig = node.rig
        self.rig = rig
        self.node = node.index
        # "within two intervals" plus a round (a dead node's probe timeout) and the poll
        self.wait_timeout = wait_timeout or 2 * interval + 4.0
        self.log_path = os.path.join(rig.dir, f'watch-{node.name}-{next(_watcher_ids)}.log')
        argv = [rig.install_agent(), 'watch', '-c', node.cluster, '-p', node.conninfo(),
                '--interval', str(interval), *args]
        # The nodes share the rig's DB host, so its home: each node's lock (and the hook socket
        # beside it) of its own; a hook on that node names the same (--lock-file).
        self.lock_file = f'{PG_HOME}/.pgdeploy-{node.cluster}-{node.name}.lock'
        argv += ['--lock-file', self.lock_file]
        with open(self.log_path, 'wb') as log:
            # setpriv execs: the process is pgdeploy itself, signals reach it directly.
            self.proc = subprocess.Popen(rig.dbhost.argv(argv, PG_USER), cwd=rig.dir,
                                         env=postgres_env(env), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True,
                                         preexec_fn=nofile and (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, nofile)))

    @property
    def pid(self):
        return self.proc.pid

    def text(self):
        return read_text(self.log_path) or ''

    def wait_for(self, pattern, timeout=None, after=0):
        """Wait until the log (from offset `after`) matches the regex; return the match."""
        timeout = self.wait_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.text()[after:])
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f'watcher on node{self.node}: no {pattern!r} within {timeout}s:\n'
                                     f'{self.text()}')
            time.sleep(0.1)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self):
        self.proc.kill()
        self.proc.wait()


# --------------------------------------------------------------------------
# PostgreSQL nodes

class Node:
    """PostgreSQL node n of a rig's DB host (127.0.0.1:544n, and 127.0.3.n): its files,
    its postmaster, repmgr and repmgrd there. rig.node[n] is this object."""

    def __init__(self, rig, n, cluster=None, app_user=APP_USER, app_password=APP_PASSWORD, app_db=APP_DB):
        self.rig = rig
        self.index = n
        # The repmgr cluster it belongs to (Rig.add_cluster: a second one on the same DB host),
        # and the application role and database its primary creates.
        self.cluster = cluster or rig.cluster
        self.app_user, self.app_password, self.app_db = app_user, app_password, app_db
        self.name = f'node{n}'
        self.port = NODE_PORT_BASE + n
        self.public_addr = f'{PUBLIC_NET}{n}'      # its "public" address, for -P
        self.dir = os.path.join(rig.dir, 'dbhost', self.name)
        self.data = os.path.join(self.dir, 'data')   # a tmpfs inside the DB host: fast, nothing to delete
        self.conf = os.path.join(self.dir, 'repmgr.conf')
        self.log = os.path.join(self.dir, 'repmgr.log')   # repmgr's and repmgrd's log_file

    def __repr__(self):
        return f'<Node {self.name} port {self.port}>'

    def conninfo(self, dbname='repmgr', host='127.0.0.1'):
        return f'host={host} port={self.port} user=repmgr dbname={dbname}'

    def data_file(self, name):
        """Host-side path of a file in this node's data directory."""
        return self.rig.dbhost.view(os.path.join(self.data, name))

    def start_watcher(self, args=(), interval=1.0, wait_timeout=None, nofile=None, env=None):
        """`pgdeploy watch -c CLUSTER -p <this node> --interval S ARGS` in the background
        (a Watcher: wait_for(regex), signal, stop, kill); the caller stops it. nofile: its
        (soft, hard) descriptor limit; env: variables added to postgres' (NOTIFY_SOCKET)."""
        return Watcher(self, args, interval, wait_timeout, nofile, env)

    # ---- running its programs ------------------------------------------------------

    def pg_ctl(self, *args, **kwargs):
        return self.rig.pg(['pg_ctl', '-D', self.data, '-w', '-t', '30',
                            '-l', os.path.join(self.dir, 'postmaster.log'), *args], **kwargs)

    def repmgr(self, *args, **kwargs):
        """`repmgr -f <this node's conf> ARGS` as postgres in the DB host."""
        return self.rig.pg(['repmgr', '-f', self.conf, *args], **kwargs)

    def psql(self, sql, db='repmgr', user='repmgr', check=True, host='127.0.0.1'):
        """Run SQL (one or more statements, each in its own transaction) here over TCP (to
        `host`: public_addr reaches a partitioned node); return the rows of all results as
        lists of strings."""
        env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'LANG': 'C.UTF-8',
               'PGHOST': host, 'PGPORT': str(self.port), 'PGUSER': user,
               'PGDATABASE': db, 'PGCONNECT_TIMEOUT': '5'}
        proc = run([os.path.join(PG_BIN, 'psql'), '-X', '-q', '-A', '-t', '-F', '\x1f', '-R', '\x1e',
                    '-v', 'ON_ERROR_STOP=1', '-f', '-'], input=sql, stdin=None,
                   env=env, check=check, timeout=60)
        out = proc.stdout.rstrip('\n')
        return [row.split('\x1f') for row in out.split('\x1e')] if out else []

    # ---- start-up ---------------------------------------------------------------

    def _write_files(self):
        make_dir(self.dir, 0o755, POSTGRES)
        make_dir(os.path.join(self.dir, 'log'), 0o755, POSTGRES)
        make_dir(self.data, 0o700, POSTGRES)
        self.rig.dbhost.mount_tmpfs(self.data, POSTGRES)
        # Included by the shared postgresql.conf as '../node.conf': lives outside
        # the data directory, so a standby clone does not copy node1's.
        write_file(os.path.join(self.dir, 'node.conf'), f"""# pgdeploy rig: {self.name} only
port = {self.port}
listen_addresses = '127.0.0.1,{self.public_addr}{",::1" if self.rig.listen_ipv6 else ""}'
unix_socket_directories = '{self.rig.socket_dir}'
log_directory = '{self.dir}/log'
cluster_name = '{self.name}'
""", owner=POSTGRES)
        self.write_repmgr_conf()

    def write_repmgr_conf(self):
        """repmgr.conf from the rig's settings (notify template, repmgr_conf_extra)."""
        rig, n = self.rig, self.index
        repmgr = os.path.join(PG_BIN, 'repmgr')
        lines = [
            f'node_id={n}',
            f"node_name='{self.name}'",
            f"conninfo='{self.conninfo()} connect_timeout=2'",
            f"data_directory='{self.data}'",
            f"pg_bindir='{PG_BIN}'",
            'use_replication_slots=yes',
            'failover=automatic',
            f"promote_command='{repmgr} standby promote -f {self.conf} --log-to-file'",
            f"follow_command='{repmgr} standby follow -f {self.conf} --log-to-file --upstream-node-id=%n'",
            'reconnect_attempts=2',
            'reconnect_interval=1',
            'monitoring_history=no',
            f"repmgrd_pid_file='{self.dir}/repmgrd.pid'",
            f"log_file='{self.log}'",
            'log_level=INFO',
        ]
        if rig.notify:
            command = rig.notify.format(agent=rig.agent_path, cluster=self.cluster, port=self.port, node=n)
            lines.append(f"event_notification_command='{command}'")
        extra = rig.repmgr_conf_extra
        lines += list(extra(n) if callable(extra) else extra)
        write_file(self.conf, '\n'.join(lines) + '\n', owner=POSTGRES)

    def _init_primary(self):
        self._write_files()
        self.rig.pg(['initdb', '-D', self.data, '-A', 'trust', '-E', 'UTF8', '--locale=C', '-N'])
        with open(self.data_file('postgresql.conf'), 'a') as f:
            f.write("""
# ---- pgdeploy test rig (copied to standbys by repmgr standby clone) ----
wal_level = replica
hot_standby = on
max_wal_senders = 10
max_replication_slots = 10
wal_log_hints = on
shared_preload_libraries = 'repmgr'
shared_buffers = 32MB
max_connections = 60
fsync = off
logging_collector = on
log_filename = 'postgresql.log'
include_if_exists = '../node.conf'
""")
        write_file(self.data_file('pg_hba.conf'), """# pgdeploy test rig only: trust
local   all          all                 trust
host    all          all   127.0.0.0/8   trust
local   replication  all                 trust
host    replication  all   127.0.0.0/8   trust
""" + ('host    all          all   ::1/128       trust\n' if self.rig.listen_ipv6 else ''), 0o600, POSTGRES)
        self.pg_ctl('start')
        self.psql(f"""CREATE USER repmgr SUPERUSER;
CREATE DATABASE repmgr OWNER repmgr;
CREATE USER {sql_ident(self.app_user)} PASSWORD {sql_literal(self.app_password)};
CREATE DATABASE {sql_ident(self.app_db)} OWNER {sql_ident(self.app_user)};""", db='postgres', user=PG_USER)
        self.repmgr('primary', 'register')

    def _init_standby(self, upstream):
        self._write_files()
        self.repmgr('-h', '127.0.0.1', '-p', str(upstream.port), '-U', 'repmgr', '-d', 'repmgr',
                    'standby', 'clone', '--fast-checkpoint')
        self.pg_ctl('start')
        # `standby register` refuses a standby still in state "catchup" ("local node not
        # attached to primary"): seen with two standbys cloned at once on a loaded machine.
        wait_for(lambda: upstream.psql('SELECT state FROM pg_stat_replication '
                                       f"WHERE application_name = '{self.name}'") == [['streaming']],
                 30, f'{self.name} streaming from {upstream.name}', 0.1)
        self.repmgr('standby', 'register')

    # ---- its postmaster ----------------------------------------------------------

    def postmaster_pid(self):
        text = read_text(self.data_file('postmaster.pid'))
        pid = int(text.split()[0]) if text else None
        return pid if pid and pid_alive(pid) else None

    def _wait_reaped(self):
        """repmgr and pg_ctl take a killed postmaster that is not reaped yet (a zombie: pg_ctl's
        child, reparented) for a running one: wait until it is gone from /proc."""
        text = read_text(self.data_file('postmaster.pid'))
        old_pid = int(text.split()[0]) if text and text.split()[0].isdigit() else None
        if old_pid and not pid_alive(old_pid):
            wait_for(lambda: not os.path.exists(f'/proc/{old_pid}'), 30, f'{self.name} postmaster reaped', 0.1)

    def start(self):
        self._wait_reaped()
        self.pg_ctl('start')

    def stop(self, mode='immediate'):
        self.pg_ctl('stop', '-m', mode)

    def freeze(self):
        """SIGSTOP the postmaster: the kernel still accepts TCP connections, but nothing
        answers them, as with a hung or cut-off server. thaw() undoes it (do, before down:
        a stopped postmaster does not stop)."""
        os.kill(self.postmaster_pid(), signal.SIGSTOP)

    def thaw(self):
        pid = self.postmaster_pid()
        if pid:
            os.kill(pid, signal.SIGCONT)

    def kill(self):
        """kill -9 the postmaster (its backends notice and exit)."""
        pid = self.postmaster_pid()
        if not pid:
            raise RigError(f'{self.name} is not running')
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not listening('127.0.0.1', self.port), 10, f'{self.name} to go away')

    def is_writable(self):
        try:
            return self.psql('select pg_is_in_recovery()') == [['f']]
        except RigError:
            return False

    def wait_writable(self, timeout=30):
        wait_for(self.is_writable, timeout, f'{self.name} to accept writes', 0.2)

    # ---- the cluster network: a partition --------------------------------------------

    def _rule_prefs(self):
        # Two rules a node, below the local table's new place (PARTITION_LOCAL_PREF).
        return (PARTITION_PREF_BASE + 2 * self.index, PARTITION_PREF_BASE + 2 * self.index + 1)

    def partition(self):
        """Cut this node off the cluster network: every packet to 127.0.0.1:<port> (repmgr's
        conninfo: replication, repmgrd, every agent's probe) and every reply from it is
        dropped by a policy-routing blackhole, while its public address (127.0.3.n, what
        PgBouncer reaches with -P, and direct clients) still answers. The nodes share one host,
        so packets cannot be told apart by sender; a new connection fails at once, an
        established one stalls. Only in a private network namespace (`unshare --net`): the
        rules would otherwise be the host's. heal() removes them."""
        require_private_netns('a partition')
        _move_local_table()
        to_node, from_node = self._rule_prefs()
        run(['ip', 'rule', 'add', 'pref', str(to_node), 'to', '127.0.0.1', 'ipproto', 'tcp',
             'dport', str(self.port), 'blackhole'])
        run(['ip', 'rule', 'add', 'pref', str(from_node), 'from', '127.0.0.1', 'to', '127.0.0.1',
             'ipproto', 'tcp', 'sport', str(self.port), 'blackhole'])

    def heal(self):
        """Undo partition() (idempotent)."""
        if not in_private_netns():
            return
        for pref in self._rule_prefs():
            run(['ip', 'rule', 'del', 'pref', str(pref)], check=False)

    def is_partitioned(self):
        if not in_private_netns():
            return False
        out = run(['ip', 'rule', 'list', 'pref', str(self._rule_prefs()[0])]).stdout
        return bool(out.strip())

    def reclone(self, upstream):
        """Make this node a standby of `upstream` again, whatever it was: stop repmgrd and
        PostgreSQL, clone afresh over the data directory (`repmgr standby clone --force`), start,
        register, start repmgrd. The rig's way back for a failed or stale old primary (what
        `repmgr node rejoin` does, without pg_rewind's conditions)."""
        self.stop_repmgrd()
        if self.postmaster_pid():
            self.stop('immediate')
        self._wait_reaped()
        self.repmgr('-h', '127.0.0.1', '-p', str(upstream.port), '-U', 'repmgr', '-d', 'repmgr',
                    'standby', 'clone', '--force', '--fast-checkpoint', '--upstream-node-id', str(upstream.index),
                    timeout=120)
        self.pg_ctl('start')
        wait_for(lambda: upstream.psql('SELECT state FROM pg_stat_replication '
                                       f"WHERE application_name = '{self.name}'") == [['streaming']],
                 30, f'{self.name} streaming from {upstream.name}', 0.1)
        self.repmgr('standby', 'register', '--force', '--upstream-node-id', str(upstream.index))
        return self.start_repmgrd()

    # ---- promotion -----------------------------------------------------------------

    def promote(self, capture=True):
        """`repmgr standby promote` here (repmgr fires event_notification_command)."""
        return self.repmgr('standby', 'promote', timeout=120, capture=capture)

    def promote_behind_repmgr(self, timeout=30, record=False):
        """`pg_ctl promote` here, repmgr not involved: this node becomes writable on a new
        timeline whatever the other nodes are, and no catalog changes (a split brain, or the
        first half of a promotion done by hand). record: then record_primary() too, as
        `repmgr standby promote` would, but with no event and no notification."""
        self.pg_ctl('promote')
        self.wait_writable(timeout)
        if record:
            self.record_primary()

    def record_primary(self, on_node=None):
        """Make repmgr's catalog on on_node (a Node; default this one) name this node as the
        one active primary, as `repmgr standby promote` records it (the former primary
        becomes inactive)."""
        (on_node or self).psql(f"""BEGIN;
UPDATE repmgr.nodes SET active = false WHERE type = 'primary' AND active AND node_id <> {self.index};
UPDATE repmgr.nodes SET type = 'primary', upstream_node_id = NULL, active = true
 WHERE node_id = {self.index};
COMMIT;""")

    # ---- repmgrd ---------------------------------------------------------------------

    def start_repmgrd(self, timeout=30):
        """Start repmgrd here; return its pid once it monitors (a standby's repmgrd
        started while its upstream is already down would never fail over)."""
        offset = os.path.getsize(self.log) if os.path.exists(self.log) else 0
        with open(os.path.join(self.dir, 'repmgrd.stdout'), 'ab') as out:
            subprocess.run(self.rig.dbhost.argv([os.path.join(PG_BIN, 'repmgrd'), '-f', self.conf], PG_USER),
                           stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                           env=postgres_env(), cwd=self.rig.dir, check=True, timeout=30)

        def monitoring():
            with open(self.log, errors='replace') as f:
                f.seek(offset)
                text = f.read()
            return ('monitoring connection to upstream node' in text
                    or 'monitoring cluster primary' in text)
        wait_for(monitoring, timeout, f'repmgrd on {self.name} to start monitoring', 0.1)
        return self.repmgrd_pid()

    def repmgrd_pid(self):
        return pidfile_pid(os.path.join(self.dir, 'repmgrd.pid'))

    def stop_repmgrd(self):
        """SIGTERM repmgrd here, if it runs, and wait until it is gone."""
        pid = self.repmgrd_pid()
        if pid:
            os.kill(pid, signal.SIGTERM)
            wait_for(lambda: not pid_alive(pid), 10, f'repmgrd on {self.name} to stop')

    def describe(self):
        pid = self.postmaster_pid()
        role = ('primary' if self.is_writable() else 'standby') if pid else 'down'
        repmgrd = self.repmgrd_pid()
        return f'  {self.name}  127.0.0.1:{self.port}  {role}' + (f'  repmgrd {repmgrd}' if repmgrd else '')


# --------------------------------------------------------------------------
# The rig

class Numbered(dict):
    """rig.node / rig.app: number -> Node / AppServer, with a clear error for a missing one."""

    def __init__(self, what, items):
        super().__init__((item.index, item) for item in items)
        self.what = what

    def __missing__(self, key):
        raise RigError(f'no {self.what} {key} (rig has {", ".join(map(str, sorted(self))) or "none"})')


class OtherCluster:
    """A second repmgr cluster of a rig (Rig.add_cluster): `name`, `node` (its Nodes, numbered
    as their ports are), `primary()`, `app_user`, `app_password`, `app_db`."""

    def __init__(self, rig, name, nodes):
        self.rig, self.name = rig, name
        self.node = Numbered('node', nodes)
        self.app_user, self.app_password, self.app_db = nodes[0].app_user, nodes[0].app_password, nodes[0].app_db

    def primary(self):
        for node in self.node.values():
            if node.postmaster_pid() and node.is_writable():
                return node
        raise RigError(f'no writable node in cluster {self.name}')


class Rig:
    """A throwaway cluster + app servers. Use as a context manager, or up()/down().

    rig.node[n] (Node) and rig.app[i] (AppServer) hold everything about one node or app
    server; Rig itself holds the whole deployment: its life cycle, the DB host (known_hosts,
    catalog rows, the agent) and the fault hosts."""

    def __init__(self, app_servers=3, cluster='main', nodes=2, base_dir=None,
                 agent=None, event_notification_command=None, admin_console=False, listen_ipv6=False):
        """admin_console: fill app_servers.admin_conninfo for every app server (pgdeploy then
        reloads through PgBouncer's admin console and cuts sessions after a primary change);
        False leaves it '' (sudo service pgbouncer reload, "sessions not cut"). listen_ipv6: every
        node listens on ::1 too (a private network namespace with `lo` up has it)."""
        if nodes not in (2, 3):
            raise RigError('nodes must be 2 or 3')
        if not 0 <= app_servers <= MAX_APP_SERVERS:
            raise RigError(f'app_servers must be within 0..{MAX_APP_SERVERS}')
        self.id = f'{time.strftime("%Y%m%d-%H%M%S")}-{os.getpid()}-{secrets.token_hex(2)}'
        self.dir = os.path.abspath(base_dir or os.path.join(RIG_ROOT, self.id))
        self.cluster = cluster
        self.node = Numbered('node', [Node(self, n) for n in range(1, nodes + 1)])
        self.clusters = []        # OtherCluster objects of add_cluster()
        self.app = Numbered('app server', [AppServer(self, i) for i in range(1, app_servers + 1)])
        self.agent_source = agent or os.environ.get('PGDEPLOY') or None
        self.notify = event_notification_command
        self.admin_console = bool(admin_console)
        self.listen_ipv6 = bool(listen_ipv6)
        # Extra lines for every node's repmgr.conf, appended to the rig's own: a list, or a
        # callable node number -> list (e.g. service_promote_command with that node's data
        # directory). Set it before up(); set_event_notification rewrites repmgr.conf with it
        # too. Not saved in state.json (an attached Rig starts without it).
        self.repmgr_conf_extra = []
        self.dbhost = None
        self.timings = {}
        self._procs = []          # Popen objects to reap (library mode only)
        self._faults = []
        self._sessions = []
        self._lock = threading.Lock()

    # ---- paths ------------------------------------------------------------

    @property
    def db_home(self):
        return os.path.join(self.dir, 'dbhost', 'home')

    @property
    def socket_dir(self):
        return os.path.join(self.dir, 'dbhost', 'sock')

    @property
    def agent_path(self):
        """The pgdeploy copy that postgres runs (and repmgr is wired to)."""
        return os.path.join(self.dir, 'bin', 'pgdeploy')

    # ---- lifecycle --------------------------------------------------------

    def __enter__(self):
        self.up()
        return self

    def __exit__(self, *exc):
        self.down()

    def up(self):
        start = time.monotonic()
        self._check_addresses_free()
        self._make_base()
        _register(self)
        try:
            self._write_state()
            self._prepare_dbhost_files()
            workers = min(12, len(self.app) + 1)
            with concurrent.futures.ThreadPoolExecutor(workers) as pool:
                apps_started = time.monotonic()
                jobs = [pool.submit(self._timed, 'db host', self._start_dbhost)]
                jobs += [pool.submit(a._start) for a in self.app.values()]
                for job in jobs[1:]:
                    job.result()
                self.timings['app servers'] = time.monotonic() - apps_started
                jobs[0].result()
            self.write_known_hosts()
            self._write_state()
            self._timed('catalog', self._create_app_servers_table)
            if self.notify:
                self.set_event_notification(self.notify)
        except BaseException:
            log(f'rig start failed; cleaning up {self.dir}')
            self.down()
            raise
        self.timings['total'] = time.monotonic() - start
        log(f'up in {self.timings["total"]:.1f}s: ' + ', '.join(
            f'{k} {v:.1f}s' for k, v in self.timings.items() if k != 'total')
            + f' ({len(self.node)} nodes, {len(self.app)} app servers, dir {self.dir})')
        return self

    def _check_addresses_free(self):
        wanted = [('127.0.0.1', node.port) for node in self.node.values()]
        wanted += [(a.addr, port) for a in self.app.values() for port in (22, PGBOUNCER_PORT)]
        busy = [f'{addr}:{port}' for addr, port in wanted
                if listening(addr, port) or listening('0.0.0.0', port)]
        if busy:
            raise RigError(f'already in use: {", ".join(busy[:5])}{" ..." if len(busy) > 5 else ""} '
                           f'(another rig running? see `rig.py status`, `rig.py down --all`)')

    def _timed(self, name, fn):
        start = time.monotonic()
        result = fn()
        self.timings[name] = time.monotonic() - start
        return result

    def _make_base(self):
        parent = os.path.dirname(self.dir)
        if parent == RIG_ROOT:
            make_dir(RIG_ROOT, 0o755)
        os.makedirs(parent, exist_ok=True)
        check_secure_path(parent)
        os.mkdir(self.dir, 0o755)        # fails if it exists: never reuse a directory
        os.chmod(self.dir, 0o755)
        make_dir(os.path.join(self.dir, 'bin'))

    def down(self):
        """Kill everything this rig started and remove its directory. Idempotent."""
        if not os.path.isdir(self.dir):
            _unregister(self)
            return
        start = time.monotonic()
        for fault in self._faults:
            fault.close()
        self._faults.clear()
        for session in self._sessions:
            session.close()
        self._sessions.clear()
        shm_ids = []
        if self.dbhost and self.dbhost.alive():
            for node in self._every_node():   # a clean stop releases PostgreSQL's shared memory
                if os.path.exists(node.data_file('postmaster.pid')):
                    node.pg_ctl('stop', '-m', 'immediate', check=False, timeout=20)
            shm_ids = self._stale_shared_memory_ids()
        kill_namespaces([ns for ns in [self.dbhost] + [a.ns for a in self.app.values()] if ns])
        for proc in self._procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        self._procs.clear()
        self._remove_shared_memory(shm_ids)
        mounted = [line.split()[4] for line in read_text('/proc/self/mountinfo').splitlines()
                   if line.split()[4].startswith(self.dir + '/')]
        if mounted:     # never delete through a mount
            raise RigError(f'mounts left under {self.dir}: {mounted}')
        shutil.rmtree(self.dir)
        _unregister(self)
        log(f'down in {time.monotonic() - start:.1f}s: removed {self.dir}')

    def detach(self):
        """Leave the rig running after this process exits (used by `rig.py up`)."""
        _unregister(self)
        self._procs.clear()

    def _every_node(self):
        return list(self.node.values()) + [n for c in self.clusters for n in c.node.values()]

    def _stale_shared_memory_ids(self):
        """SysV segments named in postmaster.pid files left by kill -9'd postmasters."""
        ids = []
        for node in self._every_node():
            lines = (read_text(node.data_file('postmaster.pid')) or '').splitlines()
            if len(lines) >= 7 and len(lines[6].split()) == 2:
                ids.append(lines[6].split()[1])
        return ids

    @staticmethod
    def _remove_shared_memory(shm_ids):
        """Remove those of the segments that nobody attaches any more."""
        for line in (read_text('/proc/sysvipc/shm') or '').splitlines()[1:]:
            key, shmid, perms, size, cpid, lpid, nattch, uid = line.split()[:8]
            if shmid in shm_ids and nattch == '0' and int(uid) == POSTGRES[0]:
                run(['ipcrm', '-m', shmid], check=False)

    # ---- state (lets `rig.py down/status/...` work on a running rig) --------

    def _write_state(self):
        with self._lock:
            state = {
                'id': self.id, 'dir': self.dir, 'cluster': self.cluster, 'nodes': sorted(self.node),
                'app_servers': len(self.app), 'agent_source': self.agent_source,
                'notify': self.notify, 'admin_console': self.admin_console,
                'owner_pid': os.getpid(),
                'dbhost': self.dbhost.to_state() if self.dbhost else None,
                'apps': {str(a.index): a.ns.to_state() for a in self.app.values() if a.ns},
            }
            write_file(os.path.join(self.dir, 'state.json'), json.dumps(state, indent=1))

    @classmethod
    def attach(cls, rig_dir):
        """A Rig object for a rig started by another process (for instance `rig.py up`)."""
        path = os.path.join(os.path.abspath(rig_dir), 'state.json')
        try:
            with open(path) as f:
                state = json.load(f)
        except FileNotFoundError:
            raise RigError(f'no rig in {rig_dir} (missing {path})') from None
        rig = cls(app_servers=state['app_servers'], cluster=state['cluster'],
                  nodes=len(state['nodes']), base_dir=state['dir'],
                  agent=state['agent_source'], event_notification_command=state['notify'],
                  admin_console=state.get('admin_console', False))
        rig.id = state['id']
        if state['dbhost']:
            rig.dbhost = Namespace.from_state(state['dbhost'])
        for i, ns in state['apps'].items():
            rig.app[int(i)].ns = Namespace.from_state(ns)
        return rig

    # ---- DB host ------------------------------------------------------------

    def _prepare_dbhost_files(self):
        make_dir(os.path.join(self.dir, 'dbhost'))
        ssh_dir = make_dir(os.path.join(self.db_home, '.ssh'), 0o700, POSTGRES)
        make_dir(self.db_home, 0o755, POSTGRES)
        make_dir(self.socket_dir, 0o755, POSTGRES)
        write_file(os.path.join(self.db_home, MARKER), f'{self.id}/dbhost')
        key = os.path.join(ssh_dir, 'id_ed25519')
        run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'postgres@pgdeploy-rig-dbhost', '-f', key])
        os.chown(key, *POSTGRES)
        os.chown(key + '.pub', *POSTGRES)
        os.chmod(key, 0o600)
        self.db_public_key = read_text(key + '.pub')
        write_file(os.path.join(self.db_home, '.pgpass'),
                   f'*:*:*:repmgr:x\n*:*:*:{APP_USER}:{APP_PASSWORD}\n', 0o600, POSTGRES)

    def _start_dbhost(self):
        self.dbhost = Namespace.create(f'{PG_HOME}/{MARKER}', f'{self.id}/dbhost', self._procs)
        self._write_state()
        binds = [(self.db_home, PG_HOME)]
        if os.path.isdir('/run/postgresql'):   # so pgdeploy's default -p finds the sockets
            binds.append((self.socket_dir, '/run/postgresql'))
        self.dbhost.bind(binds)
        first, standbys = self.node[1], list(self.node.values())[1:]
        self._timed('primary', first._init_primary)
        with concurrent.futures.ThreadPoolExecutor(len(standbys)) as pool:
            for job in [pool.submit(self._timed, 'standby', lambda node=node: node._init_standby(first))
                        for node in standbys]:
                job.result()
        wait_for(lambda: first.psql("select count(*) from pg_stat_replication where state = 'streaming'")
                 == [[str(len(standbys))]], 20, 'standbys streaming')

    def pg(self, argv, **kwargs):
        """Run a PostgreSQL/repmgr binary as postgres inside the DB host."""
        return self.dbhost.run([os.path.join(PG_BIN, argv[0])] + list(argv[1:]), user=PG_USER,
                               cwd=self.dir, **kwargs)

    def set_event_notification(self, template):
        """Wire (or with None, unwire) repmgr's event_notification_command on every node.

        template is formatted per node with {agent} {cluster} {port} {node}; see SEED_NOTIFY.
        """
        self.notify = template
        if template and self.agent_source:
            self.install_agent()
        for node in self.node.values():
            node.write_repmgr_conf()
            pid = node.repmgrd_pid()
            if pid:
                os.kill(pid, signal.SIGHUP)
        self._write_state()

    def use_public_net(self):
        """Fill repmgr.node_public_info with every node's public address (127.0.3.n), so an
        agent run with -P routes PgBouncer there and not to repmgr's conninfo (127.0.0.1)."""
        rows = ', '.join(f"({n.index}, {sql_literal(f'host={n.public_addr} port={n.port}')})"
                         for n in self.node.values())
        self.primary().psql('CREATE TABLE IF NOT EXISTS repmgr.node_public_info '
                            '(node_id INTEGER PRIMARY KEY, conninfo TEXT);\n'
                            'DELETE FROM repmgr.node_public_info;\n'
                            f'INSERT INTO repmgr.node_public_info VALUES {rows}')

    def add_cluster(self, name, first_node, app_user, app_password, app_db, nodes=2):
        """A second repmgr cluster on this DB host, deploying to the same app servers: nodes
        first_node.. (ports 5440 + n), its own cluster name, application role and database, and
        its own repmgr.app_servers with the same rows as the first cluster's. Call after up()."""
        other = OtherCluster(self, name, [Node(self, n, name, app_user, app_password, app_db)
                                          for n in range(first_node, first_node + nodes)])
        self.clusters.append(other)
        for app in self.app.values():
            app.include_cluster(name)
        first, standbys = other.node[first_node], list(other.node.values())[1:]
        first._init_primary()
        for node in standbys:
            node._init_standby(first)
        rows = self.node[1].psql('SELECT name, ip_addr, username, application_name, enabled, auth_trust, '
                                 'admin_conninfo FROM repmgr.app_servers ORDER BY id')
        first.psql(app_servers_ddl('repmgr') + (insert_app_servers_sql(
            'repmgr', [(*r[:4], r[4] == 't', r[5] == 't', r[6]) for r in rows]) if rows else ''))
        return other

    def primary(self):
        """The node (a Node) that is up and not in recovery (the first one, if several)."""
        for node in self.node.values():
            if node.postmaster_pid() and node.is_writable():
                return node
        raise RigError('no writable node')

    # ---- catalog helpers ----------------------------------------------------

    def _create_app_servers_table(self):
        rows = [(a.name, a.addr) + (('postgres', '', True, False, a.admin_conninfo())
                                    if self.admin_console else ())
                for a in self.app.values()]
        self.node[1].psql(app_servers_ddl('repmgr')
                          + (insert_app_servers_sql('repmgr', rows) if rows else ''))

    def insert_app_server(self, name, ip, username='postgres', application_name='', enabled=True,
                          auth_trust=False, schema='repmgr', db='repmgr', admin_conninfo=''):
        """Add a row to <schema>.app_servers on the primary; returns its id."""
        row = (name, ip, username, application_name, bool(enabled), bool(auth_trust))
        if admin_conninfo:
            row += (admin_conninfo,)
        return int(self.primary().psql(insert_app_servers_sql(schema, [row], 'RETURNING id'), db=db)[0][0])

    def create_repmgr3_catalog(self, db='legacy'):
        """A repmgr 3 style catalog (schema repmgr_<cluster>: repl_nodes, app_servers)
        in a separate database, filled from this rig's repmgr 5 catalog.
        Returns the conninfo to give pgdeploy with -p."""
        primary = self.primary()
        schema = sql_ident(f'repmgr_{self.cluster}')
        nodes = primary.psql('SELECT node_id, type, upstream_node_id, node_name, conninfo, '
                             'slot_name, priority, active FROM repmgr.nodes ORDER BY node_id')
        servers = primary.psql('SELECT name, ip_addr, username, application_name, enabled '
                               'FROM repmgr.app_servers ORDER BY id')
        primary.psql(f'CREATE DATABASE {sql_ident(db)} OWNER repmgr')

        def value(v):
            return 'NULL' if v == '' else sql_literal(v)
        node_rows = ', '.join(
            f"({nid}, {sql_literal('master' if typ == 'primary' else typ)}, {value(up)}, "
            f"{sql_literal(self.cluster)}, {sql_literal(name)}, {sql_literal(ci)}, {value(slot)}, "
            f"{prio}, {sql_value(act == 't')})"
            for nid, typ, up, name, ci, slot, prio, act in nodes)
        server_rows = [(*row[:4], row[4] == 't') for row in servers]
        primary.psql(f"""CREATE SCHEMA {schema};
CREATE TABLE {schema}.repl_nodes (
  id INTEGER PRIMARY KEY,
  type TEXT NOT NULL CHECK (type IN ('master', 'standby', 'witness')),
  upstream_node_id INTEGER NULL REFERENCES {schema}.repl_nodes (id) DEFERRABLE,
  cluster TEXT NOT NULL,
  name TEXT NOT NULL,
  conninfo TEXT NOT NULL,
  slot_name TEXT NULL,
  priority INTEGER NOT NULL,
  active BOOLEAN NOT NULL DEFAULT TRUE);
CREATE TABLE {schema}.repl_events (
  node_id INTEGER NOT NULL, event TEXT NOT NULL, successful BOOLEAN NOT NULL DEFAULT TRUE,
  event_timestamp TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP, details TEXT NULL);
INSERT INTO {schema}.repl_nodes VALUES {node_rows};
""" + app_servers_ddl(schema, auth_trust=False, admin_conninfo=False)
                     + (insert_app_servers_sql(schema, server_rows) if server_rows else ''), db=db)
        return primary.conninfo(dbname=db)


    # ---- the agent ----------------------------------------------------------

    def install_agent(self, source=None):
        """Copy pgdeploy into the rig (postgres cannot run it from /root)."""
        source = source or self.agent_source
        if not source or not os.path.isfile(source):
            raise RigError(f'pgdeploy binary not found: {source!r} (set PGDEPLOY)')
        self.agent_source = os.path.abspath(source)
        st = os.stat(source)
        try:
            cur = os.stat(self.agent_path)
            if (cur.st_size, cur.st_mtime_ns) == (st.st_size, st.st_mtime_ns):
                return self.agent_path
        except FileNotFoundError:
            pass
        tmp = self.agent_path + '.tmp'
        shutil.copy2(source, tmp)
        os.chmod(tmp, 0o755)
        os.rename(tmp, self.agent_path)    # atomic: repmgr may be running the old copy
        return self.agent_path

    def run_agent(self, args, env=None, timeout=60):
        """Run pgdeploy ARGS as postgres in the DB host; return (rc, stdout, stderr)."""
        agent = self.install_agent()
        proc = subprocess.Popen(self.dbhost.argv([agent, *args], PG_USER), cwd=self.dir,
                                env=postgres_env(env), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            raise RigError(f'pgdeploy {shlex.join(args)} still running after {timeout}s\n'
                           f'stdout:\n{out}\nstderr:\n{err}') from None
        return proc.returncode, out, err

    # ---- the DB host's known_hosts ------------------------------------------------

    def known_hosts_path(self):
        return os.path.join(self.db_home, '.ssh', 'known_hosts')

    def write_known_hosts(self):
        """The DB host's known_hosts with every app server's host key, as an operator has it
        after setup step 6, docs/setup.md (pgdeploy refuses unknown host keys by default)."""
        lines = [f'{a.addr} {a.host_public_key()}\n' for a in self.app.values()]
        write_file(self.known_hosts_path(), ''.join(lines), 0o600, POSTGRES)

    def forget_known_host(self, addr):
        """Remove addr's entries (plain or hashed) from the DB host's known_hosts."""
        path = self.known_hosts_path()
        if os.path.exists(path):
            run(['ssh-keygen', '-q', '-R', addr, '-f', path], check=False)
            os.chown(path, *POSTGRES)
            if os.path.exists(path + '.old'):
                os.unlink(path + '.old')

    def set_known_host(self, addr, public_key):
        """Make `addr <public_key>` the only known_hosts entry for addr (a wrong key
        simulates a changed host key; rig.app[i].host_public_key() is the right one)."""
        self.forget_known_host(addr)
        text = (read_text(self.known_hosts_path()) or '') + f'{addr} {public_key.strip()}\n'
        write_file(self.known_hosts_path(), text, 0o600, POSTGRES)

    def known_host_keys(self, addr):
        """Key lines known_hosts holds for addr ('ssh-ed25519 AAAA...'), hashed entries included."""
        path = self.known_hosts_path()
        if not os.path.exists(path):
            return []
        out = run(['ssh-keygen', '-F', addr, '-f', path], check=False).stdout
        return [' '.join(line.split()[1:3]) for line in out.splitlines() if line and not line.startswith('#')]

    def new_public_key(self, comment='pgdeploy-rig-stranger'):
        """A fresh ed25519 public key line that nobody in the rig trusts."""
        with tempfile.TemporaryDirectory(dir=self.dir) as d:
            run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', f'{d}/k'])
            return read_text(f'{d}/k.pub').strip()

    # ---- fault hosts ----------------------------------------------------------

    def add_hanging_host(self, addr, port=22, greeting=b''):
        """addr:port accepts TCP and never sends a byte (but greeting, if given)."""
        return self.add_fault(faults.HangingHost(addr, port, greeting))

    def add_blackhole_host(self, addr, port=22):
        """addr:port has a full accept queue: connects time out."""
        return self.add_fault(faults.BlackholeHost(addr, port))

    def add_fault(self, fault):
        """Keep anything with a close() until down(), which closes it before anything else."""
        self._faults.append(fault)
        return fault

    # ---- self test ----------------------------------------------------------

    def verify(self):
        """Check the rig by hand-equivalent probes; raise RigError on the first problem."""
        first = self.node[1]
        roles = first.psql('SELECT node_name, type, active FROM repmgr.nodes ORDER BY node_id')
        expected = [[node.name, 'primary' if node is first else 'standby', 't']
                    for node in self.node.values()]
        if roles != expected:
            raise RigError(f'repmgr.nodes is {roles}, expected {expected}')
        for node in list(self.node.values())[1:]:
            if node.psql('select pg_is_in_recovery()') != [['t']]:
                raise RigError(f'{node.name} is not a standby')
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(AppServer.verify, self.app.values()))
        return True

    def describe(self):
        lines = [f'rig {self.id} in {self.dir} (cluster {self.cluster!r})']
        lines += [node.describe() for node in self.node.values()]
        lines += [a.describe() for a in self.app.values()]
        return '\n'.join(lines)


def check_secure_path(path):
    """sshd StrictModes and sudo need root-owned, not group/world-writable ancestors."""
    path = os.path.abspath(path)
    while True:
        st = os.stat(path)
        if st.st_uid != 0 or st.st_mode & 0o022:
            raise RigError(f'{path} is not a safe place for a rig (must be root-owned and not '
                           'group/world-writable all the way up; /tmp is not)')
        if path == '/':
            return
        path = os.path.dirname(path)


# --------------------------------------------------------------------------
# CLI

def _cmd_up(args):
    template = SEED_NOTIFY if args.notify else None
    if args.notify and not args.agent and not os.environ.get('PGDEPLOY'):
        raise RigError('--notify needs --agent PATH (or PGDEPLOY)')
    rig = Rig(app_servers=args.app_servers, cluster=args.cluster, nodes=args.nodes,
              base_dir=args.dir, agent=args.agent, event_notification_command=template,
              admin_console=args.admin_console)
    rig.up()
    if rig.agent_source and os.path.isfile(rig.agent_source):
        rig.install_agent()
    if args.verify:
        rig.verify()
    for n in args.repmgrd or []:
        rig.node[n].start_repmgrd()
    rig.detach()
    print(rig.dir)


def _cmd_down(args):
    dirs = [os.path.join(RIG_ROOT, d) for d in sorted(os.listdir(RIG_ROOT))] \
        if args.all and os.path.isdir(RIG_ROOT) else [args.dir] if args.dir else []
    if not dirs and not args.all:
        raise RigError('down needs --dir DIR or --all')
    for d in dirs:
        if os.path.exists(os.path.join(d, 'state.json')):
            Rig.attach(d).down()
        elif args.all and os.path.isdir(d):
            log(f'{d}: no state.json, leaving it alone')


def _cmd_status(args):
    dirs = [args.dir] if args.dir else [os.path.join(RIG_ROOT, d) for d in sorted(os.listdir(RIG_ROOT))] \
        if os.path.isdir(RIG_ROOT) else []
    if not dirs:
        print('no rigs')
    for d in dirs:
        print(Rig.attach(d).describe())


def _cmd_agent(args):
    rig = Rig.attach(args.dir)
    if args.install:
        rig.install_agent(args.install)
    rc, out, err = rig.run_agent(args.args, timeout=args.timeout)
    sys.stdout.write(out)
    sys.stderr.write(err)
    return rc


def _cmd_reach(args):
    rig = Rig.attach(args.dir)
    want = (False, rig.node[args.expect_node].port) if args.expect_node else None
    deadline = time.monotonic() + args.timeout
    while True:
        seen = {a: a.reaches() for a in rig.app.values()}
        if want is None or all(got == want for got in seen.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for a, got in seen.items():
        where = 'no answer' if got is None else (
            f'node{got[1] - NODE_PORT_BASE} (port {got[1]}, {"standby" if got[0] else "primary"})')
        print(f'  {a.name} {a.addr}:{PGBOUNCER_PORT} -> {where}')
    return 1 if want and any(got != want for got in seen.values()) else 0


def _cmd_node(args):
    node = Rig.attach(args.dir).node[args.node]
    action = {'kill-node': node.kill, 'stop-node': node.stop, 'start-node': node.start,
              'promote': lambda: node.promote(capture=False),
              'start-repmgrd': node.start_repmgrd}[args.command]
    action()


def _cmd_psql(args):
    for row in Rig.attach(args.dir).node[args.node].psql(args.sql, db=args.db):
        print('|'.join(row))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)

    p = sub.add_parser('up', help='start a rig and leave it running; prints its directory')
    p.add_argument('--app-servers', type=int, default=3)
    p.add_argument('--nodes', type=int, default=2, choices=(2, 3))
    p.add_argument('--cluster', default='main')
    p.add_argument('--dir', help=f'base directory (default {RIG_ROOT}/<run id>)')
    p.add_argument('--agent', help='pgdeploy binary to copy into the rig (default $PGDEPLOY)')
    p.add_argument('--notify', action='store_true',
                   help='wire repmgr event_notification_command to pgdeploy as the seed README does')
    p.add_argument('--repmgrd', type=int, action='append', metavar='NODE', help='start repmgrd on NODE')
    p.add_argument('--admin-console', action='store_true',
                   help="fill app_servers.admin_conninfo: pgdeploy reloads through PgBouncer's admin "
                        'console and cuts sessions on the old primary')
    p.add_argument('--verify', action='store_true', help='self-test (ssh login, PgBouncer, repmgr)')
    p.set_defaults(func=_cmd_up)

    p = sub.add_parser('down', help='stop a rig and remove its directory')
    p.add_argument('--dir')
    p.add_argument('--all', action='store_true', help=f'every rig under {RIG_ROOT}')
    p.set_defaults(func=_cmd_down)

    p = sub.add_parser('status', help='show rigs')
    p.add_argument('--dir')
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser('agent', help='run pgdeploy ARGS as postgres on the DB host')
    p.add_argument('--dir', required=True)
    p.add_argument('--install', metavar='PATH', help='copy this binary into the rig first')
    p.add_argument('--timeout', type=float, default=120)
    p.add_argument('args', nargs=argparse.REMAINDER)
    p.set_defaults(func=_cmd_agent)

    p = sub.add_parser('reach', help='show which node each PgBouncer leads to')
    p.add_argument('--dir', required=True)
    p.add_argument('--expect-node', type=int, metavar='N',
                   help='wait until every PgBouncer leads to node N as a primary; exit 1 if not')
    p.add_argument('--timeout', type=float, default=30)
    p.set_defaults(func=_cmd_reach)

    for name in ('kill-node', 'stop-node', 'start-node', 'promote', 'start-repmgrd'):
        p = sub.add_parser(name)
        p.add_argument('--dir', required=True)
        p.add_argument('node', type=int)
        p.set_defaults(func=_cmd_node)

    p = sub.add_parser('psql', help='run SQL on a node, print rows')
    p.add_argument('--dir', required=True)
    p.add_argument('--db', default='repmgr')
    p.add_argument('node', type=int)
    p.add_argument('sql')
    p.set_defaults(func=_cmd_psql)

    args = parser.parse_args(argv)
    if getattr(args, 'args', None) and args.args[0] == '--':
        args.args = args.args[1:]
    try:
        return args.func(args) or 0
    except RigError as e:
        log(f'error: {e}')
        return 1


if __name__ == '__main__':
    sys.exit(main())
