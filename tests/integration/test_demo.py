#!/usr/bin/python3
"""The README's first command ends in demo/run.sh: it must still show what it says it shows. The
demo is run as `./scripts/demo` runs it (with the agent under test), and its output must tell
that the first deploy succeeded, that every PgBouncer led to node1 and, after the failover, to
node2; its rig must be gone afterwards."""

import glob
import os
import subprocess
import unittest

import support

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO = os.path.join(HERE, '..', '..', 'demo', 'run.sh')


class DemoTest(unittest.TestCase):
    def test_the_demo_shows_a_deploy_and_a_failover_followed_by_every_pgbouncer(self):
        support.require_root()
        agent = support.agent_binary()
        before = set(glob.glob('/var/lib/pgdeploy-rig/demo-*'))
        proc = subprocess.run(['/bin/bash', DEMO, agent], capture_output=True, text=True, timeout=300)
        said = f'--- stdout:\n{proc.stdout}--- stderr:\n{proc.stderr}'
        self.assertEqual(proc.returncode, 0, said)
        # The first deploy, by hand, and where the PgBouncers led then.
        self.assertIn('(exit code 0)', proc.stdout, said)
        self.assertNotIn('not every PgBouncer reaches node1', proc.stdout, said)
        for i in (1, 2, 3):
            self.assertIn(f'app{i} 127.0.1.{i}:6432 -> node1 (port 5441, primary)', proc.stdout, said)
        # repmgr ran the agent for the promotion, and every PgBouncer followed.
        self.assertIn('standby_promote  successful=true', proc.stdout, said)
        self.assertIn('3 of 3 app servers up to date', proc.stdout, said)
        for i in (1, 2, 3):
            self.assertIn(f'app{i} 127.0.1.{i}:6432 -> node2 (port 5442, primary)', proc.stdout, said)
        self.assertIn('every PgBouncer reaches node2, the new primary', proc.stdout, said)
        self.assertEqual(set(glob.glob('/var/lib/pgdeploy-rig/demo-*')), before,
                         'the demo left its rig behind')


if __name__ == '__main__':
    support.main()
