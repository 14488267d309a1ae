#!/usr/bin/python3
"""Usage errors exit 2 before touching anything (no rig needed: a usage error must
be caught before any database or SSH connection)."""

import subprocess
import tempfile
import unittest

import support

# -p points where nothing listens: getting past the argument checks would be exit 1, not 2.
NOWHERE = ['-p', 'host=127.0.0.1 port=1 connect_timeout=1']


class UsageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.agent = support.agent_binary()

    def run_usage(self, *args):
        with tempfile.TemporaryDirectory() as home:
            proc = subprocess.run([self.agent, *args], capture_output=True, text=True, timeout=30,
                                  cwd=home, env={'HOME': home, 'PATH': '/usr/bin:/bin', 'LANG': 'C.UTF-8'})
        return proc

    def assertUsageError(self, *args):
        proc = self.run_usage(*args)
        self.assertEqual(proc.returncode, 2, f'pgdeploy {args}: exit {proc.returncode}, expected 2\n'
                                             f'--- stdout:\n{proc.stdout}--- stderr:\n{proc.stderr}')
        self.assertTrue(proc.stderr.strip(), 'a usage error says what is wrong on stderr')

    def test_missing_cluster(self):
        self.assertUsageError(*NOWHERE)

    def test_cluster_names_that_could_escape(self):
        for name in ('a;b', '../x', 'x/y', '', 'a b', '$(id)'):
            with self.subTest(cluster=name):
                self.assertUsageError('-c', name, *NOWHERE)

    def test_unknown_option(self):
        self.assertUsageError('-c', 'main', '--no-such-option', *NOWHERE)

    def test_bad_numbers(self):
        for args in (['-t', 'soon'], ['--host-timeout', 'x'], ['-t', '-1']):
            with self.subTest(args=args):
                self.assertUsageError('-c', 'main', *args, *NOWHERE)

    def test_option_missing_its_value(self):
        self.assertUsageError('-c', 'main', *NOWHERE, '--reload-command')


if __name__ == '__main__':
    support.main()
