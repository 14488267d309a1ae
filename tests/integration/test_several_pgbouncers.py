#!/usr/bin/python3
"""Several PgBouncer processes on one app server (issue 23): two processes share port 6432
(so_reuseport = 1), each with its own unix_socket_dir, pidfile and logfile
(AppServer.add_pgbouncers), and app1's one app_servers row lists both sockets in admin_sockets.

A client is held on EACH process (through its own unix socket, so we know which process holds
it) to node1; node2 is promoted behind a live node1 (repmgr's catalog records it), so a session
that is not cut really keeps talking to the old primary. The tests run in their numbered order:
the failover (both processes reloaded, confirmed, both sessions cut), then a process pointed
back at node1 by hand (its own ini overrides the shared include file: CRITICAL in check, named),
then a process killed (the push fails that server, naming the process; the other still updated),
then a process the row does not list (a deploy notes it, check warns, both name it)."""

import os
import signal
import unittest

import support
from support import APP_DB, RigTestCase

APP = 1
PORT_SQL = 'select inet_server_port()'


def two_processes_deployed(cls):
    """app1 gets a second PgBouncer process, both listed in admin_sockets; node1 deploys; a client
    session is held through each process's own socket (cls.held). Returns the first deploy."""
    app = cls.rig.app[APP]
    cls.dirs = app.add_pgbouncers(1)
    app.set_admin_sockets(cls.dirs)
    first = cls.require(cls.run_agent(), 0, 'first deploy (node1)')
    cls.held = [app.client_session(host=d) for d in cls.dirs]
    return first


class SeveralPgBouncersTest(RigTestCase):
    rig_options = {'app_servers': 1, 'admin_console': True}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        app = cls.rig.app[APP]
        cls.first = two_processes_deployed(cls)
        cls.held_port_before = [s.query(PORT_SQL) for s in cls.held]
        cls.reloads_before = app.console_reload_count()
        cls.rig.node[2].promote_behind_repmgr(record=True)   # node1 keeps running, writable
        cls.deploy = cls.run_agent(node=2)

    def routes(self, k):
        """Where process k (1-based) routes appdb: 'host:port' from SHOW DATABASES on its console."""
        rc, out, err = self.rig.app[APP].admin_query('SHOW DATABASES', socket_dir=self.dirs[k - 1])
        self.assertEqual(rc, 0, f'process {k} console: {err}')
        for line in out.splitlines():
            cols = line.split('|')
            if cols[0] == APP_DB:
                return f'{cols[1]}:{cols[2]}'
        return None

    def test_1_a_failover_reloads_confirms_and_cuts_on_every_process(self):
        self.assertEqual(self.held_port_before, ['5441\n', '5441\n'], 'both sessions should start on node1')
        self.assertNotEqual(self.rig.app[APP].pgbouncer_pid_of(1), self.rig.app[APP].pgbouncer_pid_of(2))
        self.assertExit(self.deploy, 0)
        self.assertRegex(self.server_line(self.deploy, APP),
                         r': updated \(.*\breloaded, routes confirmed; sessions cut\)')
        for k in (1, 2):
            self.assertEqual(self.routes(k), '127.0.0.1:5442', f'process {k} after the failover')
            self.assertIsNone(self.held[k - 1].query(PORT_SQL),
                              f'the session held on process {k} still answers after "sessions cut"')
            session = self.rig.app[APP].client_session(host=self.dirs[k - 1])
            self.addCleanup(session.close)
            self.assertEqual(session.query(PORT_SQL), '5442\n', f'a new session on process {k}')
        # One RELOAD per process on its console (both log to their own file; the first's is counted).
        self.assertEqual(self.rig.app[APP].console_reload_count(), self.reloads_before + 1)
        second_log = support.rig.read_text(f'{self.dirs[1]}/pgbouncer.log') or ''
        self.assertIn('LOG RELOAD command issued', second_log)

    def test_2_a_process_pointed_back_by_hand_is_critical_and_named(self):
        self.rig.node[1].stop()    # the stale primary would make the check CRITICAL by itself
        ok = self.run_agent('check', node=2)
        self.assertExit(ok, 0)
        # Process 2 only: its own ini routes appdb to node1 after the shared %include.
        app = self.rig.app[APP]
        ini = app.pgbouncer_ini_of(2)
        original = support.rig.read_text(ini)
        self.addCleanup(lambda: (support.rig.write_file(ini, original, 0o640, support.rig.POSTGRES),
                                 app.admin_query('RELOAD', socket_dir=self.dirs[1])))
        support.rig.write_file(ini, original.replace(
            '.ini\n', f'.ini\n{APP_DB} = host=127.0.0.1 port=5441 dbname={APP_DB}\n', 1), 0o640, support.rig.POSTGRES)
        rc, _, err = app.admin_query('RELOAD', socket_dir=self.dirs[1])
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.routes(2), '127.0.0.1:5441')
        self.assertEqual(self.routes(1), '127.0.0.1:5442')
        result = self.run_agent('check', node=2)
        self.assertExit(result, 2)
        self.assertIn(f'WRONG PgBouncer at {self.dirs[1]} routes {APP_DB} to 127.0.0.1:5441', result.out)
        self.assertNotIn(f'PgBouncer at {self.dirs[0]} routes', result.out)

    def test_3_a_stopped_process_fails_the_server_by_name_and_the_other_is_updated(self):
        app = self.rig.app[APP]
        os.kill(app.pgbouncer_pid_of(2), signal.SIGKILL)
        db = self.create_database('several')
        result = self.run_agent(node=2)
        self.assertExit(result, 3)
        line = self.server_line(result, APP)
        self.assertIn('FAILED', line.upper())
        self.assertIn(f'PgBouncer at {self.dirs[1]}', line)
        self.assertNotIn(f'PgBouncer at {self.dirs[0]}:', line)
        self.assertIn(f'port=5442', app.ini_entry(db).split())
        rc, out, _ = app.admin_query('SHOW DATABASES', socket_dir=self.dirs[0])
        self.assertIn(f'{db}|127.0.0.1|5442', out, 'the first process still took the new database')
        check = self.run_agent('check', node=2)
        self.assertExit(check, 2)
        self.assertRegex(check.out, rf'UNREACHABLE .*the admin console of PgBouncer at {self.dirs[1]} cannot be asked')

    def test_4_a_process_the_row_does_not_list_is_named(self):
        app = self.rig.app[APP]
        app.set_admin_sockets(self.dirs[:1], node=self.rig.node[2])   # process 2 is gone (test 3); list only process 1
        dirs = app.add_pgbouncers(1)                  # one more on the port, not listed
        third = dirs[-1]
        self.assertNotIn(third, self.dirs)
        pid = app.pgbouncer_pid_of(int(third.rsplit('-', 1)[1]))
        self.create_database('unlisted')
        result = self.run_agent(node=2)
        self.assertExit(result, 0)
        self.assertIn(f'no console of this row reached, so neither reloaded nor asked: pid {pid} '
                      f'(/usr/sbin/pgbouncer /etc/pgbouncer/pgbouncer-{third.rsplit("-", 1)[1]}.ini)', result.out)
        check = self.run_agent('check', node=2)
        self.assertExit(check, 1)
        self.assertIn(f'PgBouncer process pid {pid} (/usr/sbin/pgbouncer', check.out)


