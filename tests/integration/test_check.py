#!/usr/bin/python3
"""pgdeploy check (issue 10): the proof as a deploy makes it, then every PgBouncer asked, read
only, where it really routes; the verdict by monitoring-plugin conventions. And --dry-run, which
asks the same way and shows what a deploy would change."""

import json
import os
import signal
import time

import support
from support import APP_DB, RigTestCase

NODE1_PORT, NODE2_PORT = 5441, 5442
INCLUDE = '/etc/pgbouncer/databases/main.ini'
SERVERS = [1, 2]


class CheckTest(RigTestCase):
    rig_options = {'app_servers': 2, 'admin_console': True}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.rig.node[1].psql("CREATE ROLE checked LOGIN PASSWORD 'first-password'")
        cls.require(cls.run_agent(), 0, 'first deploy')
        cls.converged = {i: cls.rig.app[i].read_file(INCLUDE) for i in SERVERS}

    def converge(self):
        self.require(self.run_agent(), 0, 'deploy after the test')

    def check(self, *args, **kwargs):
        return self.run_agent('check', *args, **kwargs)

    def point_elsewhere(self, i, port=NODE2_PORT):
        """Route app server i's appdb by hand (and reload), as an operator or an old tool would."""
        self.rig.app[i].write_file(INCLUDE, f'{APP_DB} = host=127.0.0.1 port={port} dbname={APP_DB}\n')
        self.rig.app[i].reload_pgbouncer()
        self.addCleanup(self.converge)

    def status_line(self, result):
        return result.out.splitlines()[0]

    def test_a_converged_cluster_is_ok_and_the_check_changes_nothing(self):
        before = self.snapshot(SERVERS)
        result = self.check()
        self.assertExit(result, 0)
        self.assertRegex(self.status_line(result),
                         r'^PGDEPLOY OK - 2 of 2 app servers route to node1 \(id 1\) at 127\.0\.0\.1:5441, '
                         r'files current \| servers=2 current=2 wrong=0 unreachable=0 stale=0$')
        lines = [line for line in result.out.splitlines() if not line.startswith('watcher on this node: ')]
        self.assertEqual(len(lines), 1, 'only servers that are not OK get a line')
        self.assertUntouched(before, SERVERS)
        verbose = self.check('--verbose')
        self.assertIn(': OK', self.server_line(verbose, 2))
        facts = json.loads(self.check('--json').out)
        self.assertEqual((facts['status'], facts['exit_code']), ('OK', 0))
        self.assertEqual(facts['servers'][0]['routes'][APP_DB], f'127.0.0.1:{NODE1_PORT}')
        self.assertUntouched(before, SERVERS)

    def test_a_pgbouncer_pointed_elsewhere_by_hand_is_critical_and_named(self):
        self.point_elsewhere(1)
        before = self.snapshot(SERVERS)
        result = self.check()
        self.assertExit(result, 2)
        self.assertRegex(self.status_line(result),
                         r'^PGDEPLOY CRITICAL - 1 of 2 app servers routes to node2 \| servers=2 current=1 wrong=1 ')
        self.assertIn(f'WRONG PgBouncer routes {APP_DB} to 127.0.0.1:{NODE2_PORT}', self.server_line(result, 1))
        self.assertUntouched(before, SERVERS)
        # The dry run shows what a deploy would change there, as a unified diff; as one JSON document.
        dry = self.run_agent('--dry-run')
        self.assertExit(dry, 0)
        self.assertIn('a deploy would replace main.ini', self.server_line(dry, 1))
        self.assertIn(f'-{APP_DB} = host=127.0.0.1 port={NODE2_PORT} dbname={APP_DB}\n', dry.out)
        self.assertRegex(dry.out, rf'\n\+{APP_DB} = host=127\.0\.0\.1 port={NODE1_PORT} ')
        self.assertIn('up to date: a deploy would change nothing', self.server_line(dry, 2))
        self.assertIn('a deploy would change 1 of 2 app servers, 1 up to date', dry.out)
        doc = json.loads(self.run_agent('--dry-run', '--json').out)
        self.assertTrue(doc['dry_run'])
        self.assertEqual([s['result'] for s in doc['servers']], ['would change', 'up to date'])
        self.assertIn(f'+{APP_DB} = host=127.0.0.1 port={NODE1_PORT}', doc['servers'][0]['include_diff'])
        self.assertUntouched(before, SERVERS)

    def test_a_reload_pgbouncer_rejected_is_critical_although_the_file_is_current(self):
        self.point_elsewhere(1)
        a = self.rig.app[1]
        original = support.rig.read_text(os.path.join(a.etc_pgbouncer, 'pgbouncer.ini'))
        self.rig.app[1].write_file('/etc/pgbouncer/broken.ini', 'bad key = host=x\n')
        self.rig.app[1].write_file('/etc/pgbouncer/pgbouncer.ini',
                                   original.replace('[databases]\n', '[databases]\n%include /etc/pgbouncer/broken.ini\n'), 0o640)
        self.addCleanup(self.rig.app[1].write_file, '/etc/pgbouncer/pgbouncer.ini', original, 0o640)
        self.assertExit(self.run_agent(), 3)   # wrote the include, PgBouncer kept its old route
        result = self.check()
        self.assertExit(result, 2)
        line = self.server_line(result, 1)
        self.assertIn(f'WRONG PgBouncer routes {APP_DB} to 127.0.0.1:{NODE2_PORT}', line)
        self.assertIn('a reload is pending', line)
        self.assertNotIn('main.ini', line, 'the include file itself is current')
        facts = json.loads(self.check('--json').out)['servers'][0]
        self.assertEqual(facts['files'][0], {'path': INCLUDE, 'state': 'current'})

    def test_a_session_held_on_the_old_node_is_critical_though_the_routes_are_right(self):
        self.point_elsewhere(1)
        session = self.rig.app[1].client_session()
        self.addCleanup(session.close)
        self.rig.app[1].write_file(INCLUDE, self.converged[1])   # routes right again, by SIGHUP
        self.rig.app[1].reload_pgbouncer()
        result = self.check()
        self.assertExit(result, 2)
        self.assertRegex(self.status_line(result), r'^PGDEPLOY CRITICAL - 1 of 2 app servers holds sessions on node2 ')
        line = self.server_line(result, 1)
        self.assertIn(f'holds a server connection for {APP_DB} to 127.0.0.1:{NODE2_PORT}', line)
        self.assertNotIn('routes', line)
        self.assertIsNotNone(session.query('select 1'), 'a check cuts nothing')

    def test_an_unreachable_server_is_a_warning(self):
        self.rig.node[1].psql("INSERT INTO repmgr.app_servers (name, ip_addr) VALUES ('ghost', '127.0.2.9')")
        self.addCleanup(self.rig.node[1].psql, "DELETE FROM repmgr.app_servers WHERE name = 'ghost'")
        result = self.check()
        self.assertExit(result, 1)
        self.assertRegex(self.status_line(result), r'^PGDEPLOY WARNING - 1 of 3 app servers unreachable \| '
                                                   r'servers=3 current=2 wrong=0 unreachable=1 stale=0$')
        self.assertIn('ghost 127.0.2.9: UNREACHABLE', result.out)
        self.assertExit(self.check('--warning-unreachable', '2'), 0)
        self.assertExit(self.check('--critical-unreachable', '1'), 2)

    def test_a_password_changed_and_not_deployed_is_a_warning_and_the_dry_run_names_the_user(self):
        self.rig.node[1].psql("ALTER ROLE checked PASSWORD 'second-password'")
        self.addCleanup(self.converge)
        before = self.snapshot(SERVERS)
        result = self.check()
        self.assertExit(result, 1)
        self.assertRegex(self.status_line(result), r'^PGDEPLOY WARNING - 2 of 2 app servers with stale files')
        self.assertIn('STALE userlist.txt stale', self.server_line(result, 1))
        dry = self.run_agent('--dry-run')
        self.assertIn('a deploy would replace userlist.txt (users changed: checked)', self.server_line(dry, 1))
        secret = self.rig.node[1].psql("SELECT passwd FROM pg_shadow WHERE usename = 'checked'")[0][0]
        self.assertNotIn(secret.split('$')[-1], dry.out + result.out + self.check('--json').out)
        self.assertUntouched(before, SERVERS)

    def test_without_the_admin_console_the_files_decide_and_the_line_says_so(self):
        self.rig.app[2].set_admin_conninfo('')
        self.addCleanup(self.rig.app[2].set_admin_conninfo, True)
        self.point_elsewhere(2)
        result = self.check()
        self.assertExit(result, 2)
        line = self.server_line(result, 2)
        self.assertIn(f'the include file routes {APP_DB} to 127.0.0.1:{NODE2_PORT}', line)
        self.assertIn('routing judged from its files only: no admin_conninfo', line)

    def test_the_database_down_is_unknown(self):
        result = self.check('-p', 'host=127.0.0.1 port=1 dbname=repmgr user=repmgr connect_timeout=2')
        self.assertExit(result, 3)
        self.assertRegex(self.status_line(result), r'^PGDEPLOY UNKNOWN - cannot connect to the database')

    def test_a_check_that_runs_out_of_its_deadline_is_unknown(self):
        pid = self.rig.app[1].sshd_pid()
        os.kill(pid, signal.SIGSTOP)   # connects, never greets: the login waits for the deadline
        self.addCleanup(os.kill, pid, signal.SIGCONT)
        result = self.check('--deadline', '1.5', '--host-timeout', '5')
        self.assertExit(result, 3)
        self.assertRegex(self.status_line(result),
                         r'^PGDEPLOY UNKNOWN - the check did not finish within its --deadline \| ')
        self.assertLess(result.elapsed, 5)

    def test_a_usage_error_is_unknown(self):
        self.assertExit(self.check('--critical-unreachable', 'many'), 3)

    def test_a_check_does_not_wait_for_a_deploy_holding_the_remote_lock(self):
        held = self.rig.app[1].hold_lock()   # as a deploy that is writing there holds it
        self.addCleanup(held.release)
        before = self.snapshot(SERVERS)
        start = time.monotonic()
        result = self.check('--host-timeout', '4')
        self.assertExit(result, 0)
        self.assertLess(time.monotonic() - start, 2, 'the check waited for the lock')
        self.assertUntouched(before, SERVERS)


