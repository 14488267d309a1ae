#!/usr/bin/python3
"""Two repmgr clusters behind the same PgBouncers (docs/setup.md, "Several clusters behind one
PgBouncer"), with real PostgreSQL, repmgr, PgBouncer and SSH: the rig's cluster "main" (nodes 1-2,
role app, database appdb) and a second one, "shop" (nodes 3-4, role shop, database shopdb), deploy
to the same two app servers. Each owns its block of userlist.txt and ~/.pgpass; the first include
file to route a name keeps it."""

import os
import time

import support
from support import APP_DB, RigTestCase
from rig import APP_USER, SEED_NOTIFY

USERLIST = '/etc/pgbouncer/userlist.txt'
SHOP = {'name': 'shop', 'first_node': 3, 'app_user': 'shop', 'app_password': 'shop-password',
        'app_db': 'shopdb'}


class SharedPgBouncerCase(RigTestCase):
    rig_options = {'app_servers': 2, 'admin_console': True}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.shop = cls.rig.add_cluster(**SHOP)

    @classmethod
    def deploy(cls, cluster, *args):
        """A one-shot run (as repmgr's hook runs it) of `cluster` against its primary."""
        primary = cls.rig.primary() if cluster == 'main' else cls.shop.primary()
        return cls.run_agent('-c', cluster, '-p', primary.conninfo(), *args)

    def assertBothLogIn(self, main_port, shop_port):
        for i in self.rig.app:
            self.assertEqual(self.rig.app[i].reaches(), (False, main_port),
                             f'app{i}: main\'s role through PgBouncer\n{self.rig.app[i].pgbouncer_log_tail()}')
            self.assertEqual(self.rig.app[i].reaches(db='shopdb', user='shop', password='shop-password'),
                             (False, shop_port),
                             f'app{i}: shop\'s role through PgBouncer\n{self.rig.app[i].pgbouncer_log_tail()}')


