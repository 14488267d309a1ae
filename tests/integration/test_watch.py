#!/usr/bin/python3
"""pgdeploy watch: every app server converges to the proven truth by itself, between repmgr
events too, over warm SSH sessions; watchers on several nodes never fight.

Watchers run with --interval 1 (INTERVAL). "Within two intervals" is checked with a margin for
the round itself and for the poll (SLACK): these are behaviour bounds, not speed figures (those
are in bench/)."""

import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

import support
from support import (APP_DB, APP_USER, PG_HOME, RigTestCase, remote_files, ssh_connections, sshd_logins,
                     wait_until)
import rig as rigmod

INTERVAL = 1.0
SLACK = 4.0                 # s: a round (a dead node's probe timeout) plus the poll
WITHIN_TWO = 2 * INTERVAL + SLACK
# The repmgr hook with the event, and the lock file (so the socket) of the node's watcher.
HOOK_NOTIFY = (rigmod.SEED_NOTIFY + ' --event %e --node-id %n --success %s'
               f' --lock-file {PG_HOME}/.pgdeploy-{{cluster}}-node{{node}}.lock')




def cut_sessions(rig, i):
    """Kill every sshd process of app server i (the listener and every session): the host is
    gone, as after a crash. start_sshd(i) brings the listener back."""
    for pid, argv, _ in rig.app[i].processes():
        if argv and os.path.basename(argv[0]).startswith('sshd'):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    rigmod.wait_for(lambda: not rigmod.listening(rig.app[i].addr, 22), 10, 'sshd to go')


def stop_sshd(test, i):
    """SIGSTOP every sshd process of app server i (listener and sessions): a warm session's
    request and a new login both hang. Resumed at cleanup."""
    stopped = [pid for pid, argv, _ in test.rig.app[i].processes() if argv and 'sshd' in argv[0]]
    def resume():
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
    test.addCleanup(resume)
    for pid in stopped:
        os.kill(pid, signal.SIGSTOP)


class WatchCase(RigTestCase):
    def watcher(self, node=1, **kwargs):
        w = self.rig.node[node].start_watcher(**kwargs)
        self.addCleanup(w.stop)
        return w

    def wait_all(self, servers, port, timeout=WITHIN_TWO):
        self.wait_reaches(servers, port, timeout)


