#!/usr/bin/python3
"""A warm session reads exactly one answer per request (security review 3, N1).

A database named DONE is routed by the line `DONE = host=...`, which a check carries back in its
INCLUDE. The agent reads 16384 bytes at a time; databases named to sort before DONE move that line
to the end of such a read. Once, the watcher took it for the end of the check's answer: the check
said every server UNREACHABLE, and the pushes after it read the answers of the requests before
them. Each answer is now framed by its length: the check is OK and each push gets its own."""

import json
import re

import support
from support import PG_HOME, RigTestCase

INCLUDE = '/etc/pgbouncer/databases/main.ini'
USERLIST = '/etc/pgbouncer/userlist.txt'
PGPASS = f'{PG_HOME}/.pgpass'
READ = 16384                   # the agent's read size (src/remote/ssh.cpp, receive)
FRAME_HEADER = len('ANSWER 16384\n')


def pad_names(total, per_line):
    """Database names that sort before DONE (a digit first) and whose lines take exactly `total`
    bytes, a line taking 2 * len(name) + per_line bytes (`<name> = host=... dbname=<name> ...`);
    as few as can be, none longer than PgBouncer's 63 bytes nor quoted on its console."""
    for n in range(1, 1000):
        names_bytes, odd = divmod(total - per_line * n, 2)
        if odd or not 5 * n <= names_bytes <= 63 * n:
            continue
        lengths = [names_bytes // n + (i < names_bytes % n) for i in range(n)]
        return [f'{i:03d}' + 'x' * (length - 3) for i, length in enumerate(lengths)]
    raise AssertionError(f'no padding of {total} bytes')


class DoneDatabaseTest(RigTestCase):
    rig_options = {'app_servers': 1, 'admin_console': True}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pads = []
        # A name takes a line's bytes twice over; an application_name of odd length makes the
        # rest of each line odd, so that the padding can move the DONE line by any byte count.
        cls.rig.node[1].psql("UPDATE repmgr.app_servers SET application_name = 'x';\n"
                             'CREATE DATABASE "DONE"')
        cls.require(cls.run_agent(), 0, 'first deploy, with a database named DONE')
        cls.w = cls.rig.node[1].start_watcher(interval=3600)   # no round of its own: only ours
        cls.addClassCleanup(cls.w.stop)
        cls.w.wait_for(r'app1 127\.0\.1\.1 \(x\): current', timeout=30)

    @classmethod
    def done_line_end(cls):
        """Where the line `DONE = ...` ends in app1's answer to a check (src/README.md, "Check
        mode": FILE per file, HEADER, PENDING, then INCLUDE <length> and the file itself)."""
        app = cls.rig.app[1]
        include = app.read_file(INCLUDE).encode()
        files = [INCLUDE, USERLIST] + [PGPASS] * (' pgdeploy ' in (app.read_file(PGPASS) or '').split('\n')[0])
        header = re.match(rb'. pgdeploy .* primary=(\d+) timeline=(\d+) generation=(\d+)', include)
        before = (''.join(f'FILE {f} current\n' for f in files) +
                  'HEADER {} {} {}\n'.format(*(g.decode() for g in header.groups())) +
                  f'PENDING\nINCLUDE {len(include)}\n').encode()
        start = include.index(b'\nDONE = ') + 1
        end = include.index(b'\n', start) + 1
        cls.per_line = end - start - 2 * len('DONE')
        return len(before) + end

    @classmethod
    def place_done_line(cls, end):
        """Names databases (sorting before DONE) until the line `DONE = ...` ends at byte `end`
        of the check's answer, and deploys them."""
        for _ in range(4):
            delta = end - cls.done_line_end()
            if delta == 0:
                return
            total = sum(2 * len(name) + cls.per_line for name in cls.pads) + delta
            wanted = pad_names(total, cls.per_line)
            sql = ''.join(f'ALTER DATABASE "{old}" RENAME TO "{new}";\n'
                          for old, new in zip(cls.pads, wanted) if old != new)
            sql += ''.join(f'CREATE DATABASE "{new}" STRATEGY FILE_COPY;\n' for new in wanted[len(cls.pads):])
            sql += ''.join(f'DROP DATABASE "{old}";\n' for old in cls.pads[len(wanted):])
            cls.rig.node[1].psql(sql)
            cls.pads = wanted
            cls.require(cls.run_agent(), 0, 'deploy of the padding databases')
        raise AssertionError(f'the DONE line ends at {cls.done_line_end()} of the answer, not {end}')

    def hook(self):
        """A repmgr event handed to the watcher: its round's report, as JSON."""
        result = self.run_agent('--event', 'standby_promote', '--node-id', '1', '--success', '1',
                                '--lock-file', self.w.lock_file, '--json')
        self.assertExit(result, 0)
        return json.loads(result.out)

    def test_a_check_and_the_pushes_after_it_each_read_their_own_answer(self):
        # The line at the end of the first read of the answer, as the agent read it before; then
        # at the end of the first read of its frame.
        for end in (READ, READ - FRAME_HEADER):
            with self.subTest(done_line_ends_at=end):
                self.place_done_line(end)
                self.assertIn('\nDONE = host=127.0.0.1 port=5441 dbname=DONE ', self.rig.app[1].read_file(INCLUDE))
                logins = support.sshd_logins(self.rig, 1)
                check = self.run_agent('check', '--lock-file', self.w.lock_file)
                self.assertExit(check, 0)
                self.assertRegex(check.out, r'^PGDEPLOY OK - 1 of 1 app servers route to node1 ')
                self.assertIn('(it ran this check over its warm sessions)', check.out)
                self.assertEqual(support.sshd_logins(self.rig, 1), logins, 'over the warm session')
        # A push after the check gets its own answer (a new user: userlist.txt is written) ...
        logins = support.sshd_logins(self.rig, 1)
        self.rig.node[1].psql("CREATE ROLE after_the_check LOGIN PASSWORD 'x'")
        pushed = self.hook()['servers'][0]
        self.assertEqual(pushed['result'], 'updated', pushed)
        # ... and the next one its own: nothing to change, not the answer of the push before it.
        again = self.hook()['servers'][0]
        self.assertEqual(again['result'], 'unchanged', again)
        self.assertEqual(support.sshd_logins(self.rig, 1), logins, 'one warm session throughout')

if __name__ == '__main__':
    support.main()
