#!/usr/bin/python3
"""Fencing sessions: clients that sit on the old primary through PgBouncer (pool_mode =
session) when the primary moves while the old one still runs (node2 promoted behind a live
node1, as after a network partition; repmgr's catalog on node2 records it, as
`repmgr standby promote` does).

SessionFencingTest: app1 has admin_conninfo set (PgBouncer's admin console): its held session is
cut and the report says "sessions cut". app2 has none: "sessions not cut", and its held session
really does keep talking to the old primary. DrainOnSwitchoverTest: the gentler switchover mode.
DrainThenFailedReloadTest: a failed reload after a drain. OddNameSessionFencingTest: a session
to a database reached through the `*` fallback is cut too. DeadPrimaryBackOffTest: the cut also
ends PgBouncer's back-off after failed logins to a dead primary; a reload alone does not."""

import unittest

import support
from support import RigTestCase

CONSOLE, NO_CONSOLE = 1, 2
SERVERS = (CONSOLE, NO_CONSOLE)
PORT_SQL = 'select inet_server_port()'


class SessionFencingTest(RigTestCase):
    rig_options = {'app_servers': len(SERVERS), 'admin_console': True}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.rig.app[NO_CONSOLE].set_admin_conninfo('')
        cls.require(cls.run_agent(), 0, 'first deploy (node1)')
        cls.held = {i: cls.rig.app[i].client_session() for i in SERVERS}
        cls.held_port_before = {i: cls.held[i].query(PORT_SQL) for i in SERVERS}
        cls.rig.node[2].promote_behind_repmgr(record=True)   # node1 keeps running, writable on timeline 1
        cls.reloads_before = {i: (cls.rig.app[i].reload_count(), cls.rig.app[i].console_reload_count())
                              for i in SERVERS}
        cls.deploy = cls.run_agent(node=2)

    def test_deploy_to_node2_fences_the_running_node1(self):
        self.assertEqual(self.held_port_before, {i: '5441\n' for i in SERVERS},
                         'the held sessions should start on node1')
        self.assertExit(self.deploy, 0)
        self.assertIn('primary node2 (id 2) at 127.0.0.1:5442, timeline 2', self.deploy.out)
        self.assertRegex(self.deploy.out, r'warning: node1 \(id 1\) is writable too')
        for i in SERVERS:
            self.assertIn('port=5442', self.rig.app[i].ini_entry(support.APP_DB).split())

    def test_held_session_is_cut_through_the_admin_console(self):
        line = self.server_line(self.deploy, CONSOLE)
        self.assertRegex(line, r": updated \(.*\breloaded, routes confirmed; sessions cut\)")
        self.assertIsNone(self.held[CONSOLE].query(PORT_SQL),
                          'the session held through app1 still answers after "sessions cut"')
        self.assertIn('connection to server was lost', self.held[CONSOLE].error_output())
        self.assertReaches(CONSOLE, port=5442)
        service, console = self.reloads_before[CONSOLE]
        self.assertEqual(self.rig.app[CONSOLE].console_reload_count(), console + 1,
                         'app1 must be reloaded through the admin console')
        self.assertEqual(self.rig.app[CONSOLE].reload_count(), service, 'and not by sudo service')

    def test_held_session_survives_without_the_admin_console(self):
        line = self.server_line(self.deploy, NO_CONSOLE)
        self.assertRegex(line, r': updated \(.*\breloaded; sessions not cut\b')
        # What "not cut" means: this client still writes to the old primary.
        self.assertEqual(self.held[NO_CONSOLE].query(PORT_SQL), '5441\n')
        self.assertReaches(NO_CONSOLE, port=5442)      # new sessions do go to node2
        service, console = self.reloads_before[NO_CONSOLE]
        self.assertEqual(self.rig.app[NO_CONSOLE].reload_count(), service + 1)
        self.assertEqual(self.rig.app[NO_CONSOLE].console_reload_count(), console)

    def test_sessions_on_the_current_primary_survive_a_redeploy(self):
        """Only a primary change cuts: a redeploy to the same primary (a new database) reloads
        through the console and leaves a session on node2 alone."""
        self.assertExit(self.deploy, 0)
        session = self.rig.app[CONSOLE].client_session()
        self.addCleanup(session.close)
        self.assertEqual(session.query(PORT_SQL), '5442\n')
        db = f'fence_{next(self._names)}'
        self.rig.node[2].psql(f'CREATE DATABASE {db}')
        console = self.rig.app[CONSOLE].console_reload_count()

        result = self.run_agent(node=2)

        self.assertExit(result, 0)
        line = self.server_line(result, CONSOLE)
        self.assertRegex(line, r": updated \(.*\breloaded, routes confirmed\)")
        self.assertNotIn('sessions', line)
        self.assertEqual(self.rig.app[CONSOLE].console_reload_count(), console + 1)
        self.assertEqual(session.query(PORT_SQL), '5442\n')
        self.assertDeployed(CONSOLE, db, port=5442)