class CheckByWatcherTest(CheckTest):
    """Every CheckTest again, with a watcher on node1: a check with the watcher's options is run
    by it, over its warm sessions (no SSH login); one it cannot take, or a stopped watcher, is
    asked over new logins as before. The watcher's interval is long, so no round of its own
    repairs what a test broke before the check sees it."""

    IDENTITY_OPTIONS = ('-p', '--deadline', '--host-timeout')   # the watcher runs with its own

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.w = cls.rig.node[1].start_watcher(interval=3600)
        cls.addClassCleanup(cls.w.stop)
        cls.w.wait_for(r'app2 127\.0\.1\.2: current', timeout=30)

    def check(self, *args, **kwargs):
        result = super().check('--lock-file', self.w.lock_file, *args, **kwargs)
        if result.rc != 3 and not any(o in args for o in self.IDENTITY_OPTIONS):
            if '--json' in args:
                self.assertEqual(json.loads(result.out)['asked_by'], 'watcher', result.out)
            else:
                self.assertIn('(it ran this check over its warm sessions)', result.out)
        return result

    def test_the_watcher_runs_the_check_without_a_login_and_declines_other_options(self):
        self.check()   # a session an earlier test broke is made again
        logins = {i: support.sshd_logins(self.rig, i) for i in SERVERS}
        before = self.snapshot(SERVERS)
        self.assertExit(self.check(), 0)
        self.assertEqual({i: support.sshd_logins(self.rig, i) for i in SERVERS}, logins, 'no SSH login')
        self.assertUntouched(before, SERVERS)
        other = self.check('--host-timeout', '7', '--json')
        self.assertExit(other, 0)
        self.assertEqual(json.loads(other.out)['asked_by'], 'ssh', 'the watcher asks with its own options only')
        self.assertEqual({i: support.sshd_logins(self.rig, i) for i in SERVERS}, {i: logins[i] + 1 for i in SERVERS})

    def test_a_stopped_watcher_costs_the_check_only_a_moment(self):
        self.w.signal(signal.SIGSTOP)
        try:
            result = self.run_agent('check', '--json', '--lock-file', self.w.lock_file)
        finally:
            self.w.signal(signal.SIGCONT)
        self.assertExit(result, 0)
        self.assertEqual(json.loads(result.out)['asked_by'], 'ssh')
        self.assertLess(result.elapsed, 5)

    def test_a_hook_is_not_held_up_by_a_check_the_watcher_is_running(self):
        # The check waits on app1's warm session, whose resident program is stopped: a repmgr
        # hook meanwhile is declined by the watcher and does the one-shot itself, at once.
        resident = [pid for pid, argv, _ in self.rig.app[1].processes() if argv[:1] == ['perl'] and argv[-1:] == ['serve']]
        self.assertEqual(len(resident), 1, 'one warm session on app1')
        os.kill(resident[0], signal.SIGSTOP)
        try:
            check = self.run_agent_in_background('check', '--json', '--lock-file', self.w.lock_file)
            time.sleep(1)   # the check is taken and waits on app1 (its --host-timeout is 5 s)
            hook = self.run_agent('--event', 'standby_promote', '--node-id', '1', '--success', '1',
                                  '--lock-file', self.w.lock_file)
        finally:
            os.kill(resident[0], signal.SIGCONT)
        self.assertExit(hook, 0)
        self.assertNotIn('run by the watcher', hook.out)
        self.assertRegex(hook.out, r'2 of 2 app servers up to date|nothing to do')
        self.assertLess(hook.elapsed, 3, 'the check held the hook up')
        result = check.result(timeout=30)
        self.assertExit(result, 0)
        self.assertEqual(json.loads(result.out)['asked_by'], 'watcher')

    def test_an_unreachable_server_is_a_warning(self):
        super().test_an_unreachable_server_is_a_warning()
        # A server whose sshd died with every session (a crash) is unreachable to the watcher too.
        for pid, argv, _ in self.rig.app[2].processes():
            if argv and os.path.basename(argv[0]).startswith('sshd'):
                os.kill(pid, signal.SIGKILL)
        self.addCleanup(self.rig.app[2].start_sshd)
        result = self.check()
        self.assertExit(result, 1)
        self.assertIn('app2 127.0.1.2: UNREACHABLE', result.out)


