"""Shared pieces of the pgdeploy integration tests.

Each test file is runnable on its own (`/usr/bin/python3 tests/integration/test_x.py`,
as root) or all together (`/usr/bin/python3 -m unittest discover -s tests/integration`).
The agent under test is $PGDEPLOY; without it every test is skipped.
"""

import collections
import concurrent.futures
import itertools
import os
import re
import sys
import subprocess
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'rig'))

import rig  # noqa: E402,F401  (the tests use support.rig)
from rig import APP_DB, APP_PASSWORD, APP_USER, PG_HOME, Rig, remote_files  # noqa: E402,F401

Result = collections.namedtuple('Result', 'rc out err elapsed')


def agent_binary():
    """$PGDEPLOY as an absolute path, or skip the tests with the reason."""
    path = os.environ.get('PGDEPLOY')
    if not path:
        raise unittest.SkipTest('PGDEPLOY is not set: export PGDEPLOY=/path/to/pgdeploy to run '
                                'the integration tests')
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise unittest.SkipTest(f'PGDEPLOY={path} is not an executable file (build pgdeploy first)')
    return os.path.abspath(path)


def require_root():
    if os.geteuid() != 0:
        raise unittest.SkipTest('the integration rig needs root (namespaces, sshd, runuser)')


def sshd_logins(the_rig, i):
    """SSH logins accepted so far by app server i's sshd (LogLevel VERBOSE)."""
    return (rig.read_text(the_rig.app[i].sshd_log) or '').count('Accepted publickey')


def ssh_connections(pid):
    """TCP connections to port 22 that process `pid` holds, in any state: a connection the agent
    dropped without closing its socket stays ESTABLISHED or CLOSE-WAIT here."""
    out = subprocess.run(['ss', '-Htanp', '( dport = :22 )'], capture_output=True, text=True,
                         check=True).stdout
    return sum(1 for line in out.splitlines() if f'pid={pid},' in line)


def wait_until(probe, timeout, interval=0.25):
    """Call probe() until it returns something truthy or timeout passes; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


class RigTestCase(unittest.TestCase):
    """Tests sharing one rig per class (setUpClass); set rig_options to shape it."""

    rig_options = {}
    rig = None
    _names = itertools.count(1)

    @classmethod
    def setUpClass(cls):
        require_root()
        cls.agent = agent_binary()
        cls.rig = Rig(agent=cls.agent, **cls.rig_options)
        cls.addClassCleanup(cls.rig.down)
        cls.rig.up()
        cls.rig.install_agent()

    # ---- running the agent ----------------------------------------------------

    @classmethod
    def run_agent(cls, *args, node=1, env=None, timeout=60):
        """pgdeploy -c <cluster> -p <node's conninfo> ARGS (override -c/-p by passing them)."""
        argv = list(args)
        if '-c' not in argv and '--cluster' not in argv:
            argv = ['-c', cls.rig.cluster] + argv
        if '-p' not in argv and '--pgconnstring' not in argv:
            argv += ['-p', cls.rig.node[node].conninfo()]
        start = time.monotonic()
        rc, out, err = cls.rig.run_agent(argv, env=env, timeout=timeout)
        return Result(rc, out, err, time.monotonic() - start)

    @classmethod
    def run_agent_in_background(cls, *args, **kwargs):
        """run_agent in a thread; returns a Future of its Result."""
        pool = concurrent.futures.ThreadPoolExecutor(1)
        future = pool.submit(cls.run_agent, *args, **kwargs)
        pool.shutdown(wait=False)
        return future

    @staticmethod
    def require(result, code, what):
        """assertExit for setUpClass, where there is no test yet."""
        if result.rc != code:
            raise AssertionError(f'{what}: pgdeploy exit {result.rc}, expected {code}\n'
                                 f'--- stdout:\n{result.out}--- stderr:\n{result.err}')
        return result

    def server_line(self, result, i):
        """The report line of app server i ('app1 127.0.1.1: updated (...)')."""
        a = self.rig.app[i]
        lines = [line for line in result.out.splitlines()
                 if line.startswith(f'{a.name} {a.addr}:') or line.startswith(f'{a.name} {a.addr} (')]
        self.assertEqual(len(lines), 1, f'expected one report line for {a.name}:\n{result.out}')
        return lines[0]

    def assertExit(self, result, code):
        self.assertEqual(result.rc, code, f'pgdeploy exit {result.rc}, expected {code}\n'
                                          f'--- stdout:\n{result.out}--- stderr:\n{result.err}')

    def assertNamesHost(self, result, i_or_addr, name=None):
        """The output (stdout or stderr) mentions this host by name or address."""
        if isinstance(i_or_addr, int):
            a = self.rig.app[i_or_addr]
            addr, name = a.addr, a.name
        else:
            addr = i_or_addr
        text = result.out + result.err
        self.assertTrue(re.search(rf'(?<![\d.]){re.escape(addr)}(?![\d])', text)
                        or (name and re.search(rf'\b{re.escape(name)}\b', text)),
                        f'output does not name {name or ""} {addr}:\n{text}')

    def create_database(self, prefix='probe'):
        """A new database on the primary: gives the next deploy something to change
        (pgdeploy may leave servers that are already up to date untouched)."""
        name = f'{prefix}_{next(self._names)}'
        self.rig.primary().psql(f'CREATE DATABASE {name}')
        return name

    # ---- what the app servers see ----------------------------------------------

    def assertReaches(self, i, port, in_recovery=False, db=APP_DB):
        self.assertEqual(self.rig.app[i].reaches(db=db), (in_recovery, port),
                         f'a client through app{i} PgBouncer to {db} should reach port {port} '
                         f'(in recovery: {in_recovery})\n{self.rig.app[i].pgbouncer_log_tail()}')

    def wait_reaches(self, servers, port, timeout):
        """Poll (bounded) until every app server's PgBouncer leads to a writable `port`."""
        def all_there():
            return all(self.rig.app[i].reaches() == (False, port) for i in servers)
        if not wait_until(all_there, timeout, 0.5):
            seen = {i: self.rig.app[i].reaches() for i in servers}
            self.fail(f'after {timeout}s PgBouncers lead to {seen}, expected (False, {port}) everywhere')

    def assertDeployed(self, i, db, port=5441, reloads_before=None):
        """App server i got database db (its own line, clients reach it) and one reload."""
        entry = self.rig.app[i].ini_entry(db)
        self.assertIsNotNone(entry, f'app{i} has no line for {db}')
        self.assertIn(f'port={port}', entry.split())
        self.assertReaches(i, port, db=db)
        if reloads_before is not None:
            self.assertEqual(self.rig.app[i].reload_count(), reloads_before + 1, f'app{i} reloads')

    def snapshot(self, servers):
        """AppServer.snapshot() of these servers, keyed (i, what)."""
        return {(i, what): value for i in servers for what, value in self.rig.app[i].snapshot().items()}

    def assertUntouched(self, before, servers):
        after = self.snapshot(servers)
        changed = [key for key in before if before[key] != after[key]]
        self.assertEqual(changed, [], 'pgdeploy changed app servers although it must write nothing')


def main():
    unittest.main(verbosity=2)