class ConvergeTest(WatchCase):
    """One watcher on the primary; three app servers, app3 disabled at first."""

    rig_options = {'app_servers': 3}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.rig.node[1].psql("UPDATE repmgr.app_servers SET enabled = false WHERE name = 'app3'")
        cls.w = cls.rig.node[1].start_watcher()
        cls.addClassCleanup(cls.w.stop)

    def setUp(self):
        self.w.wait_for(r'app2 127\.0\.1\.2: (updated|current)', timeout=15)
        self.wait_all((1, 2), 5441)

    def test_a_disabled_row_is_left_alone_and_an_enabled_one_deployed(self):
        self.assertEqual(self.rig.app[3].read_file(remote_files(self.rig.cluster)[0]), '',
                         'app3 (disabled) kept the empty file the rig gave it')
        self.assertEqual(self.rig.app[3].reload_count(), 0)
        mark = len(self.w.text())
        self.rig.node[1].psql("UPDATE repmgr.app_servers SET enabled = true WHERE name = 'app3'")
        self.w.wait_for(r'app3 127\.0\.1\.3: updated', after=mark)
        self.assertReaches(3, port=5441)
        before = self.snapshot([3])
        self.rig.node[1].psql("UPDATE repmgr.app_servers SET enabled = false WHERE name = 'app3'")
        db = self.create_database('after_disable')
        wait_until(lambda: self.rig.app[1].ini_entry(db), WITHIN_TWO)
        self.assertIsNotNone(self.rig.app[1].ini_entry(db), 'app1 got the new database')
        time.sleep(2 * INTERVAL)
        self.assertUntouched(before, [3])

    def test_a_new_password_works_through_every_pgbouncer(self):
        self.rig.node[1].psql(f"ALTER ROLE {APP_USER} PASSWORD 'watched-new-secret'")
        try:
            ok = wait_until(lambda: all(self.rig.app[i].reaches(password='watched-new-secret') == (False, 5441)
                                        for i in (1, 2)), WITHIN_TWO, 0.2)
            self.assertTrue(ok, 'the new password does not work through every PgBouncer')
        finally:
            # A second change of users alone within 10 s waits for the rest of them (UsersPaceTest).
            self.rig.node[1].psql(f"ALTER ROLE {APP_USER} PASSWORD '{support.APP_PASSWORD}'")
            wait_until(lambda: all(self.rig.app[i].reaches() == (False, 5441) for i in (1, 2)),
                       UsersPaceTest.EVERY + WITHIN_TWO, 0.2)

    def test_a_file_changed_by_hand_below_our_header_is_restored(self):
        path = remote_files(self.rig.cluster)[0]
        good = self.rig.app[1].read_file(path)
        reloads = self.rig.app[1].reload_count()
        self.rig.app[1].write_file(path, good + 'evil = host=127.0.0.9 port=5441 dbname=appdb\n')
        self.assertTrue(wait_until(lambda: self.rig.app[1].read_file(path) == good, WITHIN_TWO, 0.1),
                        'the hand edit stays')
        self.assertTrue(wait_until(lambda: self.rig.app[1].reload_count() == reloads + 1, 5, 0.05),
                        'one reload for the restored file')

    def test_an_idle_round_writes_nothing_reloads_nothing_and_logs_in_nowhere(self):
        time.sleep(INTERVAL)
        before = self.snapshot([1, 2])
        logins = {i: sshd_logins(self.rig, i) for i in (1, 2)}
        procs = {i: sorted(p for p, _, _ in self.rig.app[i].processes()) for i in (1, 2)}
        log = len(self.w.text())
        time.sleep(4 * INTERVAL)
        self.assertUntouched(before, [1, 2])
        self.assertEqual({i: sshd_logins(self.rig, i) for i in (1, 2)}, logins, 'no SSH login')
        self.assertEqual({i: sorted(p for p, _, _ in self.rig.app[i].processes()) for i in (1, 2)}, procs,
                         'the same processes on the app servers (the warm sessions)')
        self.assertEqual(self.w.text()[log:], '', 'an idle round logs nothing')

    def test_an_unreachable_server_is_said_once_and_converged_when_back(self):
        mark = len(self.w.text())
        cut_sessions(self.rig, 2)
        db = self.create_database('while_away')
        self.w.wait_for(r'app2 127\.0\.1\.2: unreachable', after=mark)
        time.sleep(3 * INTERVAL)
        self.assertEqual(len(re.findall(r'app2 127\.0\.1\.2: unreachable', self.w.text()[mark:])), 1,
                         'said once per change, not every round:\n' + self.w.text()[mark:])
        self.rig.app[2].start_sshd()
        self.assertTrue(wait_until(lambda: self.rig.app[2].ini_entry(db), WITHIN_TWO, 0.1),
                        'app2 did not get the database within two intervals of coming back')
        # The file is renamed into place before PgBouncer reloads: wait for the reload too.
        wait_until(lambda: self.rig.app[2].reaches(db=db) == (False, 5441), 5, 0.1)
        self.assertDeployed(2, db)

    def hook(self, *extra):
        return self.run_agent('--event', 'standby_promote', '--node-id', '1', '--success', '1',
                              '--lock-file', self.w.lock_file, *extra)

    def test_a_hook_hands_its_event_to_the_watcher_and_answers_with_its_report(self):
        db = self.create_database('handed_over')
        logins = {i: sshd_logins(self.rig, i) for i in (1, 2)}
        hook = self.hook()
        self.assertExit(hook, 0)
        self.assertIn('standby_promote on node 1 (run by the watcher of this node)', hook.out)
        self.assertIn('2 of 2 app servers up to date', hook.out)
        for i in (1, 2):
            self.assertIsNotNone(self.rig.app[i].ini_entry(db), f'app{i} has {db} when the hook returns')
        self.assertEqual({i: sshd_logins(self.rig, i) for i in (1, 2)}, logins, 'over the warm sessions')
        self.assertIn('a hook handed over standby_promote on node 1', self.w.text())
        as_json = self.hook('--json')
        self.assertExit(as_json, 0)
        self.assertEqual(json.loads(as_json.out)['servers'][0]['result'], 'unchanged')

    def test_a_hook_does_the_one_shot_itself_when_the_watcher_hangs(self):
        self.w.signal(signal.SIGSTOP)
        try:
            hook = self.hook()
        finally:
            self.w.signal(signal.SIGCONT)
        self.assertExit(hook, 0)
        self.assertNotIn('run by the watcher', hook.out)
        # The one-shot itself: it may find the watcher's record of the same push (--recent).
        self.assertRegex(hook.out, r'2 of 2 app servers up to date|nothing to do')
        self.assertLess(hook.elapsed, 5, 'a stopped watcher must not hold the hook up')

    def test_check_says_what_the_watcher_last_saw(self):
        check = self.run_agent('check', '--lock-file', self.w.lock_file)
        self.assertExit(check, 0)
        self.assertRegex(check.out, r'watcher on this node: 2 of 2 app servers current; primary node1 '
                                    r'\(id 1\) timeline 1; every app server last current \d+ s ago')

    def test_a_second_watcher_of_the_cluster_on_the_node_is_refused(self):
        second = self.rig.node[1].start_watcher()
        self.assertEqual(second.proc.wait(30), 1)
        self.assertIn('another watcher of cluster main runs on this node', second.text())


