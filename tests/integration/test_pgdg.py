#!/usr/bin/python3
"""The RHEL-family (PGDG RPM) shape of an app server (issue 23), built by docs/setup.md's
RHEL-family steps (rig.app[i].make_pgdg()): PgBouncer runs as OS user `pgbouncer`,
/etc/pgbouncer and pgbouncer.ini are root's, pgdeploy's files live in /etc/pgbouncer/databases,
which `pgbouncer` owns (auth_file too), and `pgbouncer` is the row's SSH user. app1 reloads
through the admin console (as the OS user PgBouncer runs as: no password), app2 has none; both
reload with `sudo -n systemctl reload pgbouncer` (--reload-command, every server's). A deploy,
then a failover: app1's console confirms the routes and cuts the session left on node1."""


import support
from support import RigTestCase

CONSOLE, SYSTEMCTL = 1, 2
SERVERS = (CONSOLE, SYSTEMCTL)
PORT_SQL = 'select inet_server_port()'
INCLUDE = '/etc/pgbouncer/databases/main.ini'
USERLIST = '/etc/pgbouncer/databases/userlist.txt'
FLAGS = ('--userlist', USERLIST, '--reload-command', 'sudo -n systemctl reload pgbouncer')


class PgdgShapeTest(RigTestCase):
    rig_options = {'app_servers': len(SERVERS)}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for i in SERVERS:
            cls.rig.app[i].make_pgdg(console=(i == CONSOLE))
        cls.deploy = cls.require(cls.run_agent(*FLAGS), 0, "first deploy")
        cls.reaches_after_deploy = {i: cls.rig.app[i].reaches() for i in SERVERS}
        cls.reloads_after_deploy = {i: cls.rig.app[i].reload_count() for i in SERVERS}
        cls.held = cls.rig.app[CONSOLE].client_session()
        cls.rig.node[2].promote_behind_repmgr(record=True)
        cls.failover = cls.run_agent(*FLAGS, node=2)
        cls.held_after_failover = cls.held.query(PORT_SQL)
        cls.check = cls.run_agent('check', '--verbose', *FLAGS, node=2)

    def test_the_shape(self):
        """The premise: PgBouncer runs as pgbouncer and /etc/pgbouncer is not the deploy user's."""
        app = self.rig.app[CONSOLE]
        with open(f'/proc/{app.pgbouncer_pid()}/status') as f:
            uid = next(int(line.split()[1]) for line in f if line.startswith('Uid:'))
        self.assertEqual(uid, app.stat_file('/etc/pgbouncer/databases').st_uid)
        self.assertNotIn(uid, (0, support.rig.POSTGRES[0]))
        etc = app.stat_file('/etc/pgbouncer')
        self.assertEqual((etc.st_uid, etc.st_mode & 0o777), (0, 0o755))
        self.assertEqual(app.stat_file('/etc/pgbouncer/pgbouncer.ini').st_uid, 0)

    def test_deploy_writes_pgbouncers_files_and_reloads_both_ways(self):
        self.assertExit(self.deploy, 0)
        self.assertRegex(self.server_line(self.deploy, CONSOLE), r': updated \(.*\breloaded, routes confirmed\)')
        self.assertRegex(self.server_line(self.deploy, SYSTEMCTL), r': updated \(.*\breloaded\b')
        for i in SERVERS:
            app = self.rig.app[i]
            self.assertEqual(self.reaches_after_deploy[i], (False, 5441), app.pgbouncer_log_tail())
            owner = app.stat_file('/etc/pgbouncer/databases').st_uid
            for path in (INCLUDE, USERLIST):
                st = app.stat_file(path)
                self.assertEqual((st.st_uid, st.st_mode & 0o777), (owner, 0o600), f'app{i} {path}')
            self.assertIn(f'"{support.APP_USER}"', app.read_file(USERLIST))
            self.assertIsNone(app.stat_file('/etc/pgbouncer/userlist.txt'), 'nothing written beside root\'s files')
        # --reload-command is every server's (the console then confirms and cuts on app1).
        self.assertEqual(self.reloads_after_deploy, {i: 1 for i in SERVERS}, 'one sudo systemctl reload each')
        with open(self.rig.app[SYSTEMCTL].reload_log) as f:
            self.assertIn('reload by root', f.read())

    def test_failover_reroutes_both_and_cuts_sessions_through_the_console(self):
        self.assertExit(self.failover, 0)
        self.assertRegex(self.server_line(self.failover, CONSOLE), r'; sessions cut\)')
        self.assertIsNone(self.held_after_failover, 'the session on node1 survived the failover')
        for i in SERVERS:
            self.assertReaches(i, port=5442)
        self.assertEqual({i: self.rig.app[i].reload_count() for i in SERVERS}, {i: 2 for i in SERVERS})

    def test_check_judges_both_servers_ok(self):
        """CRITICAL all the same (node1 still runs writable, not fenced): both servers are OK."""
        self.assertIn(' wrong=0 ', self.check.out.splitlines()[0] + ' ')
        for i in SERVERS:
            self.assertRegex(self.server_line(self.check, i), r': OK\b')


if __name__ == '__main__':
    support.main()