class SharedPgBouncerTest(SharedPgBouncerCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.require(cls.deploy('main'), 0, 'main deploys first')
        cls.first_shop = cls.require(cls.deploy('shop'), 0, 'shop deploys second')

    def test_users_of_both_clusters_log_in_and_each_owns_its_block(self):
        self.assertBothLogIn(5441, 5443)
        users = self.rig.app[1].read_file(USERLIST)
        self.assertIn('; pgdeploy cluster=main end\n', users)
        self.assertIn('; pgdeploy cluster=shop ', users)
        self.assertIn('"shop" "SCRAM-SHA-256$', users)
        self.assertIn(f'"{APP_USER}" "SCRAM-SHA-256$', users)

    def test_postgres_and_repmgr_stay_the_first_clusters_and_the_second_says_so(self):
        shop_ini = self.rig.app[1].read_file('/etc/pgbouncer/databases/shop.ini')
        main_ini = self.rig.app[1].read_file('/etc/pgbouncer/databases/main.ini')
        for db in ('postgres', 'repmgr'):
            self.assertIn(f'\n{db} = ', main_ini)
            self.assertNotIn(f'\n{db} = ', shop_ini)
        self.assertIn('\nshopdb = ', shop_ini)
        self.assertIn("left out postgres, repmgr: cluster main's include file beside ours routes them",
                      self.first_shop.out + self.first_shop.err)
        check = self.deploy('shop', 'check')
        self.assertExit(check, 0)   # the maintenance databases are the first cluster's by design

    def test_a_role_two_clusters_define_with_different_secrets_is_refused_and_named(self):
        self.rig.primary().psql("CREATE ROLE twin LOGIN PASSWORD 'main-twin'", db='postgres')
        self.shop.primary().psql("CREATE ROLE twin LOGIN PASSWORD 'shop-twin'", db='postgres')
        try:
            self.assertExit(self.deploy('main'), 0)
            result = self.deploy('shop')
            self.assertExit(result, 3)
            self.assertIn('role twin: clusters main and shop define it with different secrets', result.out)
            self.assertNotIn('SCRAM', result.out + result.err)
            again = self.deploy('shop')
            self.assertExit(again, 3)   # said on every run, not only when written
            self.assertIn('role twin: clusters main and shop', again.out)
            rc, out, err = self.rig.app[1].client_query(APP_DB, 'twin', 'main-twin', 'select current_user')
            self.assertEqual((rc, out.strip()), (0, 'twin'), f'the first cluster\'s secret stays: {err}')
            rc, _, _ = self.rig.app[1].client_query('shopdb', 'twin', 'shop-twin', 'select 1')
            self.assertNotEqual(rc, 0, "the second cluster's secret never wins")
            self.assertBothLogIn(5441, 5443)
            check = self.deploy('shop', 'check')
            self.assertExit(check, 1)
            self.assertIn('role twin: cluster main defines it with another secret', check.out)
        finally:
            self.shop.primary().psql('DROP ROLE twin', db='postgres')
            self.rig.primary().psql('DROP ROLE twin', db='postgres')
        self.assertExit(self.deploy('shop'), 0)
        self.assertExit(self.deploy('main'), 0)

    def test_a_database_name_another_cluster_routes_is_never_taken_over(self):
        self.rig.primary().psql('CREATE DATABASE common', db='postgres')
        self.shop.primary().psql('CREATE DATABASE common', db='postgres')
        try:
            self.assertExit(self.deploy('main'), 0)
            result = self.deploy('shop')
            self.assertExit(result, 0)
            self.assertIn("left out common, postgres, repmgr: cluster main's include file beside ours routes them",
                          result.out)
            self.assertEqual(self.rig.app[1].reaches(db='common'), (False, 5441), 'main keeps common')
            self.assertBothLogIn(5441, 5443)   # shop routes the rest
            check = self.deploy('shop', 'check')
            self.assertExit(check, 1)
            self.assertIn('database common: cluster main routes it on this PgBouncer first', check.out)
            self.assertExit(self.deploy('main', 'check'), 0)
        finally:
            for primary in (self.shop.primary(), self.rig.primary()):
                primary.psql('DROP DATABASE common WITH (FORCE)', db='postgres')
        self.assertExit(self.deploy('main'), 0)
        self.assertExit(self.deploy('shop'), 0)


class SharedPgBouncerFailoverTest(SharedPgBouncerCase):
    """The watchers of both clusters on the same app servers, and main's repmgr hooks
    (event_notification_command) besides: idle rounds write and reload nothing; a failover of
    either cluster leaves the other's users logged in."""

    INTERVAL = 0.5

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # main's nodes only (the rig's own; shop's repmgr.conf stays without a hook): its
        # promotion fires the hook, which hands the event to node2's watcher or runs the one-shot.
        cls.rig.set_event_notification(SEED_NOTIFY)

    def files(self, i):
        app = self.rig.app[i]
        def written(st):   # what a rename or a write changes (not the atime a read may)
            return st and (st.st_ino, st.st_mtime_ns, st.st_size)
        return {path: written(app.stat_file(path)) for path in
                (USERLIST, '/etc/pgbouncer/databases/main.ini', '/etc/pgbouncer/databases/shop.ini',
                 '/var/lib/postgresql/.pgpass')}

    def test_idle_rounds_write_nothing_and_a_failover_of_either_cluster_keeps_both_logged_in(self):
        watchers = [self.rig.node[1].start_watcher(interval=self.INTERVAL),
                    self.shop.node[3].start_watcher(interval=self.INTERVAL)]
        try:
            for w in watchers:
                w.wait_for(r'app2 127\.0\.1\.2: updated', timeout=30)
            self.assertTrue(support.wait_until(lambda: all(
                self.rig.app[i].reaches() == (False, 5441) for i in self.rig.app), 15))
            self.assertBothLogIn(5441, 5443)
            time.sleep(3 * self.INTERVAL)   # the first rounds' reloads are logged
            reloads = {i: self.rig.app[i].pgbouncer_reload_count() for i in self.rig.app}
            files = {i: self.files(i) for i in self.rig.app}
            seconds = float(os.environ.get('PGDEPLOY_IDLE_SECONDS', '20'))
            time.sleep(seconds)
            after = {i: self.rig.app[i].pgbouncer_reload_count() for i in self.rig.app}
            print(f'\nidle: {seconds:.0f} s, 2 watchers at --interval {self.INTERVAL}: reloads '
                  f'{ {i: after[i] - reloads[i] for i in after} }, files rewritten '
                  f'{ {i: sum(self.files(i)[p] != files[i][p] for p in files[i]) for i in files} }')
            self.assertEqual(after, reloads, 'idle rounds of two clusters reloaded PgBouncer')
            self.assertEqual({i: self.files(i) for i in self.rig.app}, files, 'idle rounds rewrote files')
            self.assertBothLogIn(5441, 5443)

            # shop fails over; its watcher on node4 follows; main's users never notice.
            watchers.append(self.shop.node[4].start_watcher(interval=self.INTERVAL))
            self.shop.node[3].kill()
            self.shop.node[4].promote()
            self.assertTrue(support.wait_until(lambda: all(
                self.rig.app[i].reaches(db='shopdb', user='shop', password='shop-password') == (False, 5444)
                for i in self.rig.app), 30), 'shop follows its new primary')
            self.assertBothLogIn(5441, 5444)

            # main fails over too.
            watchers.append(self.rig.node[2].start_watcher(interval=self.INTERVAL))
            self.rig.node[1].kill()
            promote = self.rig.node[2].promote()
            output = promote.stdout + promote.stderr
            self.assertIn('executing notification command for event "standby_promote"', output)
            self.assertIn(self.rig.agent_path, output)
            self.assertTrue(support.wait_until(lambda: all(
                self.rig.app[i].reaches() == (False, 5442) for i in self.rig.app), 30), 'main follows')
            self.assertBothLogIn(5442, 5444)
        finally:
            for w in watchers:
                w.stop()


if __name__ == '__main__':
    support.main()
