#!/usr/bin/python3
"""A session held through PgBouncer on a primary that is cut off the cluster network (issue 25):
the shape of a chaos soak's failure. PgBouncer reaches the nodes at their public addresses (-P,
node_public_info), so a partition of node1's cluster address (127.0.0.1:5441) leaves app1's
session to node1 (127.0.3.1:5441) working, and node1 writable. node2 is promoted behind it; the
watcher on node2 (which cannot see node1) pushes. Once it reports app1 updated, the held session
must be cut, and no write through app1 may reach node1 again. app1 was crashed and booted first,
as in the soak."""

import os
import sys
import time
import unittest

from support import RigTestCase
import rig  # noqa: E402 (support puts tests/rig on the path)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'chaos'))
import clients  # noqa: E402

APP = 1
# The port of the node a session talks to, if that node is writable (else no row).
PORT_SQL = 'select inet_server_port() where not pg_is_in_recovery()'


class PartitionedPrimarySessionTest(RigTestCase):
    """One idle session held through app1, node2 promoted by hand, a watcher on node2 only."""
    rig_options = {'app_servers': 1, 'admin_console': True}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.rig
        r.use_public_net()
        cls.require(cls.run_agent('-P'), 0, 'first deploy (node1, public address)')
        r.app[APP].crash()
        r.app[APP].boot()
        cls.held = r.app[APP].client_session()
        cls.held_port_before = cls.held.query(PORT_SQL)
        cls.watcher = r.node[2].start_watcher(['-P'])
        cls.addClassCleanup(cls.watcher.stop)
        cls.watcher.wait_for(r'app1 127\.0\.1\.1: session warm', timeout=30)
        r.node[1].partition()
        cls.addClassCleanup(r.node[1].heal)
        r.node[2].promote_behind_repmgr(record=True)
        cls.report = cls.watcher.wait_for(r'app1 127\.0\.1\.1: updated[^\n]*', timeout=60).group(0)
        cls.held_port_after = cls.held.query(PORT_SQL)
        cls.held_error = cls.held.error_output()

    def test_the_held_session_started_on_node1_through_its_public_address(self):
        self.assertEqual(self.held_port_before, '5441\n')
        self.assertIn('host=127.0.3.2', self.rig.app[APP].ini_entry('appdb') or '',
                      f'app1 should route to node2 public address; the watcher said:\n{self.watcher.text()}')

    def test_the_held_session_is_cut_once_the_watcher_reports_app1_updated(self):
        self.assertIsNone(self.held_port_after,
                          f'the session held through app1 still writes to port {self.held_port_after!r} after '
                          f'the watcher reported {self.report!r}\n{self.rig.app[APP].pgbouncer_log_tail()}')
        self.assertIn('connection to server was lost', self.held_error)

    def test_new_sessions_through_app1_write_to_node2(self):
        self.assertReaches(APP, port=5442)


class PartitionedPrimaryWriterTest(RigTestCase):
    """The same with the soak's client: a writer through app1 every 0.2 s that opens a new session
    after any failure, and a watcher on each node (node1's, cut off from its own node, too)."""
    rig_options = {'app_servers': 1, 'admin_console': True}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.rig
        r.use_public_net()
        cls.require(cls.run_agent('-P'), 0, 'first deploy (node1, public address)')
        r.node[1].psql(clients.TABLE_SQL, db=rig.APP_DB, user=rig.APP_USER)
        cls.watchers = {n: r.node[n].start_watcher(['-P']) for n in (1, 2)}
        for w in cls.watchers.values():
            cls.addClassCleanup(w.stop)
        cls.watchers[2].wait_for(r'app1 127\.0\.1\.1: session warm', timeout=30)
        cls.writer = clients.Writer('app1', r.app[APP].addr, rig.PGBOUNCER_PORT, clients.Credentials(rig.APP_PASSWORD))
        cls.writer.start()
        cls.addClassCleanup(cls.writer.stop)
        time.sleep(1)
        r.node[1].partition()
        cls.addClassCleanup(r.node[1].heal)
        r.node[2].promote_behind_repmgr(record=True)
        cls.watchers[2].wait_for(r'app1 127\.0\.1\.1: updated', timeout=60)
        cls.reported = time.monotonic()
        time.sleep(3)
        cls.writer.stop()

    def test_no_write_reaches_node1_after_the_report(self):
        on_node1 = [a for a in self.writer.acks if a.port == 5441]
        on_node2 = [a for a in self.writer.acks if a.port == 5442]
        self.assertTrue(on_node1, 'the writer should have written to node1 before the partition')
        self.assertTrue(on_node2, f'the writer should write to node2 after the report: {self.writer.failures} failures')
        late = [(a.seq, round(a.acked - self.reported, 2), a.backend) for a in on_node1 if a.acked > self.reported]
        self.assertEqual(late, [], 'writes acknowledged by node1 after the watcher on node2 reported app1 updated:\n'
                         + self.watchers[2].text() + self.rig.app[APP].pgbouncer_log_tail())


