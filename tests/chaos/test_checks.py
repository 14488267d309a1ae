"""Unit tests of the chaos soak's checkers (pure: no rig, no root)."""

import hashlib
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'rig'))
sys.path.insert(0, HERE)
import checks  # noqa: E402
from clients import Ack, NodeView  # noqa: E402


def header(body, timeline=2):
    digest = hashlib.sha256(body.encode()).hexdigest()
    return f'; pgdeploy cluster=main primary=2 timeline={timeline} generation=7 digest={digest}\n{body}'


def ack(client, seq, at, port, timeline):
    return Ack(client, seq, at - 0.01, at, port, timeline)


class TornTest(unittest.TestCase):

    def test_a_whole_file_and_an_empty_one_pass(self):
        self.assertIsNone(checks.torn(header('appdb = host=127.0.3.2 port=5442\n')))
        self.assertIsNone(checks.torn(''))

    def test_a_cut_body_a_lost_header_and_a_foreign_file_are_torn(self):
        whole = header('appdb = host=127.0.3.2 port=5442\nother = host=127.0.3.2 port=5442\n')
        self.assertIn('digest', checks.torn(whole[:-10]))
        self.assertIn('no pgdeploy header', checks.torn(whole.split('\n', 1)[1]))
        self.assertIn('no pgdeploy header', checks.torn('[databases]\n'))


class PercentileTest(unittest.TestCase):

    def test_nearest_rank(self):
        values = list(range(1, 101))
        self.assertEqual(checks.percentile(values, 99), 99)
        self.assertEqual(checks.percentile(values, 50), 50)
        self.assertEqual(checks.percentile([3.0], 99), 3.0)
        self.assertIsNone(checks.percentile([], 99))


