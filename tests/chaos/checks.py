"""The invariants of a chaos soak, and the figures it reports.

The Ledger is fed while the soak runs (node views from the Prober, the watchers' log lines,
the fault windows); verdict() then judges every acknowledgement the clients collected. Times
are time.monotonic(). Each invariant, and its bound, is described in docs/testing.md.
"""

import collections
import hashlib
import math
import re
import threading
import time

import rig

# Defaults of soak.py's --stale-route-bound and --fence-bound.
STALE_ROUTE_BOUND = 15.0   # s from a promotion seen to a reachable PgBouncer routing to it
FENCE_BOUND = 10.0         # s from a node superseded to its fence holding (--fence-stale)
RSS_GROWTH_BOUND = 16 << 20    # bytes a watcher may grow after its first minute
FD_GROWTH_BOUND = 16           # descriptors a watcher may gain after its first minute
WARM_UP = 60.0

HEADER = re.compile(r'^[;#] pgdeploy cluster=\S+ primary=(\d+) timeline=(\d+) generation=(\d+) '
                    r'digest=([0-9a-f]{64})$')
REPORT = re.compile(r'\bapp(\d+) \S+: (updated|current)\b')
# The proof a watcher's round pushes: its note "proven primary: <node> timeline T" (said when it
# changes, before the round's pushes) or its report's header "primary <node> at <host:port>, timeline T".
PROOF = re.compile(r'(?:proven primary: .* timeline|: primary .* at \S+, timeline) (\d+)\s*$')

Promotion = collections.namedtuple('Promotion', 'at node timeline')