class CheckAfterFailoverTest(RigTestCase):
    """A failover whose deploy could not cut sessions (no admin console then): a session still
    on the old primary makes the check CRITICAL, although every route is right."""

    rig_options = {'app_servers': 1, 'admin_console': True}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.require(cls.run_agent(), 0, 'first deploy (node1)')
        cls.held = cls.rig.app[1].client_session()
        cls.rig.app[1].set_admin_conninfo('')
        cls.rig.node[2].promote_behind_repmgr(record=True)
        cls.deploy = cls.require(cls.run_agent(node=2), 0, 'deploy to node2 without the console')
        cls.rig.app[1].set_admin_conninfo(True, node=cls.rig.node[2])
        cls.before = {f: cls.rig.app[1].read_file(f) for f in support.remote_files(cls.rig.cluster)}
        cls.check = cls.run_agent('check', node=2)

    def test_the_deploy_could_not_cut_the_session(self):
        self.assertIn('sessions not cut', self.server_line(self.deploy, 1))

    def test_the_check_is_critical_and_names_the_old_primary(self):
        self.assertExit(self.check, 2)
        self.assertRegex(self.check.out.splitlines()[0],
                         r'^PGDEPLOY CRITICAL - 1 of 1 app servers holds sessions on node1 \| ')
        line = self.server_line(self.check, 1)
        self.assertIn(f'holds a server connection for {APP_DB} to 127.0.0.1:{NODE1_PORT}', line)
        self.assertNotIn('routes', line)

    def test_the_check_cut_nothing_and_wrote_nothing(self):
        self.assertIsNotNone(self.held.query('select 1'), 'the session is still there')
        after = {f: self.rig.app[1].read_file(f) for f in support.remote_files(self.rig.cluster)}
        self.assertEqual(after, self.before)


if __name__ == '__main__':
    support.main()
