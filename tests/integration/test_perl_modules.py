#!/usr/bin/python3
"""An app server whose perl lacks a module the push program loads (issue 23): a minimal RHEL
perl without perl-IO, and one without perl. On app2, IO.pm and the IO/ modules are gone from
every @INC directory (rig.app[2].hide_perl); on app3, /usr/bin/perl cannot be run. A deploy fails
each with what to install there, in one line, leaves nothing behind on app2, and updates app1."""

import os

import support
from support import RigTestCase

FINE, NO_IO, NO_PERL = 1, 2, 3
LACKS_IO = ("FAILED remote: the app server's perl lacks IO::Handle: install it "
            "(RHEL family: dnf install 'perl(IO::Handle)'; Debian: perl-base)")


class MissingPerlModuleTest(RigTestCase):
    rig_options = {'app_servers': 3}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.rig.app[NO_IO].hide_perl('IO.pm', 'IO')
        cls.rig.app[NO_PERL].ns.bind([('/dev/null', '/usr/bin/perl')])   # no perl it can run
        cls.deploy = cls.run_agent()

    def test_the_server_without_io_fails_with_what_to_install(self):
        self.assertExit(self.deploy, 3)
        line = self.server_line(self.deploy, NO_IO)
        self.assertIn(LACKS_IO, line)
        self.assertNotIn('@INC', line, 'perl\'s own words are replaced, not appended')
        self.assertIsNone(self.rig.app[NO_IO].ini_entry(support.APP_DB), 'nothing written on app2')
        left = os.listdir(self.rig.app[NO_IO].host_path('/etc/pgbouncer/databases'))
        self.assertEqual([name for name in left if '.pgdeploy-' in name], [], 'a temporary file left behind')

    def test_the_server_without_perl_fails_with_what_to_install(self):
        self.assertIn("FAILED remote: the app server has no perl it can run: install it (RHEL family: "
                      "dnf install perl-interpreter; Debian: perl-base)", self.server_line(self.deploy, NO_PERL))

    def test_the_other_server_is_updated(self):
        self.assertRegex(self.server_line(self.deploy, FINE), r': updated \(')
        self.assertReaches(FINE, port=5441)


if __name__ == '__main__':
    support.main()
