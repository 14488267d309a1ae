#!/usr/bin/python3
"""A repmgr 3 catalog (schema repmgr_<cluster>, table repl_nodes with type 'master',
app_servers beside it as the seed README created it) is detected and used."""

import support
from support import RigTestCase, remote_files


class Repmgr3CatalogTest(RigTestCase):
    rig_options = {'app_servers': 2}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Only database `legacy` has the repmgr 3 catalog, and its app_servers lists only app1:
        # what happens on app2 tells which catalog pgdeploy read.
        cls.conninfo = cls.rig.create_repmgr3_catalog(db='legacy')
        cls.rig.node[1].psql(f"DELETE FROM repmgr_{cls.rig.cluster}.app_servers WHERE name = 'app2'",
                     db='legacy')
        cls.result = cls.run_agent('-p', cls.conninfo)

    def test_deploys_the_master(self):
        self.assertExit(self.result, 0)
        self.assertReaches(1, port=5441)
        entry = self.rig.app[1].ini_entry(support.APP_DB)
        self.assertIn('port=5441', entry.split())
        self.assertIn('host=127.0.0.1', entry.split())

    def test_uses_the_repmgr3_app_servers_table(self):
        self.assertEqual(self.rig.app[2].reload_count(), 0, 'app2 is not in repmgr_<cluster>.app_servers')
        self.assertEqual(self.rig.app[2].read_file(remote_files(self.rig.cluster)[0]), '')

    def test_pgpass_copied_without_auth_trust_column(self):
        self.assertIsNotNone(self.rig.app[1].read_file(f'{support.PG_HOME}/.pgpass'))

    def test_master_is_inactive_means_refusal(self):
        schema = f'repmgr_{self.rig.cluster}'
        self.create_database()
        before = self.snapshot([1, 2])
        self.rig.node[1].psql(f'UPDATE {schema}.repl_nodes SET active = false WHERE id = 1', db='legacy')
        self.addCleanup(self.rig.node[1].psql, f'UPDATE {schema}.repl_nodes SET active = true WHERE id = 1',
                        db='legacy')
        self.assertExit(self.run_agent('-p', self.conninfo), 1)
        self.assertUntouched(before, [1, 2])


if __name__ == '__main__':
    support.main()
