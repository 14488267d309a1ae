#!/usr/bin/python3
"""Fencing, overlapping runs with different truths: a run that proved node1 (timeline 1) is
held up on every app server (their pgdeploy lock, <include dir>/.<cluster>.lock, is taken)
while node1 fails, node2 is promoted and a run for node2 starts too. However the two meet on
the app servers, every one of them ends on node2.

Both runs happen on the rig's one DB host, so each gets its own --lock-file, as runs on two
database nodes would have. Each test gets a fresh rig: a failover cannot be undone."""

import os
import signal

import support
from support import PG_HOME, RigTestCase, remote_files, wait_until

SERVERS = (1, 2)
INCLUDE = remote_files('main')[0]
WAIT = 20          # s: bound for every wait on the rig
SLOW = ('--host-timeout', '60', '--deadline', '90')    # a run may wait for the lock that long


def signal_if_alive(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


class OverlapCase(RigTestCase):
    rig_options = {'app_servers': len(SERVERS)}

    def run_for(self, node, *args, **kwargs):
        return self.run_agent(*SLOW, '--lock-file', f'{PG_HOME}/.pgdeploy-{self.rig.cluster}-node{node}.lock',
                              *args, node=node, timeout=120, **kwargs)

    def start_run_for(self, node):
        return self.run_agent_in_background(
            *SLOW, '--lock-file', f'{PG_HOME}/.pgdeploy-{self.rig.cluster}-node{node}.lock',
            node=node, timeout=120)

    def lock_waiters(self, i):
        """pids of pgdeploy's push programs on app server i (`perl /dev/fd/3`) that have the lock
        file open: while another holds the lock, they are the ones waiting for it."""
        lock = f'/.{self.rig.cluster}.lock'
        def has_lock_open(pid):
            try:
                return any(os.readlink(f'/proc/{pid}/fd/{fd}').endswith(lock)
                           for fd in os.listdir(f'/proc/{pid}/fd'))
            except OSError:
                return False
        return [pid for pid, argv, _ in self.rig.app[i].processes()
                if argv[:2] in (['perl', '-e'], ['perl', '/dev/fd/3']) and has_lock_open(pid)]

    def wait_for_waiters(self, count, run):
        def waiting():
            if run.done():
                self.fail(f'the run did not wait for the lock: {run.result()}')
            return all(len(self.lock_waiters(i)) >= count for i in SERVERS)
        if not wait_until(waiting, WAIT, 0.05):
            self.fail(f'after {WAIT}s, lock waiters: { {i: self.lock_waiters(i) for i in SERVERS} }')
        return {i: self.lock_waiters(i) for i in SERVERS}

    def hold_locks(self):
        locks = [self.rig.app[i].hold_lock() for i in SERVERS]
        for lock in locks:
            self.addCleanup(lock.release)
        return locks

    def prepare(self):
        """node1 deployed everywhere, and a new database that the next deploy writes."""
        self.assertExit(self.run_agent(), 0)
        self.create_database()

    def fail_over(self):
        self.rig.node[1].stop('immediate')
        self.rig.node[2].promote()

    def assertEverythingOnNode2(self):
        for i in SERVERS:
            header = self.rig.app[i].read_file(INCLUDE).partition('\n')[0]
            self.assertRegex(header, r'^; pgdeploy cluster=main primary=2 timeline=2 ', f'app{i}')
            self.assertIn('port=5442', self.rig.app[i].ini_entry(support.APP_DB).split())
        self.wait_reaches(SERVERS, port=5442, timeout=WAIT)


class OverlapTest(OverlapCase):
    def test_both_runs_released_together_end_on_node2(self):
        self.prepare()
        locks = self.hold_locks()
        run1 = self.start_run_for(1)
        self.wait_for_waiters(1, run1)      # run1 proved node1 and waits on every server
        self.fail_over()
        run2 = self.start_run_for(2)
        self.wait_for_waiters(2, run2)
        self.assertFalse(run1.done() or run2.done())
        for lock in locks:
            lock.release()

        first, second = run1.result(timeout=WAIT), run2.result(timeout=WAIT)

        self.assertExit(first, 0)
        self.assertExit(second, 0)
        self.assertIn('primary node1 (id 1) at 127.0.0.1:5441, timeline 1', first.out)
        self.assertIn('primary node2 (id 2) at 127.0.0.1:5442, timeline 2', second.out)
        for i in SERVERS:
            # Whichever took the lock first: node2's run always writes (its token is newer than
            # anything run1 writes); run1 either wrote before it or finds the newer file.
            self.assertRegex(self.server_line(second, i), r': updated \(main\.ini')
            self.assertRegex(self.server_line(first, i),
                             r': (updated \(main\.ini|skipped: newer config present: '
                             r'; pgdeploy cluster=main primary=2 timeline=2 )')
        self.assertEverythingOnNode2()


class StaleRunLandsLastTest(OverlapCase):
    def test_run_for_the_old_primary_arriving_last_is_skipped(self):
        """The worst order, forced: node1's run gets the lock only after node2's run is done
        (its push programs waiting for the lock are stopped meanwhile)."""
        self.prepare()
        locks = self.hold_locks()
        run1 = self.start_run_for(1)
        stopped = [pid for pids in self.wait_for_waiters(1, run1).values() for pid in pids]
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
            self.addCleanup(signal_if_alive, pid, signal.SIGCONT)
        self.fail_over()
        for lock in locks:
            lock.release()

        second = self.run_for(2)

        self.assertExit(second, 0)
        for i in SERVERS:
            self.assertRegex(self.server_line(second, i), r': updated \(main\.ini')
        self.assertFalse(run1.done(), 'node1\'s run should still wait')
        after_second = self.snapshot(SERVERS)
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)

        first = run1.result(timeout=WAIT)

        self.assertExit(first, 0)
        self.assertIn('primary node1 (id 1) at 127.0.0.1:5441, timeline 1', first.out)
        for i in SERVERS:
            self.assertRegex(self.server_line(first, i),
                             r': skipped: newer config present: '
                             r'; pgdeploy cluster=main primary=2 timeline=2 ')
        self.assertIn(f'{len(SERVERS)} of {len(SERVERS)} app servers up to date', first.out)
        self.assertUntouched(after_second, SERVERS)
        self.assertEverythingOnNode2()


if __name__ == '__main__':
    support.main()