class DrainOnSwitchoverTest(RigTestCase):
    """`--event standby_switchover` drains (--sessions auto): PAUSE for at most --pause-timeout,
    reload, RESUME. app1 holds a session (session pooling: its server connection stays busy),
    so the pause cannot finish and app1's sessions are cut; app2 has none and is drained."""

    rig_options = {'app_servers': len(SERVERS), 'admin_console': True}
    BUSY, IDLE = 1, 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.require(cls.run_agent(), 0, 'first deploy (node1)')
        cls.held = cls.rig.app[cls.BUSY].client_session()
        cls.held_port_before = cls.held.query(PORT_SQL)
        cls.rig.node[2].promote_behind_repmgr(record=True)
        cls.deploy = cls.run_agent('--event', 'standby_switchover', '--node-id', '2', '--success', '1',
                                   '--pause-timeout', '2', node=2)

    def setUp(self):
        self.assertEqual(self.held_port_before, '5441\n')
        self.assertExit(self.deploy, 0)

    def paused_databases(self, i):
        """Databases app server i's PgBouncer holds paused (SHOW DATABASES, column paused)."""
        rc, out, err = self.rig.app[i].admin_query('SHOW DATABASES')
        self.assertEqual(rc, 0, err)
        return [row.split('|')[0] for row in out.splitlines() if row.split('|')[11] != '0']

    def test_busy_server_is_cut_when_the_pause_times_out(self):
        self.assertRegex(self.server_line(self.deploy, self.BUSY), r'; sessions cut\)')
        self.assertIsNone(self.held.query(PORT_SQL), 'the held session survived the switchover')
        self.assertEqual(self.paused_databases(self.BUSY), [])
        self.assertReaches(self.BUSY, port=5442)

    def test_idle_server_is_drained(self):
        self.assertRegex(self.server_line(self.deploy, self.IDLE),
                         r'; sessions drained \(PAUSE, RESUME\)\)')
        self.assertEqual(self.paused_databases(self.IDLE), [])
        self.assertReaches(self.IDLE, port=5442)


class DrainThenFailedReloadTest(RigTestCase):
    """A drain whose PAUSE times out (a held session keeps appdb's server connection busy),
    then a reload that fails: pgdeploy reports app1 FAILED, and must not leave any database
    paused in PgBouncer (new clients of a paused database wait forever)."""

    rig_options = {'app_servers': 1, 'admin_console': True}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.require(cls.run_agent(), 0, 'first deploy (node1)')
        cls.held = cls.rig.app[1].client_session()
        cls.rig.node[2].promote_behind_repmgr(record=True)
        cls.deploy = cls.run_agent('--sessions', 'drain', '--pause-timeout', '1',
                                   '--reload-command', 'echo reload broken on purpose >&2; exit 1',
                                   node=2)

    def test_failed_reload_is_reported(self):
        self.assertExit(self.deploy, 3)
        self.assertRegex(self.server_line(self.deploy, 1),
                         r': FAILED .*reload failed: reload broken on purpose')

    def test_no_database_left_paused(self):
        rc, out, err = self.rig.app[1].admin_query('SHOW DATABASES')
        self.assertEqual(rc, 0, err)
        paused = [row.split('|')[0] for row in out.splitlines() if row.split('|')[11] != '0']
        self.assertEqual(paused, [], 'PgBouncer on app1 was left paused: its clients hang')


