#!/usr/bin/python3
"""An app server whose perl lacks a module the push program loads (issue 23): a minimal RHEL
perl without perl-IO. On app2, IO.pm and the IO/ modules are gone from every @INC directory
(rig.app[2].hide_perl); a deploy fails app2 with what to install there, in one line, leaves
nothing behind there, and updates app1."""

import os

import support
from support import RigTestCase

FINE, NO_IO = 1, 2
LACKS_IO = ("FAILED remote: the app server's perl lacks IO::Handle: install it "
            "(RHEL family: dnf install 'perl(IO::Handle)'; Debian: perl-base)")


class MissingPerlModuleTest(RigTestCase):
    rig_options = {'app_servers': 2}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.rig.app[NO_IO].hide_perl('IO.pm', 'IO')
        cls.deploy = cls.run_agent()

    def test_the_server_without_io_fails_with_what_to_install(self):
        self.assertExit(self.deploy, 3)
        line = self.server_line(self.deploy, NO_IO)
        self.assertIn(LACKS_IO, line)
        self.assertNotIn('@INC', line, 'perl\'s own words are replaced, not appended')
        self.assertIsNone(self.rig.app[NO_IO].ini_entry(support.APP_DB), 'nothing written on app2')
        left = os.listdir(self.rig.app[NO_IO].host_path('/etc/pgbouncer/databases'))
        self.assertEqual([name for name in left if '.pgdeploy-' in name], [], 'a temporary file left behind')

    def test_the_other_server_is_updated(self):
        self.assertRegex(self.server_line(self.deploy, FINE), r': updated \(')
        self.assertReaches(FINE, port=5441)


if __name__ == '__main__':
    support.main()