def percentile(values, p):
    """The p-th percentile (nearest rank) of values; None for none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100.0 * len(ordered)) - 1)]


def torn(text):
    """Why a file pgdeploy wrote is not whole (None: it is, or it is empty: not written yet)."""
    if not text:
        return None
    header, newline, body = text.partition('\n')
    found = HEADER.match(header)
    if not found or not newline:
        return f'no pgdeploy header: {header[:120]!r}'
    if hashlib.sha256(body.encode()).hexdigest() != found.group(4):
        return 'the body does not match the digest in its header'
    return None


class Ledger:
    """What the soak saw, with times; thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self.promotions = []          # Promotion, in order of timeline
        self.reports = collections.defaultdict(list)   # app index -> [(at, node index, line, proof)]
        self.proofs = {}              # node index -> timeline its watcher last said it proved
        self.report_count = 0
        self.faults = collections.defaultdict(list)    # app index -> [[start, end]]
        self.credential_changes = []  # times the password changed
        self.returns = collections.defaultdict(list)   # node index -> times it came back (restart, heal)
        self.partitions = collections.defaultdict(list)  # node index -> [[start, end]]
        self.violations = []          # (at, text)
        self.watcher_samples = collections.defaultdict(list)   # watcher id -> [(at, rss, fds)]
        self.snapshots = {}           # (app index, report time) -> PgBouncer's state just after
        self.on_report = None         # on_report(app, at): a report by the newest primary's watcher
        # time.time() - time.monotonic(): server-side times (an Ack's session start) on our clock.
        self.wall_offset = time.time() - time.monotonic()

    # ---- fed while the soak runs ----------------------------------------------------

    def node_view(self, node, view):
        if view is None or not view.writable:
            return
        with self._lock:
            newest = self.promotions[-1].timeline if self.promotions else 0
            if view.timeline > newest:
                self.promotions.append(Promotion(view.at, node, view.timeline))

    def watcher_line(self, at, node, line):
        proof = PROOF.search(line)
        if proof:
            with self._lock:
                self.proofs[node] = int(proof.group(1))
            return
        found = REPORT.search(line)
        if found:
            app = int(found.group(1))
            with self._lock:
                proved = self.proofs.get(node)
                self.reports[app].append((at, node, line.strip(), proved))
                self.report_count += 1
                newest = self.promotions[-1] if self.promotions else None
            if self.on_report and newest and node == newest.node and \
                    (proved is None or proved >= newest.timeline):
                self.on_report(app, at)

    def snapshot(self, app, at, text):
        """What app server `app`'s PgBouncer showed (SHOW SERVERS, SHOW DATABASES) just after
        the report it got at `at`: where its sessions went, for a violation's evidence."""
        with self._lock:
            self.snapshots[(app, at)] = text

    def fault_started(self, app):
        with self._lock:
            self.faults[app].append([time.monotonic(), None])

    def fault_ended(self, app):
        with self._lock:
            if self.faults[app] and self.faults[app][-1][1] is None:
                self.faults[app][-1][1] = time.monotonic()

    def node_returned(self, node):
        """A node was restarted, or its partition healed: a fence is owed from now."""
        with self._lock:
            self.returns[node].append(time.monotonic())

    def partition_started(self, node):
        with self._lock:
            self.partitions[node].append([time.monotonic(), None])

    def partition_ended(self, node):
        with self._lock:
            if self.partitions[node] and self.partitions[node][-1][1] is None:
                self.partitions[node][-1][1] = time.monotonic()
            self.returns[node].append(time.monotonic())

    def credentials_changed(self):
        with self._lock:
            self.credential_changes.append(time.monotonic())

    def violation(self, text):
        with self._lock:
            self.violations.append((time.monotonic(), text))

    def watcher_sample(self, watcher_id, rss, fds):
        with self._lock:
            self.watcher_samples[watcher_id].append((time.monotonic(), rss, fds))

    # ---- questions --------------------------------------------------------------------

    def newest_timeline(self):
        with self._lock:
            return self.promotions[-1].timeline if self.promotions else 0

    def superseded_at(self, timeline):
        """When a node writing on `timeline` was first seen superseded (None: never)."""
        for p in self.promotions:
            if p.timeline > timeline:
                return p
        return None

    def reported_updated(self, app, promotion):
        """When the watcher on the promoted node first reported app server `app` updated or
        current, after the promotion (None: not yet)."""
        return self.report(app, promotion)[0]

    def report(self, app, promotion):
        """(when, the line) of that first report; (None, None) when there is none."""
        return self.report_with_proof(app, promotion)[:2]

    def report_with_proof(self, app, promotion):
        """(when, the line, the timeline its round proved: None when unknown) of that first report.
        A report from a round that proved an older timeline (a round begun before the promotion,
        still pushing the old truth) is not a report of this promotion: its push routed elsewhere."""
        for at, node, line, proved in self.reports.get(app, []):
            if at >= promotion.at and node == promotion.node and \
                    (proved is None or proved >= promotion.timeline):
                return at, line, proved
        return None, None, None

    def session_age(self, ack, at):
        """Seconds the server session that acknowledged `ack` had existed at monotonic time `at`
        (negative: it began later; None: not known). Told apart: a session that survived the
        agent's cut, and one PgBouncer opened to that node after it."""
        if ack.since is None:
            return None
        return at + self.wall_offset - ack.since

    def _faulted(self, app, start, end):
        return any(s <= end and (e is None or e >= start) for s, e in self.faults.get(app, []))

    def _credentials_changed(self, start, end):
        return any(start - 15.0 <= at <= end for at in self.credential_changes)

    # ---- the verdict ------------------------------------------------------------------

    def stale_routes(self, acks_by_app):
        """Per promotion and app server: seconds from the promotion seen to the first write
        through that PgBouncer acknowledged on the new timeline. Returns (measured, excluded,
        unrouted): excluded were faulted (down, hung) or had the password changed meanwhile;
        unrouted were superseded again before any write got through."""
        measured, excluded, unrouted = [], [], []
        for i, promotion in enumerate(self.promotions[1:], 1):
            following = self.promotions[i + 1].at if i + 1 < len(self.promotions) else float('inf')
            for app, acks in acks_by_app.items():
                first = next((a.acked for a in acks
                              if a.acked >= promotion.at and a.timeline >= promotion.timeline), None)
                if first is None or first > following:
                    unrouted.append((promotion, app))
                    continue
                seconds = first - promotion.at
                if self._faulted(app, promotion.at, first) or \
                        self._credentials_changed(promotion.at, first):
                    excluded.append((promotion, app, seconds))
                else:
                    measured.append((promotion, app, seconds))
        return measured, excluded, unrouted

    def stale_acks_through_pgbouncer(self, acks_by_app):
        """Writes acknowledged through a PgBouncer by a node after it was seen superseded:
        [(ack, the newest promotion before it, when the watcher on that promoted node reported
        this PgBouncer updated or None)]. An ack after that report breaks the invariant; those
        before it are the window the agent closes."""
        found = []
        for app, acks in acks_by_app.items():
            for ack in acks:
                promotion = self.superseded_at(ack.timeline)
                if promotion is None or ack.acked < promotion.at:
                    continue
                newest = [p for p in self.promotions if p.at <= ack.acked][-1]
                found.append((ack, newest, self.reported_updated(app, newest)))
        return found

    def stale_direct_acks(self, direct_acks):
        """Direct writes acknowledged by a node after it was seen superseded:
        [(ack, seconds the fence was owed, partitioned)]. The fence is owed from the later of
        the promotion seen and the node's last return (restart, healed partition); partitioned:
        the node was cut off the cluster network when it acknowledged (no agent could reach it)."""
        found = []
        for ack in direct_acks:
            promotion = self.superseded_at(ack.timeline)
            if promotion is None or ack.acked <= promotion.at:
                continue
            node = next((p.node for p in self.promotions if p.timeline == ack.timeline), None)
            owed = max([promotion.at] + [t for t in self.returns.get(node, []) if t <= ack.acked])
            cut = any(s <= ack.acked and (e is None or e >= ack.acked)
                      for s, e in self.partitions.get(node, []))
            found.append((ack, ack.acked - owed, cut))
        return found

    def watcher_growth(self):
        """Per watcher that lived past WARM_UP: (rss growth, fd growth, last rss, last fds) from
        its first sample after WARM_UP to its last."""
        growth = {}
        for wid, samples in self.watcher_samples.items():
            if not samples:
                continue
            start = samples[0][0]
            warm = [s for s in samples if s[0] - start >= WARM_UP]
            if len(warm) < 2:
                continue
            growth[wid] = (warm[-1][1] - warm[0][1], warm[-1][2] - warm[0][2], warm[-1][1], warm[-1][2])
        return growth


