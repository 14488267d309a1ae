#!/usr/bin/python3
"""Addresses compared as addresses (issue 23). repmgr's conninfo names node1 `host=localhost`
(app1's /etc/hosts gives it ::1 and 127.0.0.1) and node2 by an IPv6 literal written another
way than inet_ntop writes it (`::0001`); the nodes listen on ::1 too. PgBouncer shows its
server connections by address (`::1`), so the push program and `check` must compare addresses,
not text: sessions on the right primary are never cut, sessions on the old node are, and
`check` says OK. Run it in a private network namespace with `lo` up (it has ::1)."""

import support
from support import RigTestCase

PORT_SQL = 'select inet_server_port()'
NODE1_HOST, NODE2_HOST = 'localhost', '::0001'


class AddressesTest(RigTestCase):
    rig_options = {'app_servers': 1, 'admin_console': True, 'listen_ipv6': True}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        rig, app = cls.rig, cls.rig.app[1]
        app.set_hosts(['::1 localhost'])    # then the host's 127.0.0.1 localhost
        for n, host in ((1, NODE1_HOST), (2, NODE2_HOST)):
            rig.node[1].psql(f"UPDATE repmgr.nodes SET conninfo = "
                             f"'{rig.node[n].conninfo(host=host)} connect_timeout=2' WHERE node_id = {n}")
        cls.first = cls.require(cls.run_agent(), 0, 'first deploy (node1 at localhost)')
        cls.include1 = app.ini_entry(support.APP_DB)
        cls.held1 = app.client_session()
        cls.servers1 = cls.server_addresses()
        cls.check1 = cls.run_agent('check', '--verbose')
        # A push that reloads (a new database) while a session sits on the right primary.
        cls.rig.node[1].psql('CREATE DATABASE addr_one')
        cls.redeploy1 = cls.run_agent()
        cls.held1_after_redeploy = cls.held1.query(PORT_SQL)
        # The primary moves to node2 (::0001) while node1 runs on.
        rig.node[2].promote_behind_repmgr(record=True)
        cls.failover = cls.run_agent(node=2)
        cls.held1_after_failover = cls.held1.query(PORT_SQL)
        cls.held2 = app.client_session()
        cls.include2 = app.ini_entry(support.APP_DB)
        cls.servers2 = cls.server_addresses()
        cls.check2 = cls.run_agent('check', '--verbose', node=2)
        cls.rig.node[2].psql('CREATE DATABASE addr_two')
        cls.redeploy2 = cls.run_agent(node=2)
        cls.held2_after_redeploy = cls.held2.query(PORT_SQL)

    @classmethod
    def server_addresses(cls):
        """(addr, port) of app1's PgBouncer server connections to appdb (SHOW SERVERS)."""
        rc, out, err = cls.rig.app[1].admin_query('SHOW SERVERS')
        if rc != 0:
            raise AssertionError(err)
        rows = [line.split('|') for line in out.splitlines()]
        return {(row[4], row[5]) for row in rows if row[2] == support.APP_DB}

    def test_pgbouncer_reaches_the_nodes_over_ipv6(self):
        """The premise: PgBouncer's server connections show ::1, not the text of the conninfo."""
        self.assertIn(f'host={NODE1_HOST}', self.include1.split())
        self.assertIn(f'host={NODE2_HOST}', self.include2.split())
        self.assertEqual(self.servers1, {('::1', '5441')})
        self.assertIn(('::1', '5442'), self.servers2)

    def test_a_push_to_the_same_primary_by_name_cuts_nothing(self):
        self.assertExit(self.redeploy1, 0)
        line = self.server_line(self.redeploy1, 1)
        self.assertRegex(line, r': updated \(.*\breloaded, routes confirmed\)')
        self.assertNotIn('sessions', line)
        self.assertEqual(self.held1_after_redeploy, '5441\n', 'a session on the right primary was cut')

    def test_check_takes_localhost_for_the_primary(self):
        self.assertExit(self.check1, 0)
        self.assertIn('PGDEPLOY OK', self.check1.out)
        self.assertRegex(self.server_line(self.check1, 1), r': OK$')

    def test_the_failover_cuts_sessions_on_the_old_node(self):
        self.assertExit(self.failover, 0)
        self.assertRegex(self.server_line(self.failover, 1), r'; sessions cut\)')
        self.assertIsNone(self.held1_after_failover, 'the session on node1 survived the failover')

    def test_a_push_to_a_non_canonical_literal_cuts_nothing(self):
        self.assertExit(self.redeploy2, 0)
        line = self.server_line(self.redeploy2, 1)
        self.assertRegex(line, r': updated \(.*\breloaded, routes confirmed\)')
        self.assertNotIn('sessions', line)
        self.assertEqual(self.held2_after_redeploy, '5442\n', 'a session on the right primary was cut')

    def test_check_takes_the_literal_for_the_primary(self):
        """CRITICAL all the same, for node1 still runs writable (not fenced): the server is OK."""
        self.assertIn(' wrong=0 ', self.check2.out.splitlines()[0] + ' ')
        self.assertRegex(self.server_line(self.check2, 1), r': OK$')


if __name__ == '__main__':
    support.main()
