#!/usr/bin/python3
"""Which roles reach PgBouncer's auth_file, which databases it routes and under which names,
and the auth modes (docs/setup.md, "Roles, databases and auth modes"), with real PostgreSQL,
PgBouncer and SSH.

The rig's PostgreSQL trusts every local TCP login (tests/rig/rig.py), so a role's VALID UNTIL is
never checked by the server: PgBouncer, checking the secret it holds, is the only gate. That is the
hole an expired role's secret left in userlist.txt opens: a client logs in with its password after
it expired."""

import json
import time

import support
from support import APP_DB, RigTestCase

USERLIST = '/etc/pgbouncer/userlist.txt'


class RolesAndRoutesTest(RigTestCase):
    """One app server, auth file (the default)."""

    rig_options = {'app_servers': 1}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        primary = cls.rig.primary()
        primary.psql("CREATE ROLE locked NOLOGIN PASSWORD 'locked-pw'", db='postgres')

    def client(self, user, password, db=APP_DB):
        return self.rig.app[1].client_query(db, user, password, 'select current_user')

    def userlist_names(self):
        return [line.split('"')[1] for line in (self.rig.app[1].read_file(USERLIST) or '').splitlines()
                if line.startswith('"')]

    def test_a_role_whose_valid_until_passed_is_refused_by_pgbouncer_after_the_next_deploy(self):
        primary = self.rig.primary()
        # VALID UNTIL a few seconds ahead by the database's clock.
        until = primary.psql("SELECT (now() + interval '4 seconds')::text", db='postgres')[0][0]
        primary.psql(f"CREATE ROLE expiring LOGIN PASSWORD 'expiring-pw' VALID UNTIL '{until}'",
                     db='postgres')
        self.assertExit(self.run_agent(), 0)
        self.assertIn('expiring', self.userlist_names())
        rc, out, err = self.client('expiring', 'expiring-pw')
        self.assertEqual((rc, out.strip()), (0, 'expiring'), err)

        support.wait_until(lambda: primary.psql(
            f"SELECT now() > '{until}'::timestamptz", db='postgres')[0][0] == 't', 15)
        result = self.run_agent()
        self.assertExit(result, 0)
        rc, out, err = self.client('expiring', 'expiring-pw')
        self.assertNotEqual(rc, 0, f'PgBouncer let the expired role in: {out}')
        self.assertNotIn('expiring', self.userlist_names())
        self.assertIn('role expiring (VALID UNTIL', result.out + result.err)
        self.assertNotIn('expiring-pw', result.out + result.err)
        self.assertEqual(self.rig.app[1].reaches(), (False, self.rig.primary().port),
                         'the other roles still log in')

    def test_the_watcher_removes_a_role_once_its_validity_ends_and_says_so_once(self):
        primary = self.rig.primary()
        until = primary.psql("SELECT (now() + interval '6 seconds')::text", db='postgres')[0][0]
        primary.psql(f"CREATE ROLE watched LOGIN PASSWORD 'watched-pw' VALID UNTIL '{until}'",
                     db='postgres')
        w = self.rig.node[1].start_watcher(interval=1.0)
        self.addCleanup(w.stop)
        self.assertTrue(support.wait_until(lambda: 'watched' in self.userlist_names(), 15),
                        f'the watcher did not write the role while it was valid:\n{w.text()}')
        support.wait_until(lambda: primary.psql(
            f"SELECT now() > '{until}'::timestamptz", db='postgres')[0][0] == 't', 15)
        expired_at = time.monotonic()
        # Within --interval + max(--interval, 10 s) of its VALID UNTIL (docs/setup.md); 5 s slack
        # for a round and the push.
        gone = support.wait_until(lambda: 'watched' not in self.userlist_names(), 1 + 10 + 5)
        self.assertTrue(gone, f'still in userlist.txt {time.monotonic() - expired_at:.1f}s after '
                              f'its VALID UNTIL:\n{w.text()}')
        self.assertNotEqual(self.client('watched', 'watched-pw')[0], 0)
        time.sleep(3)   # a few idle rounds: the role is named once, not every round
        self.assertEqual(w.text().count('role watched (VALID UNTIL'), 1, w.text())
        self.assertNotIn('watched-pw', w.text())

    def test_a_nologin_role_is_not_written_and_is_named(self):
        result = self.run_agent()
        self.assertExit(result, 0)
        self.assertIn('role locked (NOLOGIN) may not log in: left out of userlist.txt', result.out + result.err)
        self.assertNotIn('locked', self.userlist_names())
        self.assertNotEqual(self.client('locked', 'locked-pw')[0], 0)

    def test_a_client_reaches_the_prefixed_name_and_the_lists_choose_the_databases(self):
        port = self.rig.primary().port
        result = self.run_agent('--db-prefix', 'c1_', '--exclude-databases', 'repmgr,post*')
        self.assertExit(result, 0)
        app = self.rig.app[1]
        self.assertIn(f'dbname={APP_DB}', app.ini_entry(f'c1_{APP_DB}').split())
        self.assertEqual(app.reaches(db=f'c1_{APP_DB}'), (False, port), app.pgbouncer_log_tail())
        for gone in (APP_DB, 'repmgr', 'postgres', 'c1_repmgr', 'c1_postgres', '*'):
            self.assertIsNone(app.ini_entry(gone), gone)
        self.assertIsNone(app.reaches(db=APP_DB), 'the unprefixed name is no longer routed')
        # check expects exactly the names rendered: PgBouncer routes them, so OK.
        check = self.run_agent('check', '--db-prefix', 'c1_', '--exclude-databases', 'repmgr,post*')
        self.assertExit(check, 0)
        # Back to every database under its own name.
        self.assertExit(self.run_agent(), 0)
        self.assertEqual(app.reaches(), (False, port))
        self.assertIsNone(app.ini_entry(f'c1_{APP_DB}'))


