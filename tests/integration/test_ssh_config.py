#!/usr/bin/python3
"""How app servers are named and reached: ~/.ssh/config (Host alias, HostName, Port,
IdentityFile) is honoured, and app_servers may spell its columns node_id/node_name."""

import os
import subprocess

import support
from support import PG_HOME, RigTestCase


class SshConfigTest(RigTestCase):
    rig_options = {'app_servers': 2}

    def test_host_alias_hostname_port_and_identityfile_from_ssh_config(self):
        ssh_dir = os.path.join(self.rig.db_home, '.ssh')
        key = os.path.join(ssh_dir, 'deploy_key')
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'deploy', '-f', key],
                       check=True)
        for path in (key, key + '.pub'):
            os.chown(path, *support.rig.POSTGRES)
        # app1 accepts only the new key, which only ~/.ssh/config names; it is reached by an alias.
        old_keys = self.rig.app[1].read_file(f'{PG_HOME}/.ssh/authorized_keys')
        self.rig.app[1].set_authorized_keys(open(key + '.pub').read())
        self.addCleanup(self.rig.app[1].set_authorized_keys, old_keys)
        config = os.path.join(ssh_dir, 'config')
        with open(config, 'w') as f:
            f.write(f'Host app-one\n  HostName {self.rig.app[1].addr}\n  Port 22\n'
                    f'  IdentityFile {PG_HOME}/.ssh/deploy_key\n')
        os.chown(config, *support.rig.POSTGRES)
        os.chmod(config, 0o600)
        self.addCleanup(os.remove, config)
        self.rig.node[1].psql("UPDATE repmgr.app_servers SET ip_addr = 'app-one' WHERE name = 'app1'")
        self.addCleanup(self.rig.node[1].psql, "UPDATE repmgr.app_servers SET ip_addr = "
                        f"'{self.rig.app[1].addr}' WHERE name = 'app1'")
        db = self.create_database()

        result = self.run_agent()

        self.assertExit(result, 0)
        self.assertIn('app-one', result.out)
        for i in (1, 2):
            self.assertDeployed(i, db)

    def test_node_id_and_node_name_columns(self):
        self.rig.node[1].psql('ALTER TABLE repmgr.app_servers RENAME COLUMN id TO node_id; '
                         'ALTER TABLE repmgr.app_servers RENAME COLUMN name TO node_name')
        self.addCleanup(self.rig.node[1].psql, 'ALTER TABLE repmgr.app_servers RENAME COLUMN node_id TO id; '
                                          'ALTER TABLE repmgr.app_servers RENAME COLUMN node_name TO name')
        db = self.create_database()

        result = self.run_agent()

        self.assertExit(result, 0)
        for i in (1, 2):
            self.assertNamesHost(result, i, f'app{i}')
            self.assertDeployed(i, db)


if __name__ == '__main__':
    support.main()