class SignalsTest(WatchCase):
    rig_options = {'app_servers': 2}

    def test_sighup_makes_the_sessions_again_and_sigterm_stops_cleanly(self):
        w = self.watcher(1, args=['--metrics-listen', '127.0.0.1:9187'])
        w.wait_for(r'app2 127\.0\.1\.2: (updated|current)', timeout=15)
        def scrape():
            try:
                with urllib.request.urlopen('http://127.0.0.1:9187/metrics', timeout=5) as r:
                    return r.read().decode()
            except OSError:
                return ''
        metrics = wait_until(scrape, 10)
        self.assertIn('pgdeploy_watch_app_servers{state="current"} 2', metrics)
        self.assertIn('pgdeploy_watch_pushing 1', metrics)
        self.assertRegex(metrics, r'pgdeploy_watch_ssh_logins_total 2\n')
        open_fds = int(re.search(r'\nprocess_open_fds (\d+)\n', metrics).group(1))
        self.assertGreaterEqual(open_fds, 2, 'a descriptor per warm session at least')
        self.assertLessEqual(open_fds, len(os.listdir(f'/proc/{w.pid}/fd')) + 2)
        self.assertRegex(metrics, r'\nprocess_max_fds \d+\n')
        logins = {i: sshd_logins(self.rig, i) for i in (1, 2)}
        mark = len(w.text())
        w.signal(signal.SIGHUP)
        w.wait_for('SIGHUP: SSH keys and known_hosts read again', after=mark)
        self.assertTrue(wait_until(lambda: all(sshd_logins(self.rig, i) == logins[i] + 1 for i in (1, 2)),
                                   WITHIN_TWO), 'one new login per app server after SIGHUP')
        # The sessions it dropped are closed, not only forgotten (a socket per reconnect, else).
        wait_until(lambda: ssh_connections(w.pid) == 2, 10)
        self.assertEqual(ssh_connections(w.pid), 2, 'connections to sshd after SIGHUP (one per app server)')
        w.signal(signal.SIGTERM)
        self.assertEqual(w.proc.wait(30), 0)
        self.assertIn('pgdeploy watch: stopped', w.text())

    def test_takes_its_hard_descriptor_limit_and_warns_when_that_is_short_of_the_fleet(self):
        def soft_limit(w):
            with open(f'/proc/{w.pid}/limits') as f:
                return int(next(line for line in f if line.startswith('Max open files')).split()[3])
        w = self.watcher(1, nofile=(64, 4096))  # a shell's soft limit, below what it may take
        w.wait_for(r'app2 127\.0\.1\.2: (updated|current)', timeout=15)
        self.assertEqual(soft_limit(w), 4096)
        self.assertNotIn('descriptors', w.text())
        w.stop()
        # 2 servers need about 2 + 32: with a hard limit of 33 it works, and says the limit is short.
        w = self.watcher(1, nofile=(33, 33))
        w.wait_for(r'warning: 2 app servers need about 34 descriptors and the limit is 33 '
                   r'\(LimitNOFILE, ulimit -n\): some sessions will fail', timeout=15)
        w.wait_for(r'app2 127\.0\.1\.2: (updated|current)', timeout=15)
        # A standby's watcher keeps as many sessions warm: it says so too.
        standby = self.watcher(2, nofile=(33, 33))
        standby.wait_for(r'warning: 2 app servers need about 34 descriptors and the limit is 33', timeout=15)

    # A hung app server tried with back-off, not at the cost of every round: a unit test now
    # (src/watch/round_test.cpp, WatcherTest.AHungHostIsTriedWithBackOffNotAtTheCostOfEveryRound).

    def test_a_changed_host_key_is_refused_and_not_retried_in_a_tight_loop(self):
        w = self.watcher(1)
        w.wait_for(r'app1 127\.0\.1\.1: (updated|current)', timeout=15)
        a = self.rig.app[1]
        self.rig.set_known_host(a.addr, self.rig.new_public_key())
        try:
            mark = len(w.text())
            for pid, argv, _ in a.processes():  # drop the session, keep the listener
                if argv and argv[0].startswith('sshd:') and '[listener]' not in argv[0]:
                    os.kill(pid, signal.SIGKILL)
            w.wait_for(r'app1 127\.0\.1\.1: refused: host key', after=mark)
            connections = (rigmod.read_text(a.sshd_log) or '').count('Connection from')
            time.sleep(5 * INTERVAL)
            self.assertLessEqual((rigmod.read_text(a.sshd_log) or '').count('Connection from'), connections,
                                 'retried within seconds of a host key refusal')
            self.assertEqual(len(re.findall('app1 127.0.1.1: refused', w.text()[mark:])), 1)
            self.assertEqual(ssh_connections(w.pid), 1, 'the refused login is closed: only app2 is connected')
        finally:
            self.rig.set_known_host(a.addr, a.host_public_key())
        w.signal(signal.SIGHUP)  # a person fixed known_hosts and says so
        w.wait_for(r'app1 127\.0\.1\.1: current', after=mark)