class LedgerTest(unittest.TestCase):
    """node1 (port 5441) primary on timeline 1; node2 (5442) seen promoted at t=10."""

    def setUp(self):
        self.ledger = checks.Ledger()
        self.ledger.node_view(1, NodeView(0.0, True, 1))
        self.ledger.node_view(2, NodeView(1.0, False, 0))
        self.ledger.node_view(2, NodeView(10.0, True, 2))
        self.ledger.node_view(1, NodeView(10.1, True, 1))   # the old primary, still writable

    def test_a_promotion_is_a_newer_timeline_seen_writable(self):
        self.assertEqual([(p.node, p.timeline, p.at) for p in self.ledger.promotions],
                         [(1, 1, 0.0), (2, 2, 10.0)])
        self.assertEqual(self.ledger.newest_timeline(), 2)

    def test_the_stale_route_time_runs_to_the_first_write_on_the_new_timeline(self):
        acks = {1: [ack('app1', 1, 9.0, 5441, 1), ack('app1', 2, 11.0, 5441, 1),
                    ack('app1', 3, 12.5, 5442, 2)]}
        measured, excluded, unrouted = self.ledger.stale_routes(acks)
        self.assertEqual([(app, round(s, 2)) for _, app, s in measured], [(1, 2.5)])
        self.assertEqual((excluded, unrouted), ([], []))

    def test_a_faulted_server_is_set_apart_and_one_never_routed_is_counted(self):
        self.ledger.fault_started(1)
        self.ledger.faults[1][-1] = [11.0, 12.0]
        acks = {1: [ack('app1', 1, 12.5, 5442, 2)], 2: [ack('app2', 1, 11.0, 5441, 1)]}
        measured, excluded, unrouted = self.ledger.stale_routes(acks)
        self.assertEqual(measured, [])
        self.assertEqual([app for _, app, _ in excluded], [1])
        self.assertEqual([app for _, app in unrouted], [2])

    def test_a_stale_write_after_the_report_breaks_the_invariant_and_one_before_does_not(self):
        self.ledger.watcher_line(11.0, 2, 'app1 127.0.1.1: updated (reloaded, sessions cut)')
        self.ledger.watcher_line(10.5, 1, 'app1 127.0.1.1: current')   # not the new primary's watcher
        acks = {1: [ack('app1', 1, 10.8, 5441, 1), ack('app1', 2, 11.2, 5441, 1),
                    ack('app1', 3, 11.3, 5442, 2)]}
        found = self.ledger.stale_acks_through_pgbouncer(acks)
        self.assertEqual([(a.seq, u) for a, _, u in found], [(1, 11.0), (2, 11.0)])
        after = [a.seq for a, _, u in found if u is not None and a.acked > u]
        self.assertEqual(after, [2])

    def test_the_report_keeps_its_line_and_the_acks_session_is_dated_against_it(self):
        self.ledger.watcher_line(11.0, 2, 'app1 127.0.1.1: updated (reloaded, sessions cut)\n')
        promotion = self.ledger.promotions[-1]
        self.assertEqual(self.ledger.report(1, promotion),
                         (11.0, 'app1 127.0.1.1: updated (reloaded, sessions cut)'))
        self.assertEqual(self.ledger.report(2, promotion), (None, None))
        self.ledger.wall_offset = 1000.0    # monotonic 11.0 is wall clock 1011.0
        survived = Ack('app1', 2, 11.1, 11.2, 5441, 1, 4242, 1005.5)
        opened_after = Ack('app1', 3, 11.3, 11.4, 5441, 1, 4243, 1011.25)
        self.assertAlmostEqual(self.ledger.session_age(survived, 11.0), 5.5)
        self.assertAlmostEqual(self.ledger.session_age(opened_after, 11.0), -0.25)
        self.assertIsNone(self.ledger.session_age(ack('app1', 4, 11.5, 5441, 1), 11.0))

    def test_a_report_from_a_round_that_proved_an_older_timeline_is_not_the_promotions(self):
        asked = []
        self.ledger.on_report = lambda app, at: asked.append((app, at))
        promotion = self.ledger.promotions[-1]
        # a round of node2's watcher begun on timeline 1 (as a primary before), answered late
        self.ledger.watcher_line(10.2, 2, 'pgdeploy watch: proven primary: node2 (id 2) timeline 1')
        self.ledger.watcher_line(10.4, 2, 'pgdeploy watch: app1 127.0.1.1: updated')
        self.assertEqual(self.ledger.report_with_proof(1, promotion), (None, None, None))
        # the next round proves timeline 2; its report's header says so too
        self.ledger.watcher_line(11.0, 2, 'pgdeploy watch: proven primary: node2 (id 2) timeline 2')
        self.ledger.watcher_line(11.5, 2, 'pgdeploy watch: app1 127.0.1.1: updated')
        self.ledger.watcher_line(11.6, 2, 'pgdeploy: cluster main: primary node2 (id 2) at 127.0.3.2:5442, '
                                          'timeline 2')
        self.ledger.watcher_line(11.6, 2, 'app2 127.0.1.2: updated (reloaded, routes confirmed; sessions cut)')
        self.assertEqual(self.ledger.report_with_proof(1, promotion),
                         (11.5, 'pgdeploy watch: app1 127.0.1.1: updated', 2))
        self.assertEqual(self.ledger.report(2, promotion)[0], 11.6)
        self.assertEqual(asked, [(1, 11.5), (2, 11.6)])
        acks = {1: [ack('app1', 1, 11.0, 5441, 1), ack('app1', 2, 11.7, 5441, 1)]}
        self.assertEqual([u for _, _, u in self.ledger.stale_acks_through_pgbouncer(acks)], [11.5, 11.5])

    def test_only_the_newest_primarys_reports_ask_for_a_look_at_pgbouncer(self):
        asked = []
        self.ledger.on_report = lambda app, at: asked.append((app, at))
        self.ledger.watcher_line(11.0, 2, 'app1 127.0.1.1: updated (reloaded, sessions cut)')
        self.ledger.watcher_line(11.1, 1, 'app2 127.0.1.2: current')   # the superseded node's watcher
        self.ledger.watcher_line(11.2, 2, 'app2 127.0.1.2: unreachable: connect: refused')
        self.assertEqual(asked, [(1, 11.0)])
        self.ledger.snapshot(1, 11.0, 'SHOW SERVERS: S app appdb active 127.0.3.2 5442')
        self.assertEqual(self.ledger.snapshots, {(1, 11.0): 'SHOW SERVERS: S app appdb active 127.0.3.2 5442'})

    def test_direct_writes_by_the_superseded_node_are_counted_with_their_delay(self):
        found = self.ledger.stale_direct_acks([ack('node1', 1, 9.0, 5441, 1), ack('node1', 2, 13.0, 5441, 1),
                                               ack('node2', 1, 13.0, 5442, 2)])
        self.assertEqual([(a.seq, round(late, 1), cut) for a, late, cut in found], [(2, 3.0, False)])

    def test_a_fence_is_owed_from_the_nodes_return_and_not_while_it_is_cut_off(self):
        self.ledger.partitions[1].append([10.5, 14.0])
        self.ledger.returns[1].append(14.0)
        found = self.ledger.stale_direct_acks([ack('node1', 1, 12.0, 5441, 1), ack('node1', 2, 15.5, 5441, 1)])
        self.assertEqual([(a.seq, round(late, 1), cut) for a, late, cut in found],
                         [(1, 2.0, True), (2, 1.5, False)])

    def test_a_watcher_that_grows_after_its_first_minute_is_seen(self):
        for at, rss, fds in [(0, 10 << 20, 20), (61, 12 << 20, 21), (200, 40 << 20, 60)]:
            self.ledger.watcher_samples['w1'].append((at, rss, fds))
        self.ledger.watcher_samples['w2'].append((0, 10 << 20, 20))    # too young to judge
        self.assertEqual(self.ledger.watcher_growth(), {'w1': (28 << 20, 39, 40 << 20, 60)})


if __name__ == '__main__':
    unittest.main()