class DrainOnSeveralPgBouncersTest(RigTestCase):
    """A drain (--sessions drain) PAUSEs every process at once (push.pl pause_all). Each of the
    two processes holds a session to node1 inside an open transaction (pool_mode session: its
    server connection stays busy), so neither PAUSE can finish: each waits out --pause-timeout,
    then falls back to the cut. One process after the other, the push would take twice that."""

    rig_options = {'app_servers': 1, 'admin_console': True}
    PAUSE = 4   # seconds: long beside the rest of a push (well under a second here)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        two_processes_deployed(cls)
        for s in cls.held:
            s.query('BEGIN')
        cls.held_port_before = [s.query(PORT_SQL) for s in cls.held]
        cls.rig.node[2].promote_behind_repmgr(record=True)
        # The pause may take half the host's time (pgbouncer/console pause_seconds).
        cls.deploy = cls.run_agent('--sessions', 'drain', '--pause-timeout', str(cls.PAUSE),
                                   '--host-timeout', str(3 * cls.PAUSE), node=2)

    def test_every_process_is_paused_at_once_then_cut(self):
        self.assertEqual(self.held_port_before, ['5441\n', '5441\n'], 'both sessions should start on node1')
        self.assertExit(self.deploy, 0)
        self.assertRegex(self.server_line(self.deploy, APP), r'routes confirmed; sessions cut\)')
        for k, d in enumerate(self.dirs, 1):
            log = support.rig.read_text(f'{d}/pgbouncer.log') or ''
            self.assertRegex(log, r"PAUSE '\w+' command issued", f'process {k} was not paused')
            self.assertIsNone(self.held[k - 1].query(PORT_SQL), f'the session held on process {k} survived')
            rc, out, err = self.rig.app[APP].admin_query('SHOW DATABASES', socket_dir=d)
            self.assertEqual(rc, 0, err)
            paused = [row.split('|')[0] for row in out.splitlines() if row.split('|')[11] != '0']
            self.assertEqual(paused, [], f'process {k} was left paused')
        # Both PAUSEs waited out the pause time; together, not one after the other.
        self.assertGreaterEqual(self.deploy.elapsed, self.PAUSE)
        self.assertLess(self.deploy.elapsed, 1.5 * self.PAUSE, self.deploy.out)


if __name__ == '__main__':
    support.main()
