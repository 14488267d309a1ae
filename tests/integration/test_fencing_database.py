#!/usr/bin/python3
"""Fencing at the database, and a newer truth that stops a push (docs/fencing.md).

After a failover node1 came back as a writable primary on its old timeline (nobody rejoined
it), while node2 is the proven primary on timeline 2 and every PgBouncer leads there:
- without --fence-stale a deploy only names node1, and `pgdeploy check` is CRITICAL;
- with it, node1's fence is raised: a fresh client session cannot write there, an open one is
  ended, repmgr's own session and replication are not, and a second run finds it fenced;
- with node2 down, node1 proves itself (it cannot see node2: security review 3, N8). An app server
  that lost its file (re-provisioned) must not be routed to node1 because of it: the servers that
  hold node2's newer config stop the push, of the watcher on node1 and of a one-shot there.

One rig for the class: every test leaves it as it found it (node1 unfenced, node2 up)."""

import os
import subprocess
import time

import support
from support import RigTestCase, remote_files
from rig import ClientSession, PG_BIN, APP_DB, APP_USER, APP_PASSWORD

SERVERS = (1, 2)
INCLUDE = remote_files('main')[0]


class StalePrimaryFenceTest(RigTestCase):
    rig_options = {'app_servers': len(SERVERS), 'nodes': 3}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.require(cls.run_agent(), 0, 'first deploy (node1)')
        cls.rig.node[1].psql('CREATE TABLE fence_probe (i int); GRANT ALL ON fence_probe TO PUBLIC',
                             db=APP_DB)
        cls.rig.node[1].stop('immediate')
        cls.rig.node[2].promote()
        cls.require(cls.run_agent(node=2), 0, 'deploy after the promotion (node2)')
        # node1 comes back as it was: no standby.signal, so a primary on timeline 1.
        cls.rig.node[1].start()
        cls.rig.node[1].wait_writable(timeout=30)

    def setUp(self):
        self.assertTrue(self.rig.node[1].is_writable() and self.rig.node[2].is_writable())
        self.assertEqual(self.read_only_default(1), 'off', 'node1 starts unfenced')

    def tearDown(self):
        if not self.rig.node[1].postmaster_pid():  # --fence-stale=stop
            self.rig.node[1].start()
            self.rig.node[1].wait_writable(timeout=30)
        # The steps docs/fencing.md gives to lift the fence (here without the rejoin).
        self.rig.node[1].psql('ALTER SYSTEM RESET default_transaction_read_only')
        self.rig.node[1].psql('SELECT pg_reload_conf()')
        if not self.rig.node[2].postmaster_pid():
            self.rig.node[2].start()
            self.rig.node[2].wait_writable(timeout=30)

    def read_only_default(self, n):
        return self.rig.node[n].psql('SHOW default_transaction_read_only')[0][0]

    def direct_session(self, n, user=APP_USER, password=APP_PASSWORD):
        """A client session straight to node n (no PgBouncer), held open."""
        env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'LANG': 'C.UTF-8',
               'PGHOST': '127.0.0.1', 'PGPORT': str(self.rig.node[n].port), 'PGUSER': user,
               'PGPASSWORD': password, 'PGDATABASE': APP_DB, 'PGCONNECT_TIMEOUT': '5'}
        session = ClientSession([os.path.join(PG_BIN, 'psql'), '-X', '-q', '-A', '-t'], env)
        self.addCleanup(session.close)
        self.assertEqual(session.query('select 1'), '1\n')
        return session

    def direct_write(self, n):
        """An INSERT on node n through a fresh client session: (ok, psql's output)."""
        env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'LANG': 'C.UTF-8',
               'PGPASSWORD': APP_PASSWORD, 'PGCONNECT_TIMEOUT': '5'}
        proc = subprocess.run([os.path.join(PG_BIN, 'psql'), '-X', '-v', 'ON_ERROR_STOP=1', '-h',
                               '127.0.0.1', '-p', str(self.rig.node[n].port), '-U', APP_USER, '-d',
                               APP_DB, '-c', 'INSERT INTO fence_probe VALUES (1)'],
                              env=env, capture_output=True, text=True, timeout=30)
        return proc.returncode == 0, proc.stdout + proc.stderr

    def replication(self, n):
        return self.rig.node[n].psql("SELECT application_name, state FROM pg_stat_replication "
                                     "ORDER BY 1")

    def test_off_names_the_stale_primary_and_check_is_critical(self):
        result = self.run_agent(node=2)
        self.assertExit(result, 0)
        self.assertRegex(result.out, r'STALE PRIMARY node1 \(id 1\): writable on timeline 1; '
                                     r'node2 \(id 2\) is on timeline 2: NOT FENCED, it accepts writes')
        self.assertEqual(self.read_only_default(1), 'off')
        self.assertTrue(self.direct_write(1)[0], 'without --fence-stale node1 still takes writes')
        check = self.run_agent('check', node=2)
        self.assertExit(check, 2)
        self.assertRegex(check.out, r'^PGDEPLOY CRITICAL - 1 stale primary, 1 accepting writes')
        self.assertIn('stale primary: node1 (id 1)', check.out)

    def test_fence_ends_client_sessions_and_refuses_new_writes_but_spares_repmgr(self):
        client = self.direct_session(1)
        repmgr = self.direct_session(1, user='repmgr', password='')
        replication = {n: self.replication(n) for n in (1, 2)}
        result = self.run_agent('--fence-stale', node=2)
        self.assertExit(result, 6)
        self.assertRegex(result.out, r'STALE PRIMARY node1 \(id 1\): writable on timeline 1; node2 '
                                     r'\(id 2\) is on timeline 2: FENCE RAISED: '
                                     r'default_transaction_read_only on, [1-9]\d* client sessions ended')
        self.assertEqual(self.read_only_default(1), 'on')
        self.assertEqual(self.read_only_default(2), 'off', 'the proven primary is never touched')
        self.assertIsNone(client.query('select 1'), 'the open client session was ended')
        ok, out = self.direct_write(1)
        self.assertFalse(ok, 'a fresh session cannot write on the fenced node1')
        self.assertIn('read-only transaction', out)
        self.assertEqual(repmgr.query('select 1'), '1\n', "repmgr's own session was spared")
        self.assertEqual({n: self.replication(n) for n in (1, 2)}, replication,
                         'replication (walsenders) untouched')
        status = self.rig.node[1].repmgr('node', 'status', check=False)
        self.assertIn('Node "node1"', status.stdout, status.stderr)
        self.assertTrue(self.direct_write(2)[0], 'node2 takes writes as before')

        # Idempotent: the next run finds the fence and does nothing more.
        again = self.run_agent('--fence-stale', node=2)
        self.assertExit(again, 0)
        self.assertIn('fenced (default_transaction_read_only on)', again.out)
        self.assertNotIn('FENCE RAISED', again.out)
        check = self.run_agent('check', node=2)
        self.assertExit(check, 1)
        self.assertRegex(check.out, r'^PGDEPLOY WARNING - 1 stale primary, fenced')

    def test_stop_also_stops_the_postmaster(self):
        result = self.run_agent('--fence-stale=stop', node=2)
        self.assertExit(result, 6)
        self.assertIn('postmaster told to stop (fast shutdown)', result.out)
        self.assertTrue(support.wait_until(lambda: not self.rig.node[1].postmaster_pid(), 30),
                        'node1 stopped')
        self.assertTrue(self.rig.node[2].is_writable(), 'the proven primary runs on')
        after = self.run_agent('--fence-stale=stop', node=2)
        self.assertExit(after, 0)
        self.assertNotIn('STALE PRIMARY', after.out, 'a stopped node proves nothing')

    def test_the_stale_nodes_own_watcher_fences_it(self):
        client = self.direct_session(1)
        watcher = self.rig.node[1].start_watcher(['--fence-stale'], interval=0.5)
        try:
            watcher.wait_for(r'STALE PRIMARY node1 \(id 1\): .*FENCE RAISED', timeout=30)
        finally:
            watcher.stop()
        self.assertEqual(self.read_only_default(1), 'on')
        self.assertIsNone(client.query('select 1'))

    # ---- N8: node1 cannot see node2 -----------------------------------------------

    def lose_node2_and_app2s_file(self):
        self.rig.node[2].stop('immediate')
        self.rig.app[2].write_file(INCLUDE, '')  # a re-provisioned server: no token there
        self.addCleanup(self.restore_app2)

    def restore_app2(self):
        if not self.rig.node[2].postmaster_pid():
            self.rig.node[2].start()
            self.rig.node[2].wait_writable(timeout=30)
        self.require(self.run_agent(node=2), 0, 'deploy from node2 again')

    def test_a_one_shot_on_the_unseeing_stale_primary_reports_a_newer_truth(self):
        self.lose_node2_and_app2s_file()
        result = self.run_agent(node=1)
        self.assertExit(result, 5)
        self.assertRegex(result.out, r'skipped: newer config present')
        self.assertRegex(result.out, r'NEWER TRUTH, this run\'s proof is stale and counts as not '
                                     r'pushing: app1 \S+ holds the config of primary id 2 on timeline 2')

    def test_the_unseeing_stale_primarys_watcher_writes_nothing(self):
        self.lose_node2_and_app2s_file()
        before = self.rig.app[2].read_file(INCLUDE)
        watcher = self.rig.node[1].start_watcher([], interval=0.5)
        try:
            watcher.wait_for(r'proven primary: node1 \(id 1\) timeline 1', timeout=30)
            # Six rounds and more: main wrote node1's stale route there within about 2 s.
            time.sleep(3)
            self.assertEqual(self.rig.app[2].read_file(INCLUDE), before,
                             "app2's lost file was not replaced by node1's stale route")
            watcher.wait_for(r'NEWER TRUTH, writing nothing: app1 \S+ holds the config of '
                             r'primary id 2 on timeline 2', timeout=5)
        finally:
            watcher.stop()
        self.assertIn('port=5442', self.rig.app[1].ini_entry(support.APP_DB).split())


class RequireMajorityTest(RigTestCase):
    """--require-majority on a two-node cluster: with the standby down the primary, which proves
    itself without the option, has no majority (1 of 2)."""
    rig_options = {'app_servers': 1, 'nodes': 2}

    def test_a_two_node_cluster_with_one_node_down_cannot_prove_a_primary(self):
        self.assertExit(self.run_agent('--require-majority'), 0)
        self.rig.node[2].stop('immediate')
        before = self.snapshot((1,))
        result = self.run_agent('--require-majority')
        self.assertExit(result, 1)
        self.assertIn("REFUSED, nothing was written on any app server: --require-majority: 1 of the "
                      "catalog's 2 nodes answer (a witness counts), and 2 must", result.err)
        self.assertUntouched(before, (1,))
        self.assertExit(self.run_agent(), 0)  # the same cluster without the option


if __name__ == '__main__':
    support.main()
