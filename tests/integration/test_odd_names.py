#!/usr/bin/python3
"""Database and user names PgBouncer 1.18 cannot take in a [databases] line (spaces,
quotes, '=') must not cost any other database its entry: they are reached through the
`* =` fallback, and the odd user logs in with the userlist entry pgdeploy wrote."""

import support
from rig import sql_ident, sql_literal
from support import APP_DB, APP_PASSWORD, APP_USER, RigTestCase

SERVERS = (1, 2)
ODD_DATABASES = ('my db', 'a"b', 'x=y')
PLAIN_DATABASES = ('my-app.v2',)          # PgBouncer's name charset: gets its own line
ODD_USER, ODD_PASSWORD = 'o\'dd "user"', 'p@ss "w0rd" \'x\''


class OddNamesTest(RigTestCase):
    rig_options = {'app_servers': len(SERVERS)}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.rig.node[1].psql(''.join(f'CREATE DATABASE {sql_ident(db)};\n'
                                for db in ODD_DATABASES + PLAIN_DATABASES)
                     + f'CREATE USER {sql_ident(ODD_USER)} PASSWORD {sql_literal(ODD_PASSWORD)};\n')
        cls.result = cls.run_agent()

    def query(self, i, db, user=APP_USER, password=APP_PASSWORD):
        return self.rig.app[i].client_query(db, user, password,
                                     'select current_database(), current_user, inet_server_port()')

    def assertConnects(self, i, db, user=APP_USER, password=APP_PASSWORD):
        rc, out, err = self.query(i, db, user, password)
        self.assertEqual((rc, out.rstrip('\n')), (0, f'{db}|{user}|5441'),
                         f'{user!r} -> {db!r} through app{i}: {err}\n{self.rig.app[i].pgbouncer_log_tail()}')

    def test_deploy_succeeds(self):
        self.assertExit(self.result, 0)

    def test_odd_databases_reachable_through_fallback(self):
        for i in SERVERS:
            for db in ODD_DATABASES:
                with self.subTest(server=i, db=db):
                    self.assertConnects(i, db)

    def test_fallback_line_for_the_names_pgbouncer_cannot_parse(self):
        fallback = self.rig.app[1].ini_entry('*')
        self.assertIsNotNone(fallback, 'no "* =" line: the odd databases are unreachable')
        self.assertIn('host=127.0.0.1', fallback.split())
        self.assertIn('port=5441', fallback.split())
        self.assertNotIn('dbname=', fallback, 'the fallback must pass on the name the client asked for')
        for db in ODD_DATABASES:
            self.assertIsNone(self.rig.app[1].ini_entry(db), f'a line for {db!r} breaks PgBouncer 1.18')

    def test_plain_databases_keep_their_own_lines(self):
        for i in SERVERS:
            for db in (APP_DB, 'postgres') + PLAIN_DATABASES:
                with self.subTest(server=i, db=db):
                    entry = self.rig.app[i].ini_entry(db)
                    self.assertIsNotNone(entry, f'no line for {db}')
                    self.assertIn(f'dbname={db}', entry.split())
                    self.assertConnects(i, db)

    def test_odd_user_logs_in(self):
        for i in SERVERS:
            for db in (APP_DB, 'my db'):
                with self.subTest(server=i, db=db):
                    self.assertConnects(i, db, ODD_USER, ODD_PASSWORD)

    def test_wrong_password_is_refused(self):
        rc, _, err = self.query(1, APP_DB, ODD_USER, 'not the password')
        self.assertNotEqual(rc, 0)
        self.assertIn('authentication failed', err)

    def test_pgbouncer_loaded_the_file_without_errors(self):
        for i in SERVERS:
            log = support.rig.read_text(self.rig.app[i].pgbouncer_log)
            self.assertNotIn('syntax error', log)
            self.assertNotIn('stopping loading', log)


if __name__ == '__main__':
    support.main()
