#!/usr/bin/python3
"""Fencing when a reload fails: the deploy after a failover writes app1's files but PgBouncer
there is not reloaded (its `service pgbouncer reload` fails), so pgdeploy exits 3 and names
app1. Once reloads work again, running pgdeploy again must bring app1's PgBouncer to the new
primary: the files on disk are not what PgBouncer runs."""

import unittest

import support
from support import RigTestCase

SERVERS = (1, 2)
BROKEN = 1


class FailedReloadTest(RigTestCase):
    rig_options = {'app_servers': len(SERVERS)}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.require(cls.run_agent(), 0, 'first deploy (node1)')
        cls.rig.app[BROKEN].fail_reloads()
        cls.rig.node[1].stop('immediate')
        cls.rig.node[2].promote()
        cls.failed = cls.run_agent(node=2)
        cls.rig.app[BROKEN].fail_reloads(False)

    def test_failed_reload_is_reported(self):
        self.assertExit(self.failed, 3)
        self.assertRegex(self.server_line(self.failed, BROKEN),
                         r': FAILED .*reload failed: .*pgbouncer reload fails on purpose')
        self.assertRegex(self.server_line(self.failed, 2), r': updated \(main\.ini')
        self.assertReaches(2, port=5442)

    def test_rerun_after_the_failed_reload_brings_pgbouncer_to_node2(self):
        result = self.run_agent(node=2)
        self.assertExit(result, 0)
        self.assertNotRegex(self.server_line(result, BROKEN), r': unchanged\b',
                            'the files are current, but PgBouncer never loaded them')
        self.wait_reaches([BROKEN], port=5442, timeout=10)


class RepeatedEventTest(RigTestCase):
    """repmgr fires several events per failover (standby_promote, then repmgrd_failover_promote):
    a run that would push exactly what this node pushed a moment ago does nothing."""
    rig_options = {'app_servers': 2}

    def test_second_event_skips_the_ssh_pass_unless_told_not_to(self):
        event = ('--event', 'standby_promote', '--node-id', '1', '--success', '1')
        self.require(self.run_agent(*event), 0, 'first deploy')
        before = self.snapshot(SERVERS)

        again = self.run_agent('--event', 'repmgrd_failover_promote', '--node-id', '1', '--success', '1')
        self.assertExit(again, 0)
        self.assertIn('nothing to do', again.out)
        self.assertUntouched(before, SERVERS)

        db = self.create_database()       # something new to push: the shortcut must not apply
        changed = self.run_agent(*event)
        self.assertExit(changed, 0)
        for i in SERVERS:
            self.assertDeployed(i, db)

        forced = self.run_agent(*event, '--recent', '0')
        self.assertExit(forced, 0)
        for i in SERVERS:
            self.assertRegex(self.server_line(forced, i), r': unchanged\b')


if __name__ == '__main__':
    support.main()
