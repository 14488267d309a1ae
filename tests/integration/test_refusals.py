#!/usr/bin/python3
"""Cluster or database problems: pgdeploy exits 1 and writes nothing anywhere
(the seed's "fails violently to avoid breaking the PgBouncers' configuration
fixed by another master node")."""

import os

import support
from support import PG_HOME, RigTestCase

SERVERS = (1, 2)


class RefusalTest(RigTestCase):
    rig_options = {'app_servers': len(SERVERS)}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.initial = cls.run_agent()     # real content on every server, to compare against

    def setUp(self):
        self.assertExit(self.initial, 0)
        self.create_database()      # something a deploy would write, were it not refused
        self.before = self.snapshot(SERVERS)

    def assertRefused(self, result):
        self.assertExit(result, 1)
        self.assertTrue(result.err.strip(), 'exit 1 without a message on stderr')
        self.assertUntouched(self.before, SERVERS)
        for i in SERVERS:
            self.assertReaches(i, port=5441)

    def alter(self, sql, undo):
        """Change the catalog on the primary for this test only."""
        self.rig.node[1].psql(sql)
        self.addCleanup(self.rig.node[1].psql, undo)

    def test_database_down(self):
        self.rig.node[2].stop('immediate')
        self.addCleanup(self.rig.node[2].start)
        self.assertRefused(self.run_agent(node=2))

    def test_nothing_listening(self):
        self.assertRefused(self.run_agent('-p', 'host=127.0.0.1 port=5449 user=repmgr dbname=repmgr '
                                                'connect_timeout=2'))

    def test_no_primary(self):
        self.alter("UPDATE repmgr.nodes SET type = 'standby' WHERE node_id = 1",
                   "UPDATE repmgr.nodes SET type = 'primary' WHERE node_id = 1")
        self.assertRefused(self.run_agent())

    def test_inactive_primary(self):
        self.alter('UPDATE repmgr.nodes SET active = false WHERE node_id = 1',
                   'UPDATE repmgr.nodes SET active = true WHERE node_id = 1')
        self.assertRefused(self.run_agent())

    def test_two_primaries(self):
        self.alter("UPDATE repmgr.nodes SET type = 'primary', upstream_node_id = NULL WHERE node_id = 2",
                   "UPDATE repmgr.nodes SET type = 'standby', upstream_node_id = 1 WHERE node_id = 2")
        self.assertRefused(self.run_agent())

    def test_no_enabled_app_server(self):
        self.alter('UPDATE repmgr.app_servers SET enabled = false',
                   'UPDATE repmgr.app_servers SET enabled = true')
        self.assertRefused(self.run_agent())

    def test_no_app_servers_table(self):
        self.alter('ALTER TABLE repmgr.app_servers RENAME TO app_servers_gone',
                   'ALTER TABLE repmgr.app_servers_gone RENAME TO app_servers')
        self.assertRefused(self.run_agent())

    def test_database_without_repmgr_catalog(self):
        self.assertRefused(self.run_agent('-p', self.rig.node[1].conninfo(dbname=support.APP_DB)))


    def test_password_in_the_conninfo_is_not_echoed(self):
        result = self.run_agent('-p', 'host=127.0.0.1 port=5449 user=repmgr dbname=repmgr '
                                      'password=s3cret-pw connect_timeout=2')
        self.assertRefused(result)
        self.assertNotIn('s3cret-pw', result.out + result.err)
        self.assertIn("cannot connect to the database (", result.err)
        self.assertIn("password='***'", result.err)

    def test_symlinked_lock_file_is_refused(self):
        target = os.path.join(self.rig.db_home, 'lock-target')
        link = os.path.join(self.rig.db_home, 'linked.lock')
        os.symlink(target, link)
        self.addCleanup(os.unlink, link)
        result = self.run_agent('--lock-file', f'{PG_HOME}/linked.lock')
        self.assertRefused(result)
        self.assertIn(f'lock file {PG_HOME}/linked.lock is a symbolic link: refused', result.err)
        self.assertFalse(os.path.lexists(target), 'the lock was created through the symlink')


if __name__ == '__main__':
    support.main()