class DatabaseDownTest(WatchCase):
    rig_options = {'app_servers': 2}

    def test_writes_nothing_while_the_database_is_down_and_converges_when_back(self):
        w = self.watcher(1)
        w.wait_for(r'app2 127\.0\.1\.2: updated', timeout=15)
        before = self.snapshot([1, 2])
        mark = len(w.text())
        self.rig.node[1].stop('fast')
        w.wait_for('database unreachable, writing nothing', after=mark)
        time.sleep(3 * INTERVAL)
        self.assertEqual(w.text()[mark:].count('database unreachable'), 1,
                         'said once per change of state:\n' + w.text()[mark:])
        self.assertUntouched(before, [1, 2])
        self.rig.node[1].start()
        w.wait_for('database reachable', after=mark, timeout=20)
        db = self.create_database('after_down')
        self.assertTrue(wait_until(lambda: all(self.rig.app[i].ini_entry(db) for i in (1, 2)), WITHIN_TWO))


class DatabaseConnectionsTest(WatchCase):
    """The watcher keeps its database connections across rounds: an idle round opens none on any
    node, and a connection a restart of PostgreSQL broke is made again by itself."""

    rig_options = {'app_servers': 1}
    APP = 'pgdeploy-watch-kept'  # PGAPPNAME of the watcher: its connections in the server logs

    def connections(self):
        """Connections of the watcher the nodes' PostgreSQL logged (log_connections)."""
        return sum((rigmod.read_text(os.path.join(self.rig.node[i].dir, 'log', 'postgresql.log')) or '')
                   .count(f'application_name={self.APP}') for i in (1, 2))

    def test_an_idle_round_opens_no_database_connection_and_a_restart_is_reconnected(self):
        for i in (1, 2):
            self.rig.node[i].psql('ALTER SYSTEM SET log_connections = on; SELECT pg_reload_conf()')
            self.addCleanup(self.rig.node[i].psql, 'ALTER SYSTEM RESET log_connections; SELECT pg_reload_conf()')
        w = self.watcher(1, env={'PGAPPNAME': self.APP})
        w.wait_for(r'app1 127\.0\.1\.1: updated', timeout=15)
        time.sleep(2 * INTERVAL)
        before = self.connections()
        self.assertGreater(before, 0, 'the watcher\'s connections are logged')
        time.sleep(5 * INTERVAL)
        self.assertEqual(self.connections() - before, 0, 'database connections opened in five idle rounds')
        # PostgreSQL restarts under the watcher: it connects again, and goes on converging.
        self.rig.node[1].stop('fast')
        self.rig.node[1].start()
        db = self.create_database('after_restart')
        self.assertTrue(wait_until(lambda: self.rig.app[1].ini_entry(db), 2 * WITHIN_TWO, 0.1),
                        'no push after PostgreSQL restarted:\n' + w.text())
        self.assertGreater(self.connections(), before, 'connected again after the restart')
        settled = self.connections()
        time.sleep(3 * INTERVAL)
        self.assertEqual(self.connections() - settled, 0, 'new connections in idle rounds after the restart')


class IdleBytesTest(WatchCase):
    """An idle round's bytes do not grow with the files: once a file's content has crossed a warm
    session, the request carries its header line alone (src/README.md, "Resident mode")."""

    rig_options = {'app_servers': 1}
    ROLES = 2000  # userlist.txt about 300 KB

    def ssh_bytes(self):
        """TCP payload both ways on the established client sockets to port 22: the watcher's."""
        out = subprocess.run(['ss', '-tinH', 'state', 'established', '( dport = :22 )'],
                             capture_output=True, text=True, check=True).stdout
        return sum(int(x) for x in re.findall(r'\bbytes_(?:sent|received):(\d+)', out))

    def test_an_idle_round_sends_header_lines_not_the_files(self):
        p = self.rig.node[1]
        p.psql("CREATE ROLE idle_bytes_00001 LOGIN PASSWORD 'x'")
        p.psql("SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', 'idle_bytes_' || lpad(i::text, 5, '0'), "
               "(SELECT rolpassword FROM pg_authid WHERE rolname = 'idle_bytes_00001')) "
               f"FROM generate_series(2, {self.ROLES}) i \\gexec")
        self.addCleanup(p.psql, "SELECT format('DROP ROLE %I', rolname) FROM pg_roles "
                                "WHERE rolname LIKE 'idle\\_bytes\\_%' \\gexec")
        w = self.watcher(1, args=['--metrics-listen', '127.0.0.1:9187'])
        w.wait_for(r'app1 127\.0\.1\.1: updated', timeout=15)

        def rounds():
            with urllib.request.urlopen('http://127.0.0.1:9187/metrics', timeout=5) as r:
                return int(re.search(r'^pgdeploy_watch_round_duration_seconds_count (\d+)',
                                     r.read().decode(), re.M)[1])
        userlist = self.rig.app[1].read_file(remote_files(self.rig.cluster)[1])
        self.assertIn('idle_bytes_02000', userlist)
        self.assertGreater(len(userlist), 200_000)
        time.sleep(2 * INTERVAL)
        first, before = rounds(), self.ssh_bytes()
        time.sleep(5 * INTERVAL)
        bytes_, done = self.ssh_bytes() - before, rounds() - first
        self.assertGreaterEqual(done, 3, w.text())
        # SSH's encryption and framing included; each round sent the whole userlist.txt before.
        self.assertLess(bytes_ / done, 2048, f'{bytes_} bytes in {done} idle rounds')


