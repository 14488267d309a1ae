#!/usr/bin/python3
"""App servers that fail: nothing listening, a TCP peer that never speaks, a host
whose connects time out, a rejected client key, a changed host key, an unknown host key
(refused by default; recorded with --strict-host-key-checking=accept-new), a key marked
@revoked. The good servers are still updated, the exit code is 3, the output names the
failed hosts, and the run ends in bounded time."""

import os

import support
from rig import FAULT_NET
from support import RigTestCase

GOOD = (1, 2)
SSH_TIMEOUT, HOST_TIMEOUT = 1, 3
# Parallel or not, a correct run needs about SSH_TIMEOUT + HOST_TIMEOUT; the margin
# covers process start, the catalog queries and the good servers' reloads.
TIME_LIMIT = SSH_TIMEOUT + HOST_TIMEOUT + 6


class HostFailuresTest(RigTestCase):
    rig_options = {'app_servers': len(GOOD)}

    def run_bounded(self):
        return self.run_agent('-t', str(SSH_TIMEOUT), '--host-timeout', str(HOST_TIMEOUT))

    def add_server(self, name, addr):
        """An extra app_servers row, removed again after the test."""
        row = self.rig.insert_app_server(name, addr)
        self.addCleanup(self.rig.primary().psql, f'DELETE FROM repmgr.app_servers WHERE id = {row}')

    def prepare(self):
        """A new database for the good servers to receive; the state to compare against."""
        return self.create_database(), self.snapshot(GOOD)

    def assertGoodServersUpdated(self, servers, db, before):
        for i in servers:
            with self.subTest(server=i):
                self.assertDeployed(i, db, reloads_before=before[(i, 'reloads')])

    def assertServerUntouched(self, i, before):
        after = self.snapshot([i])
        self.assertEqual({k: v for k, v in before.items() if k[0] == i}, after,
                         f'app{i} failed, yet something was written or reloaded there')

    def assertOnlyApp2Failed(self, result, db, before):
        self.assertExit(result, 3)
        self.assertNamesHost(result, 2)
        self.assertServerUntouched(2, before)
        self.assertGoodServersUpdated([1], db, before)

    def test_down_hanging_stalled_and_blackholed_hosts(self):
        faulty = {name: f'{FAULT_NET}{k}' for k, name in
                  enumerate(('down-host', 'hanging-host', 'stalled-host', 'blackhole-host'), 1)}
        hang = self.rig.add_hanging_host(faulty['hanging-host'])
        # Says hello like an sshd, then nothing: only the per-host deadline ends this one.
        stall = self.rig.add_hanging_host(faulty['stalled-host'], greeting=b'SSH-2.0-OpenSSH_9.2p1\r\n')
        self.rig.add_blackhole_host(faulty['blackhole-host'])
        for name, addr in faulty.items():
            self.add_server(name, addr)
        db, before = self.prepare()

        result = self.run_bounded()

        self.assertExit(result, 3)
        self.assertLess(result.elapsed, TIME_LIMIT,
                        f'pgdeploy -t {SSH_TIMEOUT} --host-timeout {HOST_TIMEOUT} took {result.elapsed:.1f}s')
        self.assertGreaterEqual(hang.accepted, 1, 'pgdeploy never connected to the hanging host')
        self.assertGreaterEqual(stall.accepted, 1, 'pgdeploy never connected to the stalled host')
        for name, addr in faulty.items():
            self.assertNamesHost(result, addr, name)
        self.assertGoodServersUpdated(GOOD, db, before)

    def test_stopped_sshd(self):
        self.rig.app[2].stop_sshd()
        self.addCleanup(self.rig.app[2].start_sshd)
        db, before = self.prepare()

        result = self.run_bounded()

        self.assertOnlyApp2Failed(result, db, before)

    def test_rejected_client_key(self):
        keys = self.rig.app[2].read_file(f'{support.PG_HOME}/.ssh/authorized_keys')
        self.rig.app[2].set_authorized_keys(self.rig.new_public_key() + '\n')
        self.addCleanup(self.rig.app[2].set_authorized_keys, keys)
        db, before = self.prepare()

        result = self.run_bounded()

        self.assertOnlyApp2Failed(result, db, before)

    def test_changed_host_key(self):
        addr = self.rig.app[2].addr
        wrong_key = self.rig.new_public_key()
        self.rig.set_known_host(addr, wrong_key)
        self.addCleanup(self.rig.set_known_host, addr, self.rig.app[2].host_public_key())
        db, before = self.prepare()

        result = self.run_bounded()

        self.assertOnlyApp2Failed(result, db, before)
        self.assertEqual(self.rig.known_host_keys(addr), [wrong_key.rsplit(' ', 1)[0]],
                         'a changed host key must not be overwritten in known_hosts')

    def test_strict_host_keys_refuses_unknown_host(self):
        # --strict-host-keys is kept, as another name for the default.
        self.rig.forget_known_host(self.rig.app[2].addr)
        self.restore_known_hosts()
        db, before = self.prepare()

        result = self.run_agent('--strict-host-keys', '-t', str(SSH_TIMEOUT),
                                '--host-timeout', str(HOST_TIMEOUT))

        self.assertOnlyApp2Failed(result, db, before)
        self.assertEqual(self.rig.known_host_keys(self.rig.app[2].addr), [],
                         '--strict-host-keys must not record unknown hosts')


    def restore_known_hosts(self):
        self.addCleanup(self.rig.write_known_hosts)

    def test_unknown_host_key_refused_by_default_with_how_to_add_it(self):
        addr = self.rig.app[2].addr
        self.rig.forget_known_host(addr)
        self.restore_known_hosts()
        db, before = self.prepare()

        result = self.run_bounded()

        self.assertOnlyApp2Failed(result, db, before)
        self.assertRegex(result.out, rf'app2 {addr}: FAILED host key: unknown host key SHA256:\S+ refused: '
                                     rf'check it out of band and add it with ssh-keyscan {addr} >> '
                                     rf'\S+/known_hosts, or run once with --strict-host-key-checking=accept-new')
        self.assertEqual(self.rig.known_host_keys(addr), [], 'an unknown host key must not be recorded')

    def test_accept_new_records_an_unknown_host_key(self):
        addr = self.rig.app[2].addr
        self.rig.forget_known_host(addr)
        self.restore_known_hosts()
        db, before = self.prepare()

        result = self.run_agent('--strict-host-key-checking=accept-new', '-t', str(SSH_TIMEOUT),
                                '--host-timeout', str(HOST_TIMEOUT))

        self.assertExit(result, 0)
        self.assertGoodServersUpdated(GOOD, db, before)
        self.assertRegex(self.server_line(result, 2), r'; new host key SHA256:\S+ recorded in known_hosts$')
        self.assertEqual(self.rig.known_host_keys(addr), [self.rig.app[2].host_public_key()])

    def test_revoked_host_key_refused_even_under_accept_new(self):
        addr = self.rig.app[2].addr
        self.restore_known_hosts()
        path = self.rig.known_hosts_path()
        with open(path, 'a') as f:
            f.write(f'@revoked * {self.rig.app[2].host_public_key()} compromised\n')
        db, before = self.prepare()

        result = self.run_bounded()

        self.assertOnlyApp2Failed(result, db, before)
        self.assertRegex(self.server_line(result, 2),
                         rf'FAILED host key: host key SHA256:\S+ is marked @revoked in \S+/known_hosts: refused')
        # Neither is an unknown key that is revoked recorded on first contact.
        self.rig.forget_known_host(addr)
        with open(path, 'a') as f:
            f.write(f'@revoked * {self.rig.app[2].host_public_key()} compromised\n')
        result = self.run_agent('--strict-host-key-checking=accept-new', '-t', str(SSH_TIMEOUT),
                                '--host-timeout', str(HOST_TIMEOUT))
        self.assertExit(result, 3)
        self.assertIn('is marked @revoked', self.server_line(result, 2))
        recorded = [k for k in self.rig.known_host_keys(addr) if not k.startswith('* ')]   # not @revoked *
        self.assertEqual(recorded, [], 'a revoked key must not be recorded')

    def test_hints_name_a_non_22_port_as_known_hosts_does(self):
        addr, port = self.rig.app[2].addr, 2222
        entry = f'[{addr}]:{port}'
        self.rig.app[2].set_sshd_extra_port(port)
        self.addCleanup(self.rig.app[2].set_sshd_extra_port, None)
        config = os.path.join(self.rig.db_home, '.ssh', 'config')
        with open(config, 'w') as f:
            f.write(f'Host app-two\n  HostName {addr}\n  Port {port}\n')
        os.chown(config, *support.rig.POSTGRES)
        self.addCleanup(os.remove, config)
        self.rig.node[1].psql("UPDATE repmgr.app_servers SET ip_addr = 'app-two' WHERE name = 'app2'")
        self.addCleanup(self.rig.node[1].psql, f"UPDATE repmgr.app_servers SET ip_addr = '{addr}' WHERE name = 'app2'")
        self.restore_known_hosts()

        result = self.run_bounded()
        self.assertExit(result, 3)
        self.assertIn(f'add it with ssh-keyscan -p {port} {addr} >> ', result.out)

        self.assertExit(self.run_agent('--strict-host-key-checking=accept-new'), 0)
        self.assertEqual(self.rig.known_host_keys(entry), [self.rig.app[2].host_public_key()])

        self.rig.set_known_host(entry, self.rig.new_public_key())
        result = self.run_bounded()
        self.assertExit(result, 3)
        self.assertRegex(result.out, rf"host key CHANGED \(now SHA256:\S+\): possible man-in-the-middle, "
                                     rf"refused; if the change is legitimate, run ssh-keygen -f \S+ -R "
                                     rf"'\[{addr}\]:{port}'")


if __name__ == '__main__':
    support.main()
