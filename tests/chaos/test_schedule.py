"""Unit tests of the chaos soak's schedule (pure: no rig, no root)."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import schedule  # noqa: E402


class ScheduleTest(unittest.TestCase):

    def test_the_same_seed_gives_the_same_steps(self):
        self.assertEqual(schedule.take(7, 300), schedule.take(7, 300))
        self.assertEqual(schedule.take('x', 50, app_servers=5, nodes=3),
                         schedule.take('x', 50, app_servers=5, nodes=3))

    def test_other_seeds_give_other_steps(self):
        self.assertNotEqual(schedule.take(7, 30), schedule.take(8, 30))

    def test_a_replay_does_not_depend_on_how_far_a_run_got(self):
        self.assertEqual(schedule.take(11, 20), schedule.take(11, 200)[:20])

    def test_a_short_run_meets_every_kind_first(self):
        for seed in range(20):
            kinds = [step.kind for step in schedule.take(seed, len(schedule.KINDS))]
            self.assertEqual(sorted(kinds), sorted(schedule.KINDS), seed)

    def test_the_kinds_come_in_another_order_for_another_seed(self):
        orders = {tuple(s.kind for s in schedule.take(seed, len(schedule.KINDS))) for seed in range(10)}
        self.assertGreater(len(orders), 1)

    def test_targets_and_times_stay_within_their_bounds(self):
        for step in schedule.take(3, 2000, app_servers=4, nodes=3):
            if step.kind in ('app_down', 'app_hang'):
                self.assertIn(step.target, range(1, 5))
            elif step.kind == 'watcher_kill':
                self.assertIn(step.target, range(1, 4))
            elif step.kind == 'partition':
                self.assertIn(step.target, ('primary', 'standby'))
            else:
                self.assertIsNone(step.target)
            low, high = schedule.HOLD.get(step.kind, (0.0, 0.0))
            self.assertTrue(low <= step.hold <= high, step)
            self.assertTrue(step.stale == 0 or schedule.STALE[0] <= step.stale <= schedule.STALE[1], step)
            self.assertTrue(step.kind == 'kill_primary' or step.stale == 0, step)
            self.assertTrue(schedule.GAP[0] <= step.gap <= schedule.GAP[1], step)

    def test_steps_are_numbered_in_order(self):
        self.assertEqual([s.index for s in schedule.take(5, 25)], list(range(25)))

    def test_describe_names_the_target(self):
        step = schedule.Step(4, 'app_hang', 2, 3.5, 0.0, 1.0)
        self.assertEqual(schedule.describe(step), '#4 app_hang app2 for 3.5s')
        step = schedule.Step(5, 'kill_primary', None, 0.0, 2.5, 1.0)
        self.assertEqual(schedule.describe(step), '#5 kill_primary (old primary writable 2.5s)')

    def test_a_soak_needs_a_server_and_two_nodes(self):
        with self.assertRaises(ValueError):
            schedule.take(1, 1, app_servers=0)
        with self.assertRaises(ValueError):
            schedule.take(1, 1, nodes=1)


if __name__ == '__main__':
    unittest.main()