class KilledWatcherTest(WatchCase):
    rig_options = {'app_servers': 2}

    def test_kill_9_mid_push_leaves_nothing_half_done_and_the_next_start_converges(self):
        w = self.watcher(1)
        w.wait_for(r'app2 127\.0\.1\.2: updated', timeout=15)
        self.rig.app[1].set_fault('renamed1:sleep3000')  # read at the next login
        w.kill()
        w = self.watcher(1)
        w.wait_for(r'app2 127\.0\.1\.2: current', timeout=15)
        db = self.create_database('mid_push')
        # app1's push now stops for 3 s after its first rename: kill the watcher then.
        wait_until(lambda: self.rig.app[1].ini_entry(db), WITHIN_TWO, 0.05)
        w.kill()
        self.rig.app[1].set_fault(None)
        w = self.watcher(1)
        self.assertTrue(wait_until(lambda: all(self.rig.app[i].ini_entry(db) for i in (1, 2)), 15))
        w.wait_for(r'app1 127\.0\.1\.1: current', timeout=15)
        self.assertDeployed(1, db)
        leftovers = [p for p in os.listdir(self.rig.app[1].host_path('/etc/pgbouncer/databases'))
                     if '.pgdeploy-' in p or p.endswith('.pending')]
        self.assertEqual(leftovers, [])


class FailoverTest(WatchCase):
    """Watchers on both nodes; no event_notification_command: the watchers alone follow."""

    rig_options = {'app_servers': 3, 'event_notification_command': HOOK_NOTIFY}

    def test_watchers_on_both_nodes_follow_a_failover_and_a_stale_primary_points_nothing_at_itself(self):
        w1, w2 = self.watcher(1), self.watcher(2)
        w1.wait_for(r'app3 127\.0\.1\.3: updated', timeout=15)
        w2.wait_for('this node is not the primary: the watcher on node1')
        self.wait_all((1, 2, 3), 5441)
        w2.wait_for(r'app2 127\.0\.1\.2: session warm')
        logins = {i: sshd_logins(self.rig, i) for i in (1, 2)}
        # app3 is down during the failover: it comes back still routing to the old primary.
        cut_sessions(self.rig, 3)
        self.rig.node[1].kill()
        w1.wait_for('database unreachable')
        self.rig.node[2].promote()
        w2.wait_for('this node is the proven primary: this watcher pushes', timeout=20)
        self.wait_all((1, 2), 5442)
        self.assertEqual({i: sshd_logins(self.rig, i) for i in (1, 2)}, logins,
                         "node2's watcher pushed over the sessions it kept warm as a standby: no login")
        self.assertIn('rounds at once', w2.text(), 'the promotion was seen between rounds')
        w2.wait_for('a hook handed over standby_promote on node 2')  # repmgr's hook, handed over
        self.assertIn('port=5441', self.rig.app[3].ini_entry(APP_DB).split(), 'app3 was away')
        self.rig.app[3].start_sshd()
        self.wait_all((1, 2, 3), 5442)
        # The old primary comes back writable on the old timeline, with its old catalog.
        mark1 = len(w1.text())
        self.rig.node[1].start()
        w1.wait_for('database reachable', after=mark1, timeout=20)
        time.sleep(3 * INTERVAL)
        self.assertNotIn('this watcher pushes', w1.text()[mark1:])
        for i in (1, 2, 3):
            self.assertIn('port=5442', self.rig.app[i].ini_entry(APP_DB).split())
            first = self.rig.app[i].read_file(remote_files(self.rig.cluster)[0]).splitlines()[0]
            self.assertIn('primary=2', first)
        self.wait_all((1, 2, 3), 5442)



class HungServerFailoverTest(WatchCase):
    """A standby's watcher whose ping to one app server hangs: the promotion of its node, the
    hook's hand-over and the push to every other server do not wait for that host."""

    rig_options = {'app_servers': 3, 'event_notification_command': HOOK_NOTIFY}

    def test_a_hung_server_delays_neither_the_hand_over_nor_the_other_servers_push(self):
        w1 = self.watcher(1)
        w2 = self.watcher(2, args=['--host-timeout', '8'])
        w1.wait_for(r'app3 127\.0\.1\.3: updated', timeout=15)
        for i in (1, 2, 3):
            w2.wait_for(rf'app{i} 127\.0\.1\.{i}: session warm', timeout=15)
        self.wait_all((1, 2, 3), 5441)
        logins = {i: sshd_logins(self.rig, i) for i in (1, 2)}
        # app3's sshd (listener and sessions) stops: the standby's next ping waits 8 s for it.
        stop_sshd(self, 3)
        time.sleep(2 * INTERVAL)  # a standby round has begun, and waits for app3
        self.rig.node[1].kill()
        self.rig.node[2].promote()  # returns when repmgr's hook has
        self.assertIn('a hook handed over standby_promote on node 2', w2.text(),
                      "the standby's watcher, busy with the hung host, did not take the hook")
        self.wait_all((1, 2), 5442)
        self.assertEqual({i: sshd_logins(self.rig, i) for i in (1, 2)}, logins,
                         'app1 and app2 got the push over the sessions kept warm: no login')