NOTIFY = ('{agent} -c {cluster} -P -p "host=127.0.0.1 port={port} user=repmgr dbname=repmgr" '
          '--lock-file ' + rig.PG_HOME + '/.pgdeploy-{cluster}-node{node}.lock '
          '--event %e --node-id %n --success %s')


class PartitionFailoverWhileAppDownTest(RigTestCase):
    """As the soak had it: repmgrd fails over to node2 while node1 is cut off, the hooks and a
    watcher on each node run, and app1 is down (crashed) across the promotion, booted 7.4 s later
    with the include file that routes to node1."""
    rig_options = {'app_servers': 1, 'admin_console': True, 'event_notification_command': NOTIFY}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.rig
        r.use_public_net()
        r.node[1].psql(clients.TABLE_SQL, db=rig.APP_DB, user=rig.APP_USER)
        cls.require(cls.run_agent('-P'), 0, 'first deploy (node1, public address)')
        for n in (1, 2):
            r.node[n].start_repmgrd()
        cls.watchers = {n: r.node[n].start_watcher(['-P']) for n in (1, 2)}
        for w in cls.watchers.values():
            cls.addClassCleanup(w.stop)
        cls.watchers[2].wait_for(r'app1 127\.0\.1\.1: session warm', timeout=30)
        cls.writer = clients.Writer('app1', r.app[APP].addr, rig.PGBOUNCER_PORT, clients.Credentials(rig.APP_PASSWORD))
        cls.writer.start()
        cls.addClassCleanup(cls.writer.stop)
        time.sleep(1)
        start = time.monotonic()
        r.node[1].partition()
        cls.addClassCleanup(r.node[1].heal)
        r.app[APP].crash()
        mark = len(cls.watchers[2].text())
        rig.wait_for(r.node[2].is_writable, 45, 'repmgrd to promote node2', 0.2)
        cls.promoted = time.monotonic() - start
        time.sleep(max(0.0, 7.0 - (time.monotonic() - start)))
        r.node[1].heal()
        time.sleep(max(0.0, 7.4 - (time.monotonic() - start)))
        r.app[APP].boot()
        cls.booted = time.monotonic() - start
        cls.report = cls.watchers[2].wait_for(r'app1 127\.0\.1\.1: updated[^\n]*', timeout=60, after=mark).group(0)
        cls.reported = time.monotonic()
        time.sleep(5)
        cls.writer.stop()

    def test_no_write_reaches_node1_after_the_report(self):
        on_node1 = [a for a in self.writer.acks if a.port == 5441]
        self.assertTrue(on_node1, 'the writer should have written to node1 before the partition')
        late = [(a.seq, round(a.acked - self.reported, 2), a.backend) for a in on_node1 if a.acked > self.reported]
        self.assertEqual(late, [], f'writes acknowledged by node1 after {self.report!r} (promoted at '
                         f'{self.promoted:.1f}s, app1 booted at {self.booted:.1f}s):\n'
                         + self.watchers[2].text() + self.rig.app[APP].pgbouncer_log_tail())


if __name__ == '__main__':
    rig.rerun_in_private_netns(__file__, sys.argv[1:])   # a partition changes routing rules
    unittest.main()
