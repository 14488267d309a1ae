#!/usr/bin/python3
"""Fencing, after a failover: node1 died, node2 was promoted and deployed, then node1 came
back as a writable primary on its old timeline (nobody rejoined it). Whatever runs on node1's
side must not take the PgBouncers back; an older truth never replaces a newer one; events that
do not move the primary do nothing at all.

One rig for the class: every test leaves the app servers as it found them."""

import os
import re
import signal

import support
from support import RigTestCase, remote_files

SERVERS = (1, 2)
INCLUDE = remote_files('main')[0]


class StalePrimaryTest(RigTestCase):
    rig_options = {'app_servers': len(SERVERS)}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.require(cls.run_agent(), 0, 'first deploy (node1)')
        cls.rig.node[1].stop('immediate')
        cls.rig.node[2].promote()
        cls.require(cls.run_agent(node=2), 0, 'deploy after the promotion (node2)')
        # node1 comes back as it was: no standby.signal, so a primary on timeline 1.
        cls.rig.node[1].start()
        cls.rig.node[1].wait_writable(timeout=30)

    def setUp(self):
        self.assertTrue(self.rig.node[1].is_writable() and self.rig.node[2].is_writable(),
                        'node1 (stale) and node2 (new primary) should both be writable')
        self.assertEveryPgBouncerOnNode2()
        self.before = self.snapshot(SERVERS)

    def assertEveryPgBouncerOnNode2(self):
        for i in SERVERS:
            self.assertIn('port=5442', self.rig.app[i].ini_entry(support.APP_DB).split())
            self.assertReaches(i, port=5442)

    def assertNothingHappened(self):
        self.assertUntouched(self.before, SERVERS)
        self.assertEveryPgBouncerOnNode2()

    def create_database_on_node2(self):
        """Something a deploy from node2 would write (the rig's primary_node() would
        pick the stale node1)."""
        name = f'fence_{next(self._names)}'
        self.rig.node[2].psql(f'CREATE DATABASE {name}')
        return name

    # ---- the old primary runs the agent --------------------------------------------

    def assertStalePrimaryRefused(self, result):
        self.assertExit(result, 1)
        self.assertIn('stale primary', result.err)
        self.assertRegex(result.err, r'node1 \(id 1\): writable, timeline 1\b')
        self.assertRegex(result.err, r'node2 \(id 2\): writable, timeline 2\b')
        self.assertEqual(result.out, '', 'a refusal goes to stderr only')
        self.assertNothingHappened()

    def test_seed_style_run_on_the_stale_primary_refuses(self):
        """`pgdeploy -c main -p <node1>`, as the seed README wires it: exit 1, nothing written."""
        self.assertStalePrimaryRefused(self.run_agent(node=1))

    def test_deploy_event_on_the_stale_primary_refuses(self):
        """An event that would deploy (say someone re-registers node1 as primary): same proof."""
        self.assertStalePrimaryRefused(self.run_agent(
            '--event', 'primary_register', '--node-id', '1', '--success', '1', node=1))

    def test_repmgrd_start_on_the_stale_primary_does_nothing(self):
        """What repmgrd on the restarted node1 fires: not a deploy event."""
        result = self.run_agent('--event', 'repmgrd_start', '--node-id', '1', '--success', '1',
                                '--details', 'monitoring cluster primary "node1" (ID: 1)', node=1)
        self.assertExit(result, 0)
        self.assertIn('nothing to do', result.out)
        self.assertEqual(len(result.out.splitlines()), 1, result.out)
        self.assertEqual(result.err, '')
        self.assertNothingHappened()

    def test_stale_primary_cut_off_from_node2_takes_no_server_back(self):
        """node1 cannot reach node2 (its postmaster is stopped: connects time out), so node1's
        run proves node1; the servers' newer token (node2, timeline 2) still keeps it out."""
        postmaster = self.rig.node[2].postmaster_pid()
        os.kill(postmaster, signal.SIGSTOP)
        try:
            result = self.run_agent(node=1)
        finally:
            os.kill(postmaster, signal.SIGCONT)
        # 5 since the servers' newer token is evidence that node1's proof is stale (docs/fencing.md,
        # security review 3 N8); 0 before, with the same servers skipped; 1 if node1 refuses.
        self.assertIn(result.rc, (5, 1), f'{result.out}{result.err}')
        self.assertRegex(result.out + result.err, r'node2 \(id 2\): unreachable: ')
        if result.rc == 5:
            for i in SERVERS:
                self.assertRegex(self.server_line(result, i),
                                 r': skipped: newer config present: .*primary=2 timeline=2 ')
        self.assertNothingHappened()

    # ---- events that do not move the primary -----------------------------------------

    def test_failed_or_unlisted_event_does_nothing(self):
        db = self.create_database_on_node2()      # a deploy would write it, were there one
        cases = [
            ('standby_promote', '0', self.rig.node[2].conninfo()),
            ('repmgrd_failover_promote', '0', self.rig.node[2].conninfo()),
            ('standby_switchover', '0', self.rig.node[1].conninfo()),
            ('repmgrd_reload', '1', self.rig.node[2].conninfo()),
            ('standby_register', '1', self.rig.node[2].conninfo()),
            ('repmgrd_local_disconnect', '1', self.rig.node[1].conninfo()),
            # Answered before any database is asked: nothing even listens here.
            ('standby_promote', '0', 'host=127.0.0.1 port=5449 user=repmgr dbname=repmgr'),
        ]
        for event, success, conninfo in cases:
            with self.subTest(event=event, success=success, conninfo=conninfo):
                result = self.run_agent('--event', event, '--node-id', '2', '--success', success,
                                        '--details', 'test', '-p', conninfo)
                self.assertExit(result, 0)
                self.assertEqual(len(result.out.splitlines()), 1, f'one line:\n{result.out}')
                self.assertIn(event, result.out)
                self.assertIn('nothing to do', result.out)
                self.assertEqual(result.err, '')
                self.assertNothingHappened()

        # Control: the same event, successful, on the real primary deploys.
        before = self.snapshot(SERVERS)
        result = self.run_agent('--event', 'standby_promote', '--node-id', '2', '--success', '1',
                                node=2)
        self.assertExit(result, 0)
        for i in SERVERS:
            self.assertDeployed(i, db, port=5442, reloads_before=before[(i, 'reloads')])

    # ---- an older truth never replaces a newer one -------------------------------------

    def test_newer_config_on_a_server_is_left_alone(self):
        """app1's include file claims a later timeline than node2's: a node2 deploy skips
        app1 ("skipped: newer config present") and still updates app2; exit 0."""
        original = self.rig.app[1].read_file(INCLUDE)
        header, _, body = original.partition('\n')
        self.assertRegex(header, r' timeline=2 ')
        forged = re.sub(r' timeline=\d+ ', ' timeline=99 ', header) + '\n' + body
        path = self.rig.app[1].host_path(INCLUDE)
        support.rig.write_file(path, forged, 0o600, support.rig.POSTGRES)
        self.addCleanup(self.rig.run_agent, ['-c', self.rig.cluster, '-p', self.rig.node[2].conninfo()])
        self.addCleanup(support.rig.write_file, path, original, 0o600, support.rig.POSTGRES)
        db = self.create_database_on_node2()
        before = self.snapshot(SERVERS)

        result = self.run_agent(node=2)

        self.assertExit(result, 0)
        self.assertRegex(self.server_line(result, 1),
                         r': skipped: newer config present: .*\btimeline=99\b')
        self.assertUntouched({k: v for k, v in before.items() if k[0] == 1}, [1])
        self.assertIsNone(self.rig.app[1].ini_entry(db), 'app1 must keep its (newer) file')
        self.assertReaches(1, port=5442)
        self.assertRegex(self.server_line(result, 2), r': updated \(')
        self.assertDeployed(2, db, port=5442, reloads_before=before[(2, 'reloads')])
        self.assertIn(f'{len(SERVERS)} of {len(SERVERS)} app servers up to date', result.out)


if __name__ == '__main__':
    support.main()