class UsersPaceTest(WatchCase):
    """A database user who changes their password in a loop: each change would cost every
    PgBouncer a reload. A change of users alone reaches a server at most once per
    max(--interval, 10 s), the latest password then; and the report names a warning once."""

    rig_options = {'app_servers': 1}
    EVERY = 10.0  # users_every(0.5), as the man page documents it

    def test_a_password_changed_in_a_loop_reloads_pgbouncer_at_most_once_per_period(self):
        odd = 'odd\nrole'  # left out of userlist.txt, with a warning in every report
        self.rig.node[1].psql(f"CREATE ROLE \"{odd}\" LOGIN PASSWORD 'odd-secret'")
        self.addCleanup(self.rig.node[1].psql, f'DROP ROLE "{odd}"')
        self.addCleanup(self.rig.node[1].psql, f"ALTER ROLE {APP_USER} PASSWORD '{support.APP_PASSWORD}'")
        w = self.watcher(1, interval=0.5)
        w.wait_for(r'app1 127\.0\.1\.1: (updated|current)', timeout=15)
        reloads = self.rig.app[1].reload_count()
        start = time.monotonic()
        for k in range(10):
            self.rig.node[1].psql(f"ALTER ROLE {APP_USER} PASSWORD 'loop-{k}'")
            time.sleep(0.5)
        last = time.monotonic()
        arrived = wait_until(lambda: self.rig.app[1].reaches(password='loop-9') == (False, 5441),
                             self.EVERY + WITHIN_TWO, 0.2)
        elapsed = time.monotonic() - start
        self.assertTrue(arrived, 'the last password did not arrive within the period and two intervals')
        self.assertLessEqual(time.monotonic() - last, self.EVERY + WITHIN_TWO)
        reloaded = self.rig.app[1].reload_count() - reloads
        self.assertLessEqual(reloaded, 1 + math.ceil(elapsed / self.EVERY),
                             f'{reloaded} reloads for 10 password changes in {elapsed:.1f} s')
        self.assertEqual(w.text().count('(line break) cannot be written'), 1,
                         'the same warning in every report:\n' + w.text())


