#!/usr/bin/python3
"""Values from the database are hostile (issue 8): a role that sets its own password to a secret
PgBouncer cannot hold, an application_name or a host it cannot hold, a database whose name the
admin console cannot take. Each is left out (or refused) with a message that names it; nobody
else loses a login, a route or a session cut, and nothing repeats on the next run. Names made to
forge output (security review 3, N3 and N7) stay in their line, escaped: in the report, the
check's output, the watcher's log and what it sends to sd_notify."""

import base64
import os
import socket
import time

import support
from rig import sql_ident, sql_literal
from support import APP_DB, RigTestCase

NODE1_PORT, NODE2_PORT = 5441, 5442
LONG_DB = 'A' * 62                 # its own line in the include; 64 bytes once quoted for KILL
INCLUDE = '/etc/pgbouncer/databases/main.ini'
# Names that once printed as lines of their own (N7; PostgreSQL keeps 63 bytes of a name)
FORGED_DB = 'x\nPGDEPLOY OK - fine | servers=0\napp9 127.0.1.9: OK'
FORGED_ROLE = 'bob\napp9 127.0.1.9: unchanged'
# and that once reached sd_notify as commands of their own (N3)
FORGED_NODE = 'node1\nWATCHDOG_USEC=1\nSTOPPING=1'


