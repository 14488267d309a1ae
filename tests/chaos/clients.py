"""Clients of a chaos soak: each writes a strictly increasing counter, one row a write, through
one PgBouncer or straight to one node, and records every acknowledgement with the node and
timeline that gave it. A node watcher (Prober) records which node is writable on which timeline.

Each client is one thread holding one psql session (rig.ClientSession), opened again after any
failure; its writes are seconds apart from none of the others'. Times are time.monotonic().
"""

import collections
import os
import threading
import time

import rig

# The timeline a primary writes on now (pg_walfile_name names the insertion timeline's file;
# pg_control_checkpoint() lags until the checkpoint after a promotion).
TIMELINE_SQL = "('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int"
TABLE_SQL = ('CREATE TABLE IF NOT EXISTS chaos_writes (client text NOT NULL, seq bigint NOT NULL, '
             'at timestamptz NOT NULL DEFAULT now())')

# The server session that acknowledged a write: its backend's pid and when it began (wall clock,
# seconds since the epoch). A write to a superseded node on a session older than the agent's
# report means the session survived the cut; on a newer one, PgBouncer routed a new session there.
# (0: not shown; a write is judged without it.)
SESSION_SQL = ("pg_backend_pid(), coalesce(extract(epoch FROM (SELECT backend_start FROM pg_stat_activity "
               "WHERE pid = pg_backend_pid())), 0)")

Ack = collections.namedtuple('Ack', 'client seq sent acked port timeline backend since',
                             defaults=(None, None))


def _number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


class Credentials:
    """The application role's password, which the soak changes; clients read it at each login.
    The previous one is kept: a PgBouncer still holds it in userlist.txt until the agent updates
    that file, and a client that fails with one tries the other (as an application whose
    secret store was rotated would)."""

    def __init__(self, password):
        self._lock = threading.Lock()
        self.current, self.previous = password, password

    def change(self, password):
        with self._lock:
            self.previous, self.current = self.current, password

    def both(self):
        with self._lock:
            return [self.current] if self.current == self.previous else [self.current, self.previous]


class Writer(threading.Thread):
    """Writes client `name`'s counter through host:port every `period` seconds until stop()."""

    def __init__(self, name, host, port, credentials, period=0.2):
        super().__init__(name=f'writer-{name}', daemon=True)
        self.client, self.host, self.port = name, host, port
        self.credentials, self.period = credentials, period
        self.acks = []          # Ack, in order
        self.failures = 0
        self.seq = 0
        self._halt = threading.Event()
        self._session = None
        self._tries = 0

    def _env(self, password):
        return {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'LANG': 'C.UTF-8',
                'PGHOST': self.host, 'PGPORT': str(self.port), 'PGDATABASE': rig.APP_DB,
                'PGUSER': rig.APP_USER, 'PGPASSWORD': password, 'PGCONNECT_TIMEOUT': '2',
                'PGSSLMODE': 'disable'}

    def _open(self):
        passwords = self.credentials.both()
        self._tries += 1
        password = passwords[self._tries % len(passwords)]
        self._session = rig.ClientSession([os.path.join(rig.PG_BIN, 'psql'), '-X', '-q', '-A', '-t'],
                                          self._env(password))

    def _close(self):
        if self._session:
            self._session.close()
            self._session = None

    def write_once(self):
        """One write: True if acknowledged (and recorded)."""
        self.seq += 1
        if self._session is None:
            self._open()
        sent = time.monotonic()
        try:
            out = self._session.query(
                f"INSERT INTO chaos_writes (client, seq) VALUES ('{self.client}', {self.seq}) "
                f"RETURNING inet_server_port(), {TIMELINE_SQL}, {SESSION_SQL}", timeout=3)
        except rig.RigError:      # no answer in time: a hung server or PgBouncer
            out = None
        acked = time.monotonic()
        fields = (out or '').strip().split('|')
        if len(fields) == 4 and all(f.isdigit() for f in fields[:3]) and _number(fields[3]):
            self.acks.append(Ack(self.client, self.seq, sent, acked, int(fields[0]), int(fields[1]),
                                 int(fields[2]), float(fields[3]) or None))
            return True
        self.failures += 1
        self._close()       # a read-only standby, a refused login, a cut session: start again
        return False

    def run(self):
        while not self._halt.is_set():
            start = time.monotonic()
            self.write_once()
            self._halt.wait(max(0.0, self.period - (time.monotonic() - start)))
        self._close()

    def stop(self):
        self._halt.set()
        self.join(timeout=10)


NodeView = collections.namedtuple('NodeView', 'at writable timeline')


class Prober(threading.Thread):
    """Asks every node, at its public address, every `period` seconds whether it is writable and
    on which timeline. on_view(node_index, NodeView) is called with each answer (None: no answer)."""

    def __init__(self, nodes, on_view, period=0.25):
        super().__init__(name='prober', daemon=True)
        self.nodes, self.on_view, self.period = nodes, on_view, period
        self._sessions = {}
        self._halt = threading.Event()

    def _ask(self, node):
        session = self._sessions.get(node.index)
        if session is None or not session.alive():
            env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'LANG': 'C.UTF-8',
                   'PGHOST': node.public_addr, 'PGPORT': str(node.port), 'PGDATABASE': 'repmgr',
                   'PGUSER': 'repmgr', 'PGCONNECT_TIMEOUT': '1', 'PGSSLMODE': 'disable'}
            session = self._sessions[node.index] = rig.ClientSession(
                [os.path.join(rig.PG_BIN, 'psql'), '-X', '-q', '-A', '-t'], env)
        try:
            out = session.query('SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN 0 '
                                f'ELSE {TIMELINE_SQL} END', timeout=1.5)
        except rig.RigError:
            out = None
        fields = (out or '').strip().split('|')
        if len(fields) != 2:
            session.close()
            self._sessions.pop(node.index, None)
            return None
        return NodeView(time.monotonic(), fields[0] == 'f', int(fields[1]))

    def run(self):
        while not self._halt.is_set():
            for node in self.nodes:
                self.on_view(node.index, self._ask(node))
            self._halt.wait(self.period)
        for session in self._sessions.values():
            session.close()

    def stop(self):
        self._halt.set()
        self.join(timeout=10)