class AloneTest(unittest.TestCase):
    """A watcher with no database to reach (each round refused, in a moment): what it does
    between rounds and beside them, systemd's watchdog and the metrics endpoint, needs no rig."""

    def start(self, *args, env=None):
        home = tempfile.mkdtemp(prefix='pgdeploy-alone-')
        self.addCleanup(shutil.rmtree, home, True)
        log = open(os.path.join(home, 'watch.log'), 'wb')
        self.addCleanup(log.close)
        proc = subprocess.Popen([support.agent_binary(), 'watch', '-c', 'main',
                                 '-p', 'host=127.0.0.1 port=1 dbname=repmgr connect_timeout=1',
                                 '--lock-file', os.path.join(home, '.pgdeploy-main.lock'), *args],
                                env={'HOME': home, 'PATH': '/usr/bin:/bin', **(env or {})},
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        def stop():
            proc.terminate()
            proc.wait(30)
        self.addCleanup(stop)
        return proc

    def test_feeds_the_watchdog_at_half_its_period_whatever_the_interval(self):
        # systemd sets WATCHDOG_USEC (WatchdogSec) and kills a service that sends no WATCHDOG=1
        # within it. One round per 100 s, a watchdog of 2 s: the pings come from the wait.
        name = f'pgdeploy-test-notify-{os.getpid()}'
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        receiver.bind('\0' + name)
        self.addCleanup(receiver.close)
        receiver.settimeout(0.2)
        self.start('--interval', '100', env={'NOTIFY_SOCKET': '@' + name, 'WATCHDOG_USEC': '2000000'})
        pings, ready = [], None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (ready is None or time.monotonic() < ready + 7):
            try:
                datagram = receiver.recv(4096).decode()
            except socket.timeout:
                continue
            if 'READY=1' in datagram and ready is None:
                ready = time.monotonic()
            if ready is not None and 'WATCHDOG=1' in datagram.split('\n'):
                pings.append(time.monotonic())
        end = time.monotonic()
        self.assertIsNotNone(ready, 'no READY=1')
        gaps = [b - a for a, b in zip(pings, pings[1:] + [end])]
        self.assertGreaterEqual(len(pings), 4, f'WATCHDOG=1 at {[round(p - ready, 2) for p in pings]}')
        self.assertLess(max(gaps), 2.0, f'a gap of {max(gaps):.1f} s: systemd would have killed the watcher')

    def test_slow_and_idle_metrics_clients_neither_starve_the_endpoint_nor_take_descriptors(self):
        port = 9189
        proc = self.start('--interval', '100', '--metrics-listen', f'127.0.0.1:{port}')
        def scrape(timeout=3):
            with urllib.request.urlopen(f'http://127.0.0.1:{port}/metrics', timeout=timeout) as r:
                return r.read().decode()
        def descriptors():
            return len(os.listdir(f'/proc/{proc.pid}/fd'))
        self.assertIn('pgdeploy_watch_database_up', wait_until(lambda: self._try(scrape), 10) or '')
        with self.assertRaises(urllib.error.HTTPError) as other:
            urllib.request.urlopen(f'http://127.0.0.1:{port}/', timeout=3)
        self.assertEqual(other.exception.code, 404, 'only /metrics is served')
        before = descriptors()
        stop = threading.Event()
        self.addCleanup(stop.set)
        def slow_loris():  # the request line, then a byte a second, for ever (again when cut)
            while not stop.is_set():
                try:
                    with socket.create_connection(('127.0.0.1', port), timeout=5) as s:
                        s.sendall(b'GET /metrics HTTP/1.1\r\n')
                        while not stop.wait(1):
                            s.sendall(b'X')
                except OSError:
                    stop.wait(0.1)
        lorises = [threading.Thread(target=slow_loris, daemon=True) for _ in range(10)]
        for t in lorises:
            t.start()
        idle = []
        self.addCleanup(lambda: [s.close() for s in idle])
        for _ in range(300):  # connect and say nothing
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(('127.0.0.1', port))
            idle.append(s)
        time.sleep(3)  # past the read timeout of a server that has one
        held = [descriptors()]
        self.assertLessEqual(held[0], before + 8 + 1,
                             f'descriptors of the watcher: {before} alone, {held[0]} beside the clients')
        for _ in range(5):
            started = time.monotonic()
            self.assertIn('pgdeploy_watch_database_up', scrape(), 'a scrape beside slow and idle clients')
            self.assertLess(time.monotonic() - started, 3)
            held.append(descriptors())
            time.sleep(0.5)
        self.assertLessEqual(max(held), before + 8 + 1,
                             f'descriptors of the watcher: {before} alone, {held} beside the clients')
        stop.set()
        for t in lorises:
            t.join(10)

    @staticmethod
    def _try(probe):
        try:
            return probe()
        except OSError:
            return None


class HandOverPromiseTest(WatchCase):
    """A hook handed to the watcher takes no longer than the one-shot it replaces would, and its
    exit code says what happened, with an app server that hangs (security review 3, N2)."""

    rig_options = {'app_servers': 3}

    def hook(self, w, *extra):
        return self.run_agent('--event', 'standby_promote', '--node-id', '1', '--success', '1',
                              '--lock-file', w.lock_file, *extra, timeout=90)

    # A hook arriving during a round hung on a server is answered within a one-shot's time: a
    # unit test now (src/watch/round_test.cpp, WatcherTest.AHookArrivingDuringARoundHungOnAServer...).

    def test_a_hook_the_watcher_took_and_never_answered_does_not_say_nothing_was_written(self):
        # The watcher takes the hook, starts its round (app3 hangs), and is stopped: it may have
        # pushed to app1 and app2. The hook waits only what leaves a one-shot its time, then
        # tries the one-shot, which finds the stopped watcher's lock held: exit 4, and never
        # "REFUSED, nothing was written".
        w = self.watcher(1)
        w.wait_for(r'app3 127\.0\.1\.3: (updated|current)', timeout=15)
        stop_sshd(self, 3)
        mark = len(w.text())
        running = self.run_agent_in_background('--event', 'standby_promote', '--node-id', '1',
                                               '--success', '1', '--lock-file', w.lock_file, timeout=90)
        w.wait_for('a hook handed over standby_promote on node 1', after=mark, timeout=10)
        time.sleep(1)  # ACCEPTED is out; the hook's round waits for app3
        w.signal(signal.SIGSTOP)
        self.addCleanup(w.signal, signal.SIGCONT)
        hook = running.result(90)
        w.signal(signal.SIGCONT)
        self.assertExit(hook, 4)
        self.assertIn('handed over to the watcher, no answer', hook.err)
        self.assertIn('the watcher may have', hook.err)
        self.assertNotIn('nothing was written', hook.out + hook.err)
        self.assertLessEqual(hook.elapsed, 20 + 2, 'longer than the deadline')


FORGER = r"""
import os, socket, sys
path = sys.argv[1]
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX)
s.bind(path)
os.chmod(path, 0o777)
os.setgroups([]); os.setgid(65534); os.setuid(65534)   # listens as nobody
s.listen(8)
print('listening', flush=True)
text = b'PGDEPLOY OK - 3 of 3 app servers up to date (forged by uid %d)\n' % os.getuid()
while True:
    c, _ = s.accept()
    try:
        c.recv(65536)
        c.sendall(b'ACCEPTED\nEXIT 0 out %d\n' % len(text) + text)
    except OSError:
        pass    # the hook hung up at once: it did not believe us
    c.close()
"""


class ForeignListenerTest(WatchCase):
    """Only the watcher's own user is believed; no lock or socket in a directory others may write,
    and none in /tmp when HOME is unset (security review 3, N4). The DB host gets a /tmp of its
    own (sticky, 1777, as usual)."""

    rig_options = {'app_servers': 2}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.rig.dbhost.mount_tmpfs('/tmp', (0, 0), 0o1777, size='16m')

    def forge(self, lock_file):
        """`nobody` listens on lock_file's socket and answers every hook and check with exit 0."""
        proc = subprocess.Popen(self.rig.dbhost.argv(['/usr/bin/python3', '-c', FORGER, lock_file + '.sock']),
                                stdout=subprocess.PIPE, text=True, start_new_session=True)
        self.addCleanup(proc.stdout.close)
        self.addCleanup(proc.wait)
        self.addCleanup(proc.kill)
        self.assertEqual(proc.stdout.readline().strip(), 'listening')

    def hook(self, *extra, env=None):
        return self.run_agent('--event', 'standby_promote', '--node-id', '1', '--success', '1', *extra,
                              env=env)

    def test_another_users_listener_beside_the_lock_is_not_believed(self):
        lock = f'{PG_HOME}/.pgdeploy-other.lock'  # postgres' own 0755 home: only root put it there
        self.forge(lock)
        hook = self.hook('--lock-file', lock)
        self.assertNotIn('forged by uid', hook.out + hook.err)
        self.assertExit(hook, 0)  # the one-shot itself
        self.assertIn('2 of 2 app servers up to date', hook.out)
        self.assertIn(f'warning: {lock}.sock is served by uid 65534, not by this user', hook.out)
        check = self.run_agent('check', '--lock-file', lock)
        self.assertNotIn('forged by uid', check.out + check.err)
        self.assertExit(check, 0)

    def test_without_home_the_lock_is_in_the_passwd_home_not_tmp(self):
        self.forge('/tmp/.pgdeploy-main.lock')  # where HOME-less runs used to look
        hook = self.hook(env={'HOME': ''})
        self.assertNotIn('forged by uid', hook.out + hook.err)
        self.assertExit(hook, 0)
        self.assertTrue(os.path.exists(self.rig.dbhost.view(f'{PG_HOME}/.pgdeploy-main.lock')))
        self.assertFalse(os.path.exists(self.rig.dbhost.view('/tmp/.pgdeploy-main.lock')))
        check = self.run_agent('check', env={'HOME': ''})
        self.assertNotIn('forged by uid', check.out + check.err)
        self.assertExit(check, 0)
        # HOME not set at all (env -u HOME), as the review ran it.
        unset = {k: v for k, v in rigmod.postgres_env().items() if k != 'HOME'}
        argv = [self.rig.install_agent(), '-c', self.rig.cluster, '-p', self.rig.node[1].conninfo(),
                '--event', 'standby_promote', '--node-id', '1', '--success', '1']
        hook = subprocess.run(self.rig.dbhost.argv(argv, rigmod.PG_USER), env=unset, cwd=self.rig.dir,
                              capture_output=True, text=True, timeout=60)
        self.assertNotIn('forged by uid', hook.stdout + hook.stderr)
        self.assertEqual(hook.returncode, 0, hook.stdout + hook.stderr)
        self.assertFalse(os.path.exists(self.rig.dbhost.view('/tmp/.pgdeploy-main.lock')))

    def test_a_lock_in_a_directory_others_may_write_is_refused(self):
        lock = '/tmp/.pgdeploy-shared.lock'
        self.forge(lock)
        why = 'the directory /tmp of ' + lock + ' is writable by others (mode 1777): refused'
        hook = self.hook('--lock-file', lock)
        self.assertNotIn('forged by uid', hook.out + hook.err)
        self.assertExit(hook, 1)
        self.assertIn(why, hook.err)
        check = self.run_agent('check', '--lock-file', lock)
        self.assertNotIn('forged by uid', check.out + check.err)
        self.assertExit(check, 3)
        self.assertIn('PGDEPLOY UNKNOWN - ' + why, check.out)
        watch = self.run_agent('watch', '--lock-file', lock)
        self.assertExit(watch, 1)
        self.assertIn(why, watch.err)
        self.assertFalse(os.path.exists(self.rig.dbhost.view(lock)))


if __name__ == '__main__':
    support.main()
