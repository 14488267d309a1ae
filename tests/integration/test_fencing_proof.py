#!/usr/bin/python3
"""Fencing, the proof of the primary against a real cluster: a node that is down does not stop
a deploy that is otherwise certain; two writable nodes (promoted behind repmgr's back) stop
every deploy, from whichever node it runs, and the refusal says what each node is. While a hung
node makes the proof wait, the agent is already logged in to the app servers."""

import support
from rig import read_text as rig_text
from support import RigTestCase

SERVERS = (1, 2)


class DownNodeTest(RigTestCase):
    rig_options = {'app_servers': len(SERVERS), 'nodes': 3}

    def assertDeployedTo(self, result, node, down):
        self.assertExit(result, 0)
        self.assertIn(f'primary node{node} (id {node}) at 127.0.0.1:544{node}, timeline {node}',
                      result.out)
        for n in down:
            self.assertRegex(result.out, rf'(?m)^  node{n} \(id {n}\): unreachable: \S')
        for i in SERVERS:
            self.assertRegex(self.server_line(result, i), r': updated \(main\.ini')
            self.assertIn(f'port=544{node}', self.rig.app[i].ini_entry(support.APP_DB).split())
            self.assertReaches(i, port=5440 + node)

    def test_down_nodes_do_not_stop_a_certain_deploy(self):
        self.rig.node[3].stop('immediate')            # a standby
        result = self.run_agent(node=1)
        self.assertDeployedTo(result, 1, down=[3])
        self.assertRegex(result.out, r'(?m)^  node1 \(id 1\): writable, timeline 1$')
        self.assertRegex(result.out, r'(?m)^  node2 \(id 2\): read-only, timeline 1$')

        # Failover while node3 is still down: node1 and node3 unreachable, node2 proven.
        self.rig.node[1].stop('immediate')
        self.rig.node[2].promote()
        result = self.run_agent(node=2)
        self.assertDeployedTo(result, 2, down=[1, 3])
        self.assertRegex(result.out, r'(?m)^  node2 \(id 2\): writable, timeline 2$')


class HungOldPrimaryTest(RigTestCase):
    """node1 hangs (its postmaster stopped: connections are accepted, nothing answers) and node2
    is promoted. The proof waits out node1's probe timeout; the logins to the app servers are
    made meanwhile, and nothing is written before the proof is done."""
    rig_options = {'app_servers': len(SERVERS)}
    PROBE_TIMEOUT = 4   # s: the logins take a fraction of it

    def test_logins_are_made_while_the_proof_waits(self):
        self.require(self.run_agent(), 0, 'first deploy (node1)')
        self.rig.node[2].promote_behind_repmgr(record=True)
        self.rig.node[1].freeze()
        self.addCleanup(self.rig.node[1].thaw)
        logins = {i: self.accepted_logins(i) for i in SERVERS}
        ini = {i: self.rig.app[i].ini_entry(support.APP_DB) for i in SERVERS}
        run = self.run_agent_in_background('--probe-timeout', str(self.PROBE_TIMEOUT), node=2)
        logged_in = support.wait_until(
            lambda: all(self.accepted_logins(i) > logins[i] for i in SERVERS), self.PROBE_TIMEOUT - 1, 0.05)
        still_proving = not run.done()
        unwritten = all(self.rig.app[i].ini_entry(support.APP_DB) == ini[i] for i in SERVERS)
        result = run.result()
        self.assertTrue(logged_in, 'no SSH login to every app server while node1 was being probed')
        self.assertTrue(still_proving, 'pgdeploy ended before it was seen logged in')
        self.assertTrue(unwritten, 'an app server got its files before the proof was done')
        self.assertExit(result, 0)
        self.assertRegex(result.out, r'(?m)^  node1 \(id 1\): unreachable: ')
        for i in SERVERS:
            self.assertRegex(self.server_line(result, i), r': updated \(main\.ini')
            self.assertIn('port=5442', self.rig.app[i].ini_entry(support.APP_DB).split())

    def accepted_logins(self, i):
        return (rig_text(self.rig.app[i].sshd_log) or '').count('Accepted publickey for postgres')