def show_databases(app):
    """{database: (host, port, paused)} from PgBouncer's SHOW DATABASES on app server `app`
    (None: the console did not answer)."""
    rc, out, _ = app.admin_query('SHOW DATABASES')
    if rc != 0:
        return None
    found = {}
    for line in out.splitlines():
        fields = line.split('|')
        if len(fields) >= 12 and fields[0] != 'pgbouncer':
            found[fields[0]] = (fields[1], fields[2], fields[11])
    return found


def check_files(app, ledger):
    """Every file pgdeploy wrote on this app server parses whole (its header, its digest)."""
    for path in rig.remote_files(app.rig.cluster):
        why = torn(app.read_file(path))
        if why:
            ledger.violation(f'{app.name} {path} torn: {why}')


def check_settled(app, primary, ledger):
    """At the end, all faults undone: PgBouncer routes every database of the include file to
    the primary (no reload lost), and none is paused."""
    routes = show_databases(app)
    if routes is None:
        ledger.violation(f'{app.name}: the admin console did not answer SHOW DATABASES')
        return
    wanted = {}
    for line in app.ini_lines():
        name, _, value = line.partition('=')
        params = dict(p.split('=', 1) for p in value.split() if '=' in p)
        wanted[name.strip().strip('"')] = (params.get('host'), params.get('port'))
    for name, (host, port) in wanted.items():
        if name == '*':
            continue
        if name not in routes:
            ledger.violation(f'{app.name}: {name} is in the include file but not in SHOW DATABASES '
                             '(a reload lost)')
        elif routes[name][:2] != (host, port):
            ledger.violation(f'{app.name}: PgBouncer routes {name} to {routes[name][0]}:{routes[name][1]}, '
                             f'the include file says {host}:{port} (a reload lost)')
        if host != primary.public_addr or port != str(primary.port):
            ledger.violation(f'{app.name}: {name} routes to {host}:{port}, not to the primary '
                             f'{primary.name} {primary.public_addr}:{primary.port}')
    for name, (_, _, paused) in routes.items():
        if paused not in ('0', ''):
            ledger.violation(f'{app.name}: PgBouncer left {name} paused')