class AuthQueryTest(RigTestCase):
    """One app server whose PgBouncer looks secrets up with auth_query: pgdeploy --auth query
    routes and leaves userlist.txt (the hand-written auth_user line) alone."""

    rig_options = {'app_servers': 1}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        primary = cls.rig.primary()
        # PgBouncer 1.18 runs auth_query in the database the client asks for: the lookup
        # function lives there (docs/setup.md).
        primary.psql("CREATE ROLE pgb_auth LOGIN PASSWORD 'auth-pw'", db='postgres')
        primary.psql("""CREATE SCHEMA pgbouncer_auth;
CREATE FUNCTION pgbouncer_auth.lookup(p_user text, OUT usename name, OUT passwd text)
  RETURNS SETOF record LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS
  $$ SELECT usename, passwd FROM pg_shadow WHERE usename = p_user
       AND (valuntil IS NULL OR valuntil > now()) $$;
REVOKE ALL ON FUNCTION pgbouncer_auth.lookup(text) FROM PUBLIC;
GRANT USAGE ON SCHEMA pgbouncer_auth TO pgb_auth;
GRANT EXECUTE ON FUNCTION pgbouncer_auth.lookup(text) TO pgb_auth;""", db=APP_DB, user='postgres')
        app = cls.rig.app[1]
        cls.userlist = '"pgb_auth" "auth-pw"\n'   # written by hand, in plaintext
        app.write_file(USERLIST, cls.userlist)
        app.set_pgbouncer_setting('auth_user', 'pgb_auth')
        app.set_pgbouncer_setting('auth_query', 'SELECT usename, passwd FROM pgbouncer_auth.lookup($1)')
        # A routed database without the lookup function: the run names it (--auth-lookup).
        primary.psql('CREATE DATABASE shop', db='postgres')
        cls.deploy = cls.run_agent('--auth', 'query')

    def lacking(self, text):
        """The databases the auth_query warning of a text report names."""
        lines = [line for line in text.splitlines() if 'auth_query:' in line]
        self.assertLessEqual(len(lines), 1, text)
        if not lines:
            return []
        self.assertIn('warning: auth_query: pgbouncer_auth.lookup(text) does not exist in ', lines[0])
        self.assertTrue(lines[0].endswith(': PgBouncer cannot log anyone in there (docs/setup.md)'), lines[0])
        return lines[0].split(' does not exist in ')[1].split(': PgBouncer')[0].split(', ')

    def test_a_routed_database_lacking_the_lookup_function_is_named_and_one_with_it_is_not(self):
        self.assertExit(self.deploy, 0)   # a warning: the routes are right
        named = self.lacking(self.deploy.out + self.deploy.err)
        self.assertIn('shop', named)
        self.assertNotIn(APP_DB, named)
        self.assertIsNotNone(self.rig.app[1].ini_entry('shop'))
        # The same in JSON; a database not routed is not asked; "" asks nothing.
        only = self.run_agent('--auth', 'query', '--json', '--databases', f'{APP_DB},shop')
        self.assertExit(only, 0)
        warnings = [w for w in json.loads(only.out)['warnings'] if w.startswith('auth_query:')]
        self.assertEqual(warnings, ['auth_query: pgbouncer_auth.lookup(text) does not exist in shop: '
                                    'PgBouncer cannot log anyone in there (docs/setup.md)'])
        with_it = self.run_agent('--auth', 'query', '--databases', APP_DB)
        self.assertExit(with_it, 0)
        self.assertEqual(self.lacking(with_it.out + with_it.err), [])
        unchecked = self.run_agent('--auth', 'query', '--auth-lookup', '')
        self.assertExit(unchecked, 0)
        self.assertNotIn('auth_query:', unchecked.out + unchecked.err)
        # A hostile signature is a parameter, never SQL: it is simply not found.
        hostile = self.run_agent('--auth', 'query', '--databases', APP_DB,
                                 '--auth-lookup', "x.f(text); DROP DATABASE shop; --")
        self.assertExit(hostile, 0)
        self.assertIn('auth_query:', hostile.out + hostile.err)
        self.assertEqual(self.rig.primary().psql("SELECT count(*) FROM pg_database WHERE datname = 'shop'",
                                                 db='postgres')[0][0], '1')

    def test_routes_are_deployed_and_userlist_is_byte_for_byte_untouched(self):
        self.assertExit(self.deploy, 0)
        self.assertIsNotNone(self.rig.app[1].ini_entry(APP_DB))
        self.assertEqual(self.rig.app[1].read_file(USERLIST), self.userlist)
        again = self.run_agent('--auth', 'query', '--dry-run')
        self.assertExit(again, 0)
        self.assertEqual(self.rig.app[1].read_file(USERLIST), self.userlist)

    def test_a_role_created_after_the_deploy_logs_in_through_auth_query(self):
        self.assertExit(self.deploy, 0)
        self.rig.primary().psql("CREATE ROLE latecomer LOGIN PASSWORD 'late-pw'", db='postgres')
        rc, out, err = self.rig.app[1].client_query(APP_DB, 'latecomer', 'late-pw', 'select current_user')
        self.assertEqual((rc, out.strip()), (0, 'latecomer'), err + self.rig.app[1].pgbouncer_log_tail())
        self.assertEqual(self.rig.app[1].read_file(USERLIST), self.userlist)


if __name__ == '__main__':
    support.main()
