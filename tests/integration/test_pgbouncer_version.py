#!/usr/bin/python3
"""The PgBouncer version each app server runs (issue 23, docs/pgbouncer-versions.md): `pgdeploy
check` reads it through the admin console (SHOW VERSION, app1, whose binary is hidden) or,
without one, from `pgbouncer --version` (app2). The rig runs Debian 12's PgBouncer, 1.18.0."""

import json
import subprocess

import support
from support import RigTestCase

CONSOLE, NO_CONSOLE = 1, 2


class PgBouncerVersionTest(RigTestCase):
    rig_options = {'app_servers': 2, 'admin_console': True}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.rig.app[NO_CONSOLE].set_admin_conninfo('')
        # On app1 only the running PgBouncer can say: its binary is gone from the namespace.
        cls.rig.app[CONSOLE].ns.bind([('/dev/null', '/usr/sbin/pgbouncer')])
        cls.require(cls.run_agent(), 0, 'first deploy')
        cls.check = cls.run_agent('check', '--json')

    def test_each_server_reads_as_the_installed_pgbouncer(self):
        installed = subprocess.run(['/usr/sbin/pgbouncer', '--version'], capture_output=True,
                                   text=True, check=True).stdout.split()[1]
        self.assertEqual(installed, '1.18.0', 'the rig is Debian 12\'s PgBouncer')
        facts = json.loads(self.check.out)
        versions = {s['name']: (s['console'], s['pgbouncer_version']) for s in facts['servers']}
        self.assertEqual(versions, {'app1': ('ok', installed), 'app2': ('none', installed)}, self.check.out)


if __name__ == '__main__':
    support.main()