class SplitBrainCase(RigTestCase):
    """After a first deploy to node1, nodes are promoted behind repmgr's back (pg_ctl
    promote): several writable nodes, catalogs that still name node1."""

    rig_options = {'app_servers': len(SERVERS)}
    PROMOTED = (2,)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.require(cls.run_agent(), 0, 'first deploy (node1)')
        for n in cls.PROMOTED:
            cls.rig.node[n].promote_behind_repmgr()

    def setUp(self):
        for n in (1,) + self.PROMOTED:
            self.assertTrue(self.rig.node[n].is_writable(), f'node{n} should be writable')
        self.rig.node[1].psql(f'CREATE DATABASE fence_{next(self._names)}')   # something to write
        self.before = self.snapshot(SERVERS)

    def assertRefused(self, result, *patterns):
        self.assertExit(result, 1)
        self.assertEqual(result.out, '')
        self.assertRegex(result.err, r'(?m)^pgdeploy: REFUSED, nothing was written on any app server: ')
        for pattern in patterns:
            self.assertRegex(result.err, pattern)
        self.assertUntouched(self.before, SERVERS)
        for i in SERVERS:
            self.assertReaches(i, port=5441)

    def alter(self, node, sql, undo):
        self.rig.node[node].psql(sql)
        self.addCleanup(self.rig.node[node].psql, undo)


class SplitBrainTest(SplitBrainCase):
    """node1 on timeline 1 and node2 on timeline 2, both writable."""

    NODE1 = r'(?m)^  node1 \(id 1\): writable, timeline 1$'
    NODE2 = r'(?m)^  node2 \(id 2\): writable, timeline 2$'
    CATALOG = (r"repmgr's catalog names node1 \(id 1\) as primary, but the writable node on "
               r'the newest timeline is node2 \(id 2\)')

    def test_run_on_node1_refuses(self):
        result = self.run_agent(node=1)
        self.assertRefused(result, self.CATALOG, r'this node is a stale primary \(writable on '
                                                 r'timeline 1, newest seen 2\)', self.NODE1, self.NODE2)

    def test_run_on_node2_refuses(self):
        result = self.run_agent(node=2)
        self.assertRefused(result, self.CATALOG, self.NODE1, self.NODE2)
        self.assertNotIn('stale primary', result.err)

    def test_promote_event_on_node2_refuses(self):
        result = self.run_agent('--event', 'standby_promote', '--node-id', '2', '--success', '1',
                                node=2)
        self.assertRefused(result, self.CATALOG, self.NODE1, self.NODE2)

    def test_two_primaries_in_node2_catalog_refuse(self):
        self.alter(2, "UPDATE repmgr.nodes SET type = 'primary', upstream_node_id = NULL "
                      'WHERE node_id = 2',
                   "UPDATE repmgr.nodes SET type = 'standby', upstream_node_id = 1 WHERE node_id = 2")
        result = self.run_agent(node=2)
        self.assertRefused(result, r"repmgr's catalog names 2 active primaries: "
                                   r'node1 \(id 1\), node2 \(id 2\)', self.NODE1, self.NODE2)


class SameTimelineSplitBrainTest(SplitBrainCase):
    """node2 and node3 both promoted from node1's timeline 1: two writable nodes on timeline 2
    (and node1 still writable on 1). Not even a catalog that names one of them settles it."""

    rig_options = {'app_servers': len(SERVERS), 'nodes': 3}
    PROMOTED = (2, 3)
    SPLIT = r'split brain: node2 \(id 2\), node3 \(id 3\) are all writable on timeline 2'

    def node_lines(self):
        return [rf'(?m)^  node{n} \(id {n}\): writable, timeline {1 if n == 1 else 2}$'
                for n in (1, 2, 3)]

    def test_run_on_every_node_refuses(self):
        for n in (1, 2, 3):
            with self.subTest(node=n):
                self.assertRefused(self.run_agent(node=n), self.SPLIT, *self.node_lines())

    def test_catalog_naming_node2_still_refuses(self):
        self.alter(2, "BEGIN; UPDATE repmgr.nodes SET active = false WHERE node_id = 1; "
                      "UPDATE repmgr.nodes SET type = 'primary', upstream_node_id = NULL "
                      'WHERE node_id = 2; COMMIT;',
                   "BEGIN; UPDATE repmgr.nodes SET type = 'standby', upstream_node_id = 1 "
                   'WHERE node_id = 2; UPDATE repmgr.nodes SET active = true WHERE node_id = 1; '
                   'COMMIT;')
        self.assertRefused(self.run_agent(node=2), self.SPLIT, *self.node_lines())


if __name__ == '__main__':
    support.main()