class OddNameSessionFencingTest(RigTestCase):
    """A database whose name PgBouncer 1.18 cannot parse is reached through the `* = ...`
    fallback line; PgBouncer then holds it as an auto-database under the client's name, which
    `KILL "odd db"` on its admin console cuts."""

    rig_options = {'app_servers': 1, 'admin_console': True}
    ODD = 'odd db'

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.rig.node[1].psql(f'CREATE DATABASE "{cls.ODD}" OWNER {support.APP_USER}')
        cls.require(cls.run_agent(), 0, 'first deploy (node1)')
        cls.held = cls.rig.app[1].client_session(db=cls.ODD)
        cls.held_port_before = cls.held.query(PORT_SQL)
        cls.rig.node[2].promote_behind_repmgr(record=True)
        cls.deploy = cls.run_agent(node=2)

    def setUp(self):
        self.assertEqual(self.held_port_before, '5441\n')
        self.assertExit(self.deploy, 0)
        self.assertRegex(self.server_line(self.deploy, 1), r'; sessions cut\)')
        self.assertEqual(self.rig.app[1].reaches(db=self.ODD), (False, 5442), 'new sessions go to node2')

    def test_held_session_on_an_odd_name_is_cut(self):
        self.assertIsNone(self.held.query(PORT_SQL),
                          f'the report says "sessions cut", yet a session to "{self.ODD}" '
                          'still talks to the old primary node1')


class DeadPrimaryBackOffTest(RigTestCase):
    """Once a login to the (dead) primary failed, PgBouncer makes no new server login for that
    pool before server_login_retry has passed (15 s by default), and a reload that points the
    pool elsewhere does not end that wait. KILL drops the pool, back-off and all: through app1
    (admin console) the first client after the deploy reaches node2 at once; through app2
    (reload only) it still waits. Why setup step 5 (docs/setup.md) recommends admin_conninfo."""
    rig_options = {'app_servers': len(SERVERS), 'admin_console': True}
    RETRY = 60      # s: far longer than the whole test, so "still waits" cannot be luck

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.rig.app[NO_CONSOLE].set_admin_conninfo('')
        cls.require(cls.run_agent(), 0, 'first deploy (node1)')
        for i in SERVERS:
            cls.rig.app[i].set_pgbouncer_setting('server_login_retry', cls.RETRY)
        cls.rig.node[1].kill()
        # A client per PgBouncer while node1 is dead: PgBouncer's login fails, its back-off starts.
        cls.before = {i: cls.query(i) for i in SERVERS}
        cls.rig.node[2].promote()
        cls.deploy = cls.run_agent(node=2)
        cls.after = {i: cls.query(i) for i in SERVERS}

    @classmethod
    def query(cls, i):
        return cls.rig.app[i].client_query(support.APP_DB, support.APP_USER, support.APP_PASSWORD, PORT_SQL)

    def test_clients_could_not_reach_the_dead_primary(self):
        for i in SERVERS:
            self.assertNotEqual(self.before[i][0], 0, f'app{i}: {self.before[i]}')

    def test_the_cut_ends_the_back_off(self):
        self.assertExit(self.deploy, 0)
        self.assertRegex(self.server_line(self.deploy, CONSOLE), r'sessions cut\)')
        self.assertEqual(self.after[CONSOLE], (0, '5442\n', ''), self.rig.app[CONSOLE].pgbouncer_log_tail())

    def test_a_reload_alone_leaves_pgbouncer_waiting(self):
        self.assertRegex(self.server_line(self.deploy, NO_CONSOLE), r'reloaded; sessions not cut')
        self.assertIn('port=5442', self.rig.app[NO_CONSOLE].ini_entry(support.APP_DB).split())
        rc, _, err = self.after[NO_CONSOLE]
        self.assertNotEqual(rc, 0, 'PgBouncer without the admin console answered: has its '
                                   'back-off after a reload changed? Then update docs/setup.md, step 5.')
        self.assertIn('timeout expired', err)


if __name__ == '__main__':
    support.main()
