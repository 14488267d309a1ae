#!/usr/bin/python3
"""Rows and hosts the agent must survive: ids that are NULL or beyond int in app_servers,
node_public_info and the node catalog, two app_servers rows for one host, and an app server
that answers without end. Each is named in the output; what can be deployed still is."""

import json
import os

import support
from support import RigTestCase

SERVERS = (1, 2, 3)


class HostileRowsTest(RigTestCase):
    rig_options = {'app_servers': len(SERVERS)}

    def sql(self, text, undo=None, db='repmgr'):
        """Change the catalog on the primary, undone after the test."""
        self.rig.node[1].psql(text, db=db)
        if undo:
            self.addCleanup(self.rig.node[1].psql, undo, db=db)

    def row_id(self, name):
        return int(self.rig.node[1].psql(f"SELECT id FROM repmgr.app_servers WHERE name = '{name}'")[0][0])

    def assertWarns(self, result, text):
        warnings = [line for line in result.out.splitlines() if line.startswith('warning: ')]
        self.assertTrue(any(text in w for w in warnings), f'no warning with {text!r}:\n{result.out}')

    def test_null_id_in_app_servers_warns_and_still_deploys_that_server(self):
        old = self.row_id('app2')
        self.sql('ALTER TABLE repmgr.app_servers ALTER COLUMN id DROP NOT NULL',
                 'ALTER TABLE repmgr.app_servers ALTER COLUMN id SET NOT NULL')
        self.sql("UPDATE repmgr.app_servers SET id = NULL WHERE name = 'app2'",
                 f"UPDATE repmgr.app_servers SET id = {old} WHERE name = 'app2'")
        db = self.create_database()

        result = self.run_agent()

        self.assertExit(result, 0)
        self.assertWarns(result, 'app_servers row id NULL (app2) has an unusable id: deployed, but fix the row')
        for i in SERVERS:
            self.assertDeployed(i, db)

    def test_id_beyond_int_in_app_servers_warns_and_still_deploys_that_server(self):
        old = self.row_id('app3')
        self.sql('ALTER TABLE repmgr.app_servers ALTER COLUMN id TYPE bigint',
                 'ALTER TABLE repmgr.app_servers ALTER COLUMN id TYPE integer')
        self.sql("UPDATE repmgr.app_servers SET id = 99999999999 WHERE name = 'app3'",
                 f"UPDATE repmgr.app_servers SET id = {old} WHERE name = 'app3'")
        db = self.create_database()

        result = self.run_agent()

        self.assertExit(result, 0)
        self.assertWarns(result, "row id '99999999999' (app3) has an unusable id")
        for i in SERVERS:
            self.assertDeployed(i, db)

    def test_bad_id_in_node_public_info_is_ignored_with_a_warning(self):
        public = self.rig.node[1].public_addr
        self.sql(f"""CREATE TABLE repmgr.node_public_info (node_id BIGINT, conninfo TEXT);
INSERT INTO repmgr.node_public_info VALUES (1, 'host={public} port=5441'),
  (NULL, 'host=127.0.0.9 port=5441'), (99999999999, 'host=127.0.0.9 port=5441')""",
                 'DROP TABLE repmgr.node_public_info')
        self.create_database()

        result = self.run_agent('-P')

        self.assertExit(result, 0)
        self.assertWarns(result, 'node_public_info row node_id NULL (host=127.0.0.9 port=5441) has an '
                                 'unusable node_id: ignored')
        self.assertWarns(result, "node_id '99999999999'")
        self.assertIn(f'host={public}', self.rig.app[1].ini_entry(support.APP_DB).split())

    def test_node_catalog_row_with_an_id_beyond_int_refuses(self):
        conninfo = self.rig.create_repmgr3_catalog(db='legacy_ids')
        self.addCleanup(self.rig.node[1].psql, 'DROP DATABASE legacy_ids')
        schema = f'repmgr_{self.rig.cluster}'
        self.rig.node[1].psql(f"""ALTER TABLE {schema}.repl_nodes ALTER COLUMN id TYPE bigint;
INSERT INTO {schema}.repl_nodes (id, type, cluster, name, conninfo, priority)
  VALUES (99999999999, 'standby', '{self.rig.cluster}', 'node9', 'host=127.0.0.9', 100)""", db='legacy_ids')
        self.create_database()
        before = self.snapshot(SERVERS)

        result = self.run_agent('-p', conninfo)

        self.assertExit(result, 1)
        self.assertIn("repmgr's node catalog has a row with an unusable id: id '99999999999' (node9); "
                      'fix the catalog', result.err)
        self.assertUntouched(before, SERVERS)

    def test_identical_rows_for_one_host_deploy_it_once(self):
        a = self.rig.app[1]
        twin = self.rig.insert_app_server('app1-twin', a.addr)
        self.addCleanup(self.rig.node[1].psql, f'DELETE FROM repmgr.app_servers WHERE id = {twin}')
        db = self.create_database()
        before = self.snapshot(SERVERS)

        result = self.run_agent()

        self.assertExit(result, 0)
        self.assertWarns(result, f'app_servers rows id {self.row_id("app1")} (app1) and id {twin} '
                                 f'(app1-twin) both name {a.addr} with the same settings: deployed once')
        self.assertFalse([line for line in result.out.splitlines() if line.startswith('app1-twin ')],
                         f'the twin must have no report line of its own:\n{result.out}')
        for i in SERVERS:
            self.assertDeployed(i, db, reloads_before=before[(i, 'reloads')])

    def test_disagreeing_rows_for_one_host_fail_that_host_only(self):
        a = self.rig.app[2]
        other = self.rig.insert_app_server('app2-billing', a.addr, application_name='billing')
        self.addCleanup(self.rig.node[1].psql, f'DELETE FROM repmgr.app_servers WHERE id = {other}')
        db = self.create_database()
        before = self.snapshot(SERVERS)

        result = self.run_agent()

        self.assertExit(result, 3)
        mine = self.row_id('app2')
        self.assertIn(f'app2 {a.addr}: FAILED config: app_servers rows id {mine} (app2) and id {other} '
                      f'(app2-billing) both name {a.addr} with different application_name: fix the table',
                      result.out)
        self.assertIn(f'app2-billing {a.addr} (billing): FAILED config: app_servers rows id {other} '
                      f'(app2-billing) and id {mine} (app2)', result.out)
        self.assertEqual({k: v for k, v in before.items() if k[0] == 2}, self.snapshot([2]),
                         'app2 must not be written while its rows disagree')
        for i in (1, 3):
            self.assertDeployed(i, db, reloads_before=before[(i, 'reloads')])

    def test_endless_answer_fails_that_server_and_keeps_the_agent_small(self):
        self.rig.app[3].force_command('yes')
        self.addCleanup(self.rig.app[3].set_authorized_keys, self.rig.db_public_key)
        db = self.create_database()

        result = self.run_agent('--json', '--host-timeout', '4')

        self.assertExit(result, 3)
        report = json.loads(result.out)
        by_name = {s['name']: s for s in report['servers']}
        self.assertLess(report['max_rss_kb'], 64 * 1024, 'the agent grew with the answer')
        self.assertEqual(by_name['app3']['result'], 'failed')
        self.assertEqual(by_name['app3']['error'], 'output: answered more than 1 MiB: ignored, nothing trusted')
        self.assertLess(by_name['app3']['seconds'], 3, 'the cap, not the host deadline, ended it')
        for i in (1, 2):
            self.assertDeployed(i, db)


    def test_symlinked_record_of_the_last_push_is_ignored_and_replaced(self):
        victim = os.path.join(self.rig.db_home, 'victim')
        support.rig.write_file(victim, 'precious\n', 0o644, support.rig.POSTGRES)
        os.symlink(victim, os.path.join(self.rig.db_home, 'x.lock.last'))
        self.addCleanup(os.unlink, os.path.join(self.rig.db_home, 'x.lock.last'))
        self.create_database()

        result = self.run_agent('--lock-file', f'{support.PG_HOME}/x.lock')

        self.assertExit(result, 0)
        self.assertWarns(result, f'record of the last push ignored: {support.PG_HOME}/x.lock.last is a '
                                 'symbolic link: not followed')
        self.assertEqual(support.rig.read_text(victim), 'precious\n', 'written through the symlink')
        self.assertFalse(os.path.islink(os.path.join(self.rig.db_home, 'x.lock.last')),
                         'the record replaces the link')


if __name__ == '__main__':
    support.main()
