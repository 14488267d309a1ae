#!/usr/bin/python3
"""App servers that fail: nothing listening, a TCP peer that never speaks, a host
whose connects time out, a rejected client key, a changed host key, an unknown host
under --strict-host-keys. The good servers are still updated, the exit code is 3,
the output names the failed hosts, and the run ends in bounded time."""

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
        self.addCleanup(self.rig.psql, self.rig.primary_node(),
                        f'DELETE FROM repmgr.app_servers WHERE id = {row}')

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
        self.rig.stop_sshd(2)
        self.addCleanup(self.rig.start_sshd, 2)
        db, before = self.prepare()

        result = self.run_bounded()

        self.assertOnlyApp2Failed(result, db, before)

    def test_rejected_client_key(self):
        keys = self.rig.read_remote_file(2, f'{support.PG_HOME}/.ssh/authorized_keys')
        self.rig.set_authorized_keys(2, self.rig.new_public_key() + '\n')
        self.addCleanup(self.rig.set_authorized_keys, 2, keys)
        db, before = self.prepare()

        result = self.run_bounded()

        self.assertOnlyApp2Failed(result, db, before)

    def test_changed_host_key(self):
        addr = self.rig.app_server(2).addr
        wrong_key = self.rig.new_public_key()
        self.rig.set_known_host(addr, wrong_key)
        self.addCleanup(self.rig.set_known_host, addr, self.rig.host_public_key(2))
        db, before = self.prepare()

        result = self.run_bounded()

        self.assertOnlyApp2Failed(result, db, before)
        self.assertEqual(self.rig.known_host_keys(addr), [wrong_key.rsplit(' ', 1)[0]],
                         'a changed host key must not be overwritten in known_hosts')

    def test_strict_host_keys_refuses_unknown_host(self):
        self.rig.set_known_host(self.rig.app_server(1).addr, self.rig.host_public_key(1))
        self.rig.forget_known_host(self.rig.app_server(2).addr)
        db, before = self.prepare()

        result = self.run_agent('--strict-host-keys', '-t', str(SSH_TIMEOUT),
                                '--host-timeout', str(HOST_TIMEOUT))

        self.assertOnlyApp2Failed(result, db, before)
        self.assertEqual(self.rig.known_host_keys(self.rig.app_server(2).addr), [],
                         '--strict-host-keys must not record unknown hosts')


if __name__ == '__main__':
    support.main()
