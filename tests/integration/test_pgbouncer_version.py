#!/usr/bin/python3
"""The PgBouncer version each app server runs (issue 23, docs/pgbouncer-versions.md): `pgdeploy
check` reads it through the admin console (SHOW VERSION, app1, whose binary is hidden) or,
without one, from `pgbouncer --version` (app2). A push reads it in the console login it makes
anyway (app1; app2 has no console: none), and the files follow its limits: for 1.18, the files
the program built from main writes. The rig runs Debian 12's PgBouncer, 1.18.0."""

import json
import os
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

    def test_a_push_reads_the_version_and_the_files_stay_as_before(self):
        self.create_database('versioned')   # something to do: an unchanged push asks nothing
        result = self.run_agent('--json')
        self.assertExit(result, 0)
        said = {s['name']: (s['result'], s.get('pgbouncer_version')) for s in json.loads(result.out)['servers']}
        self.assertEqual(said, {'app1': ('updated', '1.18.0'), 'app2': ('updated', None)}, result.out)
        # The files are those the program built from main (1.18's limits) writes: it finds them current.
        main = os.environ.get('PGDEPLOY_MAIN', '/tmp/pgdeploy-main')
        if not os.path.isfile(main):
            self.skipTest(f'no program built from main at {main} (PGDEPLOY_MAIN)')
        ours = self.rig.agent_source
        self.rig.install_agent(main)
        try:
            before = self.run_agent('--dry-run', '--json')
        finally:
            self.rig.install_agent(ours)
        self.assertExit(before, 0)
        seen = {s['name']: s['result'] for s in json.loads(before.out)['servers']}
        self.assertEqual(seen, {'app1': 'up to date', 'app2': 'up to date'}, before.out)


if __name__ == '__main__':
    support.main()
