#!/usr/bin/python3
"""Failover: repmgr itself runs pgdeploy (event_notification_command, wired as the
seed README does) and every PgBouncer ends up on the new primary.

Each test gets a fresh rig: a failover cannot be undone."""

import support
from support import RigTestCase
from rig import SEED_NOTIFY

SERVERS = (1, 2, 3)
NEW_PRIMARY_WAIT = 30     # s: promote + repmgr firing the agent + PgBouncer reconnecting


class FailoverCase(RigTestCase):
    rig_options = {'app_servers': len(SERVERS), 'event_notification_command': SEED_NOTIFY}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.initial = cls.run_agent()

    def setUp(self):
        self.assertExit(self.initial, 0)
        for i in SERVERS:
            self.assertReaches(i, port=5441)

    def assertRepmgrRanTheAgentFor(self, event, repmgr_output):
        rows = self.rig.psql(2, 'SELECT successful FROM repmgr.events '
                                f"WHERE node_id = 2 AND event = '{event}'")
        self.assertEqual(rows, [['t']], f'repmgr recorded no successful {event} on node2')
        self.assertIn(f'executing notification command for event "{event}"', repmgr_output)
        self.assertIn(self.rig.agent_path, repmgr_output)

    def assertEverythingOnNode2(self, reloads_before):
        self.wait_reaches(SERVERS, port=5442, timeout=NEW_PRIMARY_WAIT)
        for i in SERVERS:
            self.assertIn('port=5442', self.ini_entry(i, support.APP_DB).split())
            self.assertGreater(self.rig.reload_count(i), reloads_before[i],
                               f'app{i} PgBouncer was not reloaded by the repmgr-fired pgdeploy')


class ManualPromoteTest(FailoverCase):
    def test_standby_promote_redirects_every_pgbouncer(self):
        reloads = {i: self.rig.reload_count(i) for i in SERVERS}
        self.rig.stop_node(1, 'immediate')
        promote = self.rig.promote(2)   # repmgr runs event_notification_command for standby_promote
        self.assertRepmgrRanTheAgentFor('standby_promote', promote.stdout + promote.stderr)
        self.assertEverythingOnNode2(reloads)


class RepmgrdFailoverTest(FailoverCase):
    def test_automatic_failover_redirects_every_pgbouncer(self):
        for n in (1, 2):
            self.rig.start_repmgrd(n)
        reloads = {i: self.rig.reload_count(i) for i in SERVERS}
        self.rig.kill_node(1)
        self.rig.wait_writable(2, timeout=NEW_PRIMARY_WAIT)
        self.assertEverythingOnNode2(reloads)
        self.assertRepmgrRanTheAgentFor('repmgrd_failover_promote',
                                        support.rig.read_text(self.rig.node_log(2)))


if __name__ == '__main__':
    support.main()
