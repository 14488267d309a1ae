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
        rows = self.rig.node[2].psql('SELECT successful FROM repmgr.events '
                                f"WHERE node_id = 2 AND event = '{event}'")
        self.assertEqual(rows, [['t']], f'repmgr recorded no successful {event} on node2')
        self.assertIn(f'executing notification command for event "{event}"', repmgr_output)
        self.assertIn(self.rig.agent_path, repmgr_output)

    def assertEverythingOnNode2(self, reloads_before):
        self.wait_reaches(SERVERS, port=5442, timeout=NEW_PRIMARY_WAIT)
        for i in SERVERS:
            self.assertIn('port=5442', self.rig.app[i].ini_entry(support.APP_DB).split())
            self.assertGreater(self.rig.app[i].reload_count(), reloads_before[i],
                               f'app{i} PgBouncer was not reloaded by the repmgr-fired pgdeploy')


class ManualPromoteTest(FailoverCase):
    def test_standby_promote_redirects_every_pgbouncer(self):
        reloads = {i: self.rig.app[i].reload_count() for i in SERVERS}
        self.rig.node[1].stop('immediate')
        promote = self.rig.node[2].promote()   # repmgr runs event_notification_command for standby_promote
        self.assertRepmgrRanTheAgentFor('standby_promote', promote.stdout + promote.stderr)
        self.assertEverythingOnNode2(reloads)


class RepmgrdFailoverTest(FailoverCase):
    def test_automatic_failover_redirects_every_pgbouncer(self):
        for n in (1, 2):
            self.rig.node[n].start_repmgrd()
        reloads = {i: self.rig.app[i].reload_count() for i in SERVERS}
        self.rig.node[1].kill()
        self.rig.node[2].wait_writable(timeout=NEW_PRIMARY_WAIT)
        self.assertEverythingOnNode2(reloads)
        # repmgr's own standby_promote event may have re-pointed everything already; repmgrd
        # records repmgrd_failover_promote and logs running the command a moment later.
        def log_once_it_ran():
            text = support.rig.read_text(self.rig.node[2].log)
            return text if 'event "repmgrd_failover_promote"' in text else None
        support.wait_until(log_once_it_ran, timeout=NEW_PRIMARY_WAIT)
        self.assertRepmgrRanTheAgentFor('repmgrd_failover_promote',
                                        support.rig.read_text(self.rig.node[2].log))


if __name__ == '__main__':
    support.main()