class HostileInputTest(RigTestCase):
    rig_options = {'app_servers': 1, 'admin_console': True}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        salt = base64.b64encode(b's' * 3000).decode()   # a SCRAM-shaped secret of 4 KB
        cls.rig.node[1].psql("CREATE ROLE evil LOGIN PASSWORD 'x';\n"
                        "CREATE ROLE zz_after LOGIN PASSWORD 'after-password';\n"
                        f'CREATE DATABASE {sql_ident(LONG_DB)};\n')
        cls.rig.node[1].psql(f"ALTER ROLE evil PASSWORD 'SCRAM-SHA-256$4096:{salt}$"
                        "c3RvcmVkc3RvcmVkc3RvcmVkc3RvcmVkc3RvcmVkc3Q=:c2VydmVyc2VydmVyc2VydmVyc2VydmVyc2VydmVyc2U='",
                     user='evil')
        cls.result = cls.run_agent()

    def test_the_run_succeeds_and_names_what_it_left_out(self):
        self.assertExit(self.result, 0)
        self.assertIn('warning: user evil (secret longer than', self.result.out)
        self.assertNotIn('c3RvcmVk', self.result.out + self.result.err, 'no secret in the output')

    def test_users_after_the_long_secret_still_log_in(self):
        rc, out, err = self.rig.app[1].client_query(APP_DB, 'zz_after', 'after-password', 'select current_user')
        self.assertEqual((rc, out.strip()), (0, 'zz_after'), f'{err}\n{self.rig.app[1].pgbouncer_log_tail()}')
        log = support.rig.read_text(self.rig.app[1].pgbouncer_log)
        self.assertNotIn('too long in auth file', log)

    def test_an_application_name_pgbouncer_cannot_hold_is_left_out(self):
        self.rig.node[1].psql("UPDATE repmgr.app_servers SET application_name = E'\\x0b' WHERE name = 'app1'")
        self.addCleanup(self.rig.node[1].psql, "UPDATE repmgr.app_servers SET application_name = '' WHERE name = 'app1'")
        log_before = len(support.rig.read_text(self.rig.app[1].pgbouncer_log))
        result = self.run_agent()
        self.assertExit(result, 0)
        self.assertIn('warning: application_name', result.out)
        self.assertIn('control character', result.out)
        self.assertIn('application_name \\x0b (control character', result.out)  # escaped, not printed raw (N7)
        self.assertNotIn('\x0b', result.out)
        self.assertReaches(1, NODE1_PORT)
        self.assertNotIn('syntax error', support.rig.read_text(self.rig.app[1].pgbouncer_log)[log_before:])

    def test_a_host_pgbouncer_cannot_hold_is_refused(self):
        self.rig.node[1].psql('CREATE TABLE IF NOT EXISTS repmgr.node_public_info (node_id int, conninfo text);\n'
                         'DELETE FROM repmgr.node_public_info;\n'
                         "INSERT INTO repmgr.node_public_info VALUES (1, E'host=''127.0.0.1\\nevil'' port=5441');\n")
        self.addCleanup(self.rig.node[1].psql, 'DROP TABLE repmgr.node_public_info')
        before = self.snapshot([1])
        result = self.run_agent('-P')
        self.assertExit(result, 1)
        self.assertIn("host cannot be written into PgBouncer's configuration", result.err)
        self.assertUntouched(before, [1])

    def test_a_database_the_console_cannot_name_costs_no_other_its_cut(self):
        """Finding 5: once, KILL of such a name failed, the marker stayed, and every later run
        reloaded and killed every pool again."""
        self.assertIn(f'warning: database {LONG_DB} (routed, but its name is too long', self.result.out)
        self.assertIsNotNone(self.rig.app[1].ini_entry(LONG_DB))
        self.rig.app[1].write_file(INCLUDE, f'{APP_DB} = host=127.0.0.1 port={NODE2_PORT} dbname={APP_DB}\n')
        self.rig.app[1].reload_pgbouncer()
        result = self.run_agent()
        self.assertExit(result, 0)
        self.assertIn('sessions cut', self.server_line(result, 1))
        self.assertReaches(1, NODE1_PORT)
        again = self.run_agent()
        self.assertIn(': unchanged', self.server_line(again, 1))

    def test_a_line_break_in_admin_conninfo_runs_nothing(self):
        """Finding 1: the next line was once pasted into a shell command on the app server."""
        pwned = f'/tmp/pgdeploy-pwned-{os.getpid()}'
        self.rig.app[1].set_admin_conninfo(f'host=/run\n1 1 3\ntouch {pwned} #')
        self.addCleanup(self.rig.app[1].set_admin_conninfo, True)
        handwritten = f'{APP_DB} = host=127.0.0.1 port={NODE2_PORT} dbname={APP_DB}\n'
        self.rig.app[1].write_file(INCLUDE, handwritten)
        result = self.run_agent()
        self.assertExit(result, 3)
        self.assertIn('FAILED config: admin_conninfo', self.server_line(result, 1))
        self.assertFalse(os.path.exists(pwned))
        self.assertEqual(self.rig.app[1].read_file(INCLUDE), handwritten,
                         'a server whose row cannot be sent is not written to')

    def test_a_reload_pgbouncer_rejects_is_reported_failed(self):
        """PgBouncer 1.18 answers RELOAD with OK and keeps its old routes when loading stops at
        an error (here: a broken include before ours)."""
        a = self.rig.app[1]
        ini = os.path.join(a.etc_pgbouncer, 'pgbouncer.ini')
        original = support.rig.read_text(ini)
        self.rig.app[1].write_file('/etc/pgbouncer/broken.ini', 'bad key = host=x\n')
        self.rig.app[1].write_file('/etc/pgbouncer/pgbouncer.ini',
                                   original.replace('[databases]\n', '[databases]\n%include /etc/pgbouncer/broken.ini\n'), 0o640)
        def restore():
            self.rig.app[1].write_file('/etc/pgbouncer/pgbouncer.ini', original, 0o640)
        self.addCleanup(self.rig.app[1].reload_pgbouncer)
        self.addCleanup(restore)
        db = self.create_database('rejected')
        result = self.run_agent()
        self.assertExit(result, 3)
        line = self.server_line(result, 1)
        self.assertIn('reload failed: PgBouncer kept its old routes', line)
        self.assertIn(f'{db} not defined', line)
        restore()
        again = self.run_agent()  # the files are current: the marker makes this run reload
        self.assertExit(again, 0)
        self.assertIn('reloaded, routes confirmed', self.server_line(again, 1))
        self.assertDeployed(1, db)

    # ---- names made to forge output (security review 3, N3 and N7) ---------------------------

    def with_forged_names(self):
        node = self.rig.node[1]
        node.psql(f'CREATE DATABASE {sql_ident(FORGED_DB)};\n'
                  f"CREATE ROLE {sql_ident(FORGED_ROLE)} LOGIN PASSWORD 'x';\n")
        self.addCleanup(node.psql, f'DROP DATABASE {sql_ident(FORGED_DB)};\nDROP ROLE {sql_ident(FORGED_ROLE)};\n')

    def assertNoForgedLine(self, text, check=False):
        """No line is a name's: none starts as a forged one, and in a check only our perfdata
        follows a `|`. splitlines() breaks at every line break some reader may honour."""
        lines = text.splitlines()
        if check:
            self.assertTrue(lines[0].startswith('PGDEPLOY '), text)
            self.assertEqual(lines[0].count('|'), 1, text)
            self.assertIn(' | servers=', lines[0])
            self.assertEqual([line for line in lines[1:] if '|' in line], [], f'perfdata in long output:\n{text}')
        for line in lines[1 if check else 0:]:
            self.assertFalse(line.startswith(('PGDEPLOY', 'app9', 'WATCHDOG_USEC', 'STOPPING')),
                             f'a forged line {line!r} in:\n{text}')

    def test_names_with_line_breaks_forge_no_line_in_the_report_or_the_check(self):
        self.with_forged_names()
        for args in ((), ('--dry-run',), ('check',)):
            with self.subTest(args=args):  # each is shown to fail on its own
                result = self.run_agent(*args)
                self.assertExit(result, 0)
                self.assertNoForgedLine(result.out, check=args == ('check',))
                pipe = '\\x7c' if args == ('check',) else '|'
                self.assertIn(f'warning: database x\\x0aPGDEPLOY OK - fine {pipe} servers=0\\x0aapp9 127.0.1.9: OK '
                              '(line break)', result.out)
                self.assertIn('warning: user bob\\x0aapp9 127.0.1.9: unchanged (line break)', result.out)

    def test_a_node_name_with_line_breaks_sends_no_notify_command(self):
        node = self.rig.node[1]
        node.psql(f'UPDATE repmgr.nodes SET node_name = {sql_literal(FORGED_NODE)} WHERE node_id = 1')
        self.addCleanup(node.psql, "UPDATE repmgr.nodes SET node_name = 'node1' WHERE node_id = 1")
        # systemd's notify socket, as a datagram socket in the abstract namespace: the watcher (in
        # the DB host's mount namespace, as postgres) reaches it without a path.
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(receiver.close)
        name = f'pgdeploy-test-notify-{os.getpid()}'
        receiver.bind('\0' + name)
        w = node.start_watcher(interval=1, env={'NOTIFY_SOCKET': '@' + name})
        self.addCleanup(w.stop)
        messages, deadline = [], time.monotonic() + 30
        while not any('primary node1' in m for m in messages):
            left = deadline - time.monotonic()
            self.assertGreater(left, 0, f'no STATUS naming the primary within 30 s: {messages}\n{w.text()}')
            receiver.settimeout(left)
            messages.append(receiver.recv(65536).decode('utf-8', 'replace'))
        assignments = [line for m in messages for line in m.split('\n')]
        self.assertNotIn('WATCHDOG_USEC=1', assignments, messages)
        self.assertNotIn('STOPPING=1', assignments, messages)
        self.assertIn('STATUS=1 of 1 app servers current; primary node1\\x0aWATCHDOG_USEC=1\\x0aSTOPPING=1 (id 1) '
                      'timeline 1', assignments)
        w.wait_for(r'proven primary: node1')
        self.assertNoForgedLine(w.text())
        self.assertIn('proven primary: node1\\x0aWATCHDOG_USEC=1\\x0aSTOPPING=1 (id 1)', w.text())
        result = self.run_agent()
        self.assertNoForgedLine(result.out)
        self.assertIn('primary node1\\x0aWATCHDOG_USEC=1\\x0aSTOPPING=1 (id 1) at', result.out)
        check = self.run_agent('check', '--lock-file', w.lock_file)  # run by the watcher
        self.assertNoForgedLine(check.out, check=True)


if __name__ == '__main__':
    support.main()
