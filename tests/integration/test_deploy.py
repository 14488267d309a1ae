#!/usr/bin/python3
"""A normal deployment: files, permissions, PgBouncer reaching the primary, reloads,
re-runs, the seed's command line, and --public-net."""

import os
import stat

import support
from support import APP_DB, APP_PASSWORD, APP_USER, PG_HOME, RigTestCase, remote_files


class DeployTest(RigTestCase):
    """Three app servers; app3 has auth_trust (gets no ~/.pgpass)."""

    rig_options = {'app_servers': 3}
    SERVERS = (1, 2, 3)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.rig.node[1].psql("UPDATE repmgr.app_servers SET auth_trust = true WHERE name = 'app3'")
        cls.first = cls.run_agent()
        cls.reloads_after_first = {i: cls.rig.app[i].reload_count() for i in cls.SERVERS}

    def test_exit_0_and_one_line_per_server(self):
        self.assertExit(self.first, 0)
        for i in self.SERVERS:
            self.assertNamesHost(self.first, i)
        self.assertGreaterEqual(len(self.first.out.strip().splitlines()), len(self.SERVERS) + 1,
                                'expected a line per server plus a summary')

    def test_clients_reach_the_primary_through_every_pgbouncer(self):
        for i in self.SERVERS:
            self.assertReaches(i, port=5441, in_recovery=False)

    def test_files_are_0600_and_owned_by_postgres(self):
        for i in self.SERVERS:
            for path in remote_files(self.rig.cluster)[:2] + ([] if i == 3 else [f'{PG_HOME}/.pgpass']):
                with self.subTest(server=i, path=path):
                    st = self.rig.app[i].stat_file(path)
                    self.assertIsNotNone(st, f'{path} missing on app{i}')
                    self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
                    self.assertEqual(st.st_uid, support.rig.POSTGRES[0])

    def test_databases_file(self):
        ini = self.rig.app[1].read_file(remote_files(self.rig.cluster)[0])
        self.assertTrue(ini.startswith(';'), 'the databases file starts with comment lines')
        for dbname in (APP_DB, 'repmgr', 'postgres'):
            with self.subTest(db=dbname):
                entry = self.rig.app[1].ini_entry(dbname)
                self.assertIsNotNone(entry, f'no line for {dbname}:\n{ini}')
                self.assertIn('host=127.0.0.1', entry.split())
                self.assertIn('port=5441', entry.split())
                self.assertIn(f'dbname={dbname}', entry.split())
        for template in ('template0', 'template1'):
            self.assertIsNone(self.rig.app[1].ini_entry(template), 'template databases are not listed')
        fallback = self.rig.app[1].ini_entry('*')     # needed only for odd names (see test_odd_names)
        if fallback is not None:
            self.assertIn('host=127.0.0.1', fallback.split())
            self.assertIn('port=5441', fallback.split())
        # PgBouncer refuses unknown keys (connect_timeout) and cannot drop a forced user on reload.
        self.assertNotRegex(ini, r'(?m)^[^;#].*\b(user|connect_timeout)=')

    def test_userlist_has_the_app_user_secret(self):
        secret = self.rig.node[1].psql(f"SELECT passwd FROM pg_shadow WHERE usename = '{APP_USER}'")[0][0]
        self.assertTrue(secret.startswith('SCRAM-SHA-256$'))
        userlist = self.rig.app[2].read_file('/etc/pgbouncer/userlist.txt')
        self.assertIn(f'"{APP_USER}" "{secret}"', userlist.splitlines())

    def test_pgpass_copied_unless_auth_trust(self):
        def entries(text):    # a header comment may be added; the entries are copied as they are
            return [line for line in (text or '').splitlines() if line and not line.startswith('#')]
        local = entries(support.rig.read_text(os.path.join(self.rig.db_home, '.pgpass')))
        self.assertTrue(local)
        for i in (1, 2):
            self.assertEqual(entries(self.rig.app[i].read_file(f'{PG_HOME}/.pgpass')), local)
        self.assertIsNone(self.rig.app[3].read_file(f'{PG_HOME}/.pgpass'),
                          'app3 has auth_trust: no ~/.pgpass must be written there')

    def test_pgbouncer_reloaded_once_per_server(self):
        self.assertEqual(self.reloads_after_first, {i: 1 for i in self.SERVERS})

    def test_no_temporary_files_left(self):
        def listing(path):     # the lock and the (empty) reload-pending marker stay; temporary files must not
            return sorted(f for f in os.listdir(path)
                          if not f.endswith(('.lock', '.pending')) and f != support.rig.MARKER)
        for i in self.SERVERS:
            a = self.rig.app[i]
            self.assertEqual(listing(a.etc_pgbouncer), ['databases', 'pgbouncer.ini', 'pgbouncer_hba.conf',
                                                        'userlist.txt'])
            self.assertEqual(listing(os.path.join(a.etc_pgbouncer, 'databases')), [f'{self.rig.cluster}.ini'])
            pending = os.path.join(a.etc_pgbouncer, 'databases', f'.{self.rig.cluster}.pending')
            self.assertFalse(os.path.exists(pending), "the reload went through: nothing may be pending")
            self.assertEqual(listing(a.home), ['.ssh'] if i == 3 else ['.pgpass', '.ssh'])

    def test_known_hosts_left_as_the_operator_filled_it(self):
        # The rig fills known_hosts as setup step 6 does; a run checks against it, adds nothing.
        for i in self.SERVERS:
            self.assertEqual(self.rig.known_host_keys(self.rig.app[i].addr),
                             [self.rig.app[i].host_public_key()])

    def test_rerun_keeps_working(self):
        before = self.snapshot(self.SERVERS)
        result = self.run_agent()
        self.assertExit(result, 0)
        ini_path = remote_files(self.rig.cluster)[0]
        for i in self.SERVERS:
            with self.subTest(server=i):
                self.assertIn(self.rig.app[i].reload_count() - before[(i, 'reloads')], (0, 1),
                              'nothing changed: at most one reload (none if the server is up to date)')
                self.assertReaches(i, port=5441)
                old_text = before[(i, ini_path)][0]
                new_text = self.snapshot([i])[(i, ini_path)][0]
                entries = lambda text: [l for l in text.splitlines() if not l.startswith(';')]  # noqa: E731
                self.assertEqual(entries(new_text), entries(old_text), 'same cluster, same entries')

    def test_new_database_replaces_the_file_by_rename(self):
        ini_path = remote_files(self.rig.cluster)[0]
        before = self.snapshot(self.SERVERS)
        db = self.create_database('added')
        self.assertExit(self.run_agent(), 0)
        after = self.snapshot(self.SERVERS)
        for i in self.SERVERS:
            with self.subTest(server=i):
                self.assertDeployed(i, db, reloads_before=before[(i, 'reloads')])
                self.assertNotEqual(after[(i, ini_path)][2], before[(i, ini_path)][2],
                                    'the file is replaced by rename (new inode), not rewritten in place')
                self.assertEqual(stat.S_IMODE(self.rig.app[i].stat_file(ini_path).st_mode), 0o600)

    def test_seed_command_line_with_default_connection(self):
        # The seed wires `pgdeploy -c <cluster>` alone: the default -p is host=/var/run/postgresql,
        # which in the DB host holds the nodes' sockets; libpq takes port and dbname from the env.
        rc, out, err = self.rig.run_agent(['-c', self.rig.cluster],
                                          env={'PGPORT': '5441', 'PGDATABASE': 'repmgr'})
        self.assertExit(support.Result(rc, out, err, 0), 0)
        for i in self.SERVERS:
            self.assertReaches(i, port=5441)


class PublicNetTest(RigTestCase):
    """-P takes the primary's address from node_public_info instead of repmgr's conninfo."""

    rig_options = {'app_servers': 1}

    def test_public_net(self):
        public = self.rig.node[1].public_addr
        self.rig.node[1].psql(f"""CREATE TABLE repmgr.node_public_info (node_id INTEGER PRIMARY KEY,
                                                     conninfo TEXT);
INSERT INTO repmgr.node_public_info VALUES
  (1, 'host={public} port=5441'), (2, 'host={self.rig.node[2].public_addr} port=5442')""")
        result = self.run_agent('-P')
        self.assertExit(result, 0)
        entry = self.rig.app[1].ini_entry(APP_DB)
        self.assertIn(f'host={public}', entry.split())
        rc, out, err = self.rig.app[1].client_query(APP_DB, APP_USER, APP_PASSWORD,
                                             'select inet_server_addr(), inet_server_port()')
        self.assertEqual((rc, out.strip()), (0, f'{public}|5441'), err)


if __name__ == '__main__':
    support.main()
