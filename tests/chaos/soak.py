#!/usr/bin/python3
"""A chaos soak: the rig under a seeded random sequence of faults, with clients writing through
every PgBouncer and straight to every node, and the invariants of checks.py judged at the end.

    PGDEPLOY=build/pgdeploy /usr/bin/python3 tests/chaos/soak.py --duration 90 --seed 1
    PGDEPLOY=build/pgdeploy /usr/bin/python3 tests/chaos/soak.py --duration 7200 --seed 42 --report soak.json

Needs root. It runs itself in a private network namespace (`unshare --net`), so it neither
meets another rig's addresses nor touches the host's routing. Exit 0: no invariant broke;
1: one did (the seed, the event log and the command that replays the schedule are printed);
2: the soak itself could not run. docs/testing.md describes the invariants and bounds.
"""

import argparse
import json
import os
import random
import shlex
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'rig'))
sys.path.insert(0, HERE)

import rig        # noqa: E402
import checks     # noqa: E402
import clients    # noqa: E402
import inject     # noqa: E402
import schedule   # noqa: E402

# repmgr's hook, handed over to the node's watcher (same --lock-file) when one runs.
# Seconds after a report by the newest primary's watcher that the soak looks at that app server's
# PgBouncer (Soak._snapshot): by then the push that reported is done.
SNAPSHOT_DELAY = 1.0

NOTIFY = ('{agent} -c {cluster} -P -p "host=127.0.0.1 port={port} user=repmgr dbname=repmgr" '
          '--lock-file ' + rig.PG_HOME + '/.pgdeploy-{cluster}-node{node}.lock '
          '--event %e --node-id %n --success %s')


class EventLog:
    def __init__(self):
        self.start = time.monotonic()
        self.lines = []
        self._lock = threading.Lock()

    def __call__(self, text):
        line = f'{time.monotonic() - self.start:8.1f}s  {text}'
        with self._lock:
            self.lines.append(line)
        print(line, flush=True)


def agent_options(agent, nodes, fence):
    """The options of the agent under test that the soak uses when it has them: --fence-stale
    (database-side fencing), --require-majority (with three nodes or more)."""
    text = subprocess.run([agent, '--help'], capture_output=True, text=True).stdout
    text += subprocess.run([agent, 'watch', '--help'], capture_output=True, text=True).stdout
    options = []
    fencing = '--fence-stale' in text and fence != 'off'
    if fence == 'on' and not fencing:
        raise SystemExit('soak: --fence on, but this pgdeploy has no --fence-stale')
    if fencing:
        options.append('--fence-stale')
    if '--require-majority' in text and nodes >= 3:
        options.append('--require-majority')
    return options, fencing


def in_own_netns(argv):
    """Re-run this program in a private network namespace with loopback up (once)."""
    if os.environ.get('PGDEPLOY_CHAOS_NETNS') == '1':
        return
    if os.geteuid() != 0:
        raise SystemExit('soak: needs root (namespaces, sshd, PostgreSQL as postgres)')
    os.environ['PGDEPLOY_CHAOS_NETNS'] = '1'
    script = 'ip link set lo up && exec "$@"'
    os.execvp('unshare', ['unshare', '--net', '--', 'sh', '-c', script, 'soak',
                          sys.executable, os.path.abspath(__file__), *argv])


class Soak:
    def __init__(self, args, agent):
        self.args, self.agent = args, agent
        self.log = EventLog()
        self.ledger = checks.Ledger()
        self.ledger.on_report = self._snapshot
        self.credentials = clients.Credentials(rig.APP_PASSWORD)
        self.views = {}
        self.options, self.fencing = agent_options(agent, args.nodes, args.fence)
        self.rig = rig.Rig(app_servers=args.app_servers, nodes=args.nodes, agent=agent,
                           admin_console=True,
                           event_notification_command=NOTIFY + ''.join(f' {o}' for o in self.options))

    def _snapshot(self, app, at):
        """Keep app server `app`'s SHOW SERVERS and SHOW DATABASES from SNAPSHOT_DELAY s after the
        report at `at` (in a thread: the watchers' log reader must not wait on a hung server)."""
        def look():
            time.sleep(SNAPSHOT_DELAY)
            server = self.rig.app[app]
            shown = []
            for what in ('SERVERS', 'DATABASES'):
                try:
                    rc, out, err = server.admin_query(f'SHOW {what}', timeout=5)
                except Exception as e:      # noqa: BLE001  (a hung or down server: say so)
                    rc, out, err = -1, '', str(e)
                rows = [' '.join(line.split('|')[:6]) for line in out.splitlines()]
                shown.append(f'SHOW {what}: ' + ('; '.join(rows) if rc == 0 else f'failed: {err.strip()[:200]}'))
            self.ledger.snapshot(app, at, ' / '.join(shown))
        threading.Thread(target=look, name=f'snapshot-app{app}', daemon=True).start()

    def _view(self, n, view):
        self.views[n] = view
        self.ledger.node_view(n, view)

    def setup(self):
        r = self.rig
        r.up()
        r.install_agent()
        r.use_public_net()
        r.node[1].psql(clients.TABLE_SQL, db=rig.APP_DB, user=rig.APP_USER)
        for node in r.node.values():
            node.start_repmgrd()
        self.watchers = inject.Watchers(r, self.ledger, ['-P', *self.options], self.args.interval)
        for n in r.node:
            self.watchers.start(n)
        self.watchers.follow()
        self.prober = clients.Prober(list(r.node.values()), self._view)
        self.prober.start()
        self.writers = {f'app{i}': clients.Writer(f'app{i}', app.addr, rig.PGBOUNCER_PORT, self.credentials)
                        for i, app in r.app.items()}
        self.direct = {f'node{n}': clients.Writer(f'node{n}', node.public_addr, node.port, self.credentials)
                       for n, node in r.node.items()}
        for writer in [*self.writers.values(), *self.direct.values()]:
            writer.start()
        self.injector = inject.Injector(r, self.ledger, self.watchers, self.credentials,
                                        lambda: dict(self.views), self.log)
        self._converged(60)

    def _converged(self, timeout):
        """Wait until a write through every PgBouncer is acknowledged on the newest timeline."""
        since = time.monotonic()
        deadline = since + timeout
        while time.monotonic() < deadline:
            newest = self.ledger.newest_timeline()
            if newest and all(any(a.acked > since and a.timeline == newest for a in w.acks[-20:])
                              for w in self.writers.values()):
                return True
            time.sleep(0.25)
        late = [name for name, w in self.writers.items()
                if not any(a.acked > since for a in w.acks[-20:])]
        self.ledger.violation(f'not converged within {timeout}s: no write on the newest timeline '
                              f'through {", ".join(late) or "some PgBouncer"}')
        return False

    def _check_files_forever(self, stop):
        while not stop.wait(5.0):
            for app in self.rig.app.values():
                checks.check_files(app, self.ledger)

    def run(self):
        args = self.args
        self.log(f'seed {args.seed}, {args.duration}s, {args.app_servers} app servers, '
                 f'{args.nodes} nodes, watcher options: -P {" ".join(self.options)}')
        self.setup()
        self.log('rig up, every PgBouncer routes to node1')
        stop = threading.Event()
        files = threading.Thread(target=self._check_files_forever, args=(stop,), daemon=True)
        files.start()
        end = time.monotonic() + args.duration
        for step in schedule.schedule(args.seed, args.app_servers, args.nodes):
            if time.monotonic() >= end:
                break
            self.log(schedule.describe(step))
            self.injector.run(step)
            time.sleep(step.gap)
        self.log('time is up: every fault undone, waiting for the cluster to settle')
        self.injector.undo_all()
        for node in self.rig.node.values():
            node.heal()
        primary = self.injector.settle()
        for n in self.rig.node:
            if n not in self.watchers.running:
                self.watchers.start(n)
        self._converged(60)
        time.sleep(2 * args.interval + 1)      # a round after the routes, for a last reload
        for app in self.rig.app.values():
            checks.check_files(app, self.ledger)
            checks.check_settled(app, primary, self.ledger)
        stop.set()
        for writer in [*self.writers.values(), *self.direct.values()]:
            writer.stop()
        self.prober.stop()
        self.watchers.stop_all()
        return self.verdict()

    def verdict(self):
        args, ledger = self.args, self.ledger
        by_app = {int(name[3:]): w.acks for name, w in self.writers.items()}
        measured, excluded, unrouted = ledger.stale_routes(by_app)
        seconds = [s for _, _, s in measured]
        for promotion, app, s in measured:
            if s > args.stale_route_bound:
                ledger.violation(f'app{app} routed to node{promotion.node} (timeline {promotion.timeline}) '
                                 f'{s:.1f}s after its promotion: over {args.stale_route_bound}s')
        stale_acks = ledger.stale_acks_through_pgbouncer(by_app)
        after_report = [(a, p, u) for a, p, u in stale_acks if u is not None and a.acked > u]
        for ack, promotion, updated in after_report:
            app = int(ack.client[3:])
            _, line, proved = ledger.report_with_proof(app, promotion)
            shown = ledger.snapshots.get((app, updated))
            age = ledger.session_age(ack, updated)
            session = ('' if age is None else
                       f'; its server session (pid {ack.backend}) began {age:.2f}s before that report '
                       '(it survived the cut)' if age > 0 else
                       f'; its server session (pid {ack.backend}) began {-age:.2f}s after that report '
                       '(PgBouncer routed a new session there)')
            ledger.violation(f'{ack.client}: write {ack.seq} acknowledged by port {ack.port} on timeline '
                             f'{ack.timeline}, {ack.acked - updated:.2f}s after the watcher on '
                             f'node{promotion.node} reported that server: {line!r} (its round proved timeline '
                             f'{"unknown" if proved is None else proved}){session}'
                             + (f'; its PgBouncer {SNAPSHOT_DELAY}s after the report: {shown}' if shown else ''))
        direct = ledger.stale_direct_acks([a for w in self.direct.values() for a in w.acks])
        if self.fencing:
            for ack, late, cut in direct:
                if not cut and late > args.fence_bound:
                    ledger.violation(f'{ack.client}: direct write {ack.seq} acknowledged by a stale primary '
                                     f'{late:.1f}s after it was superseded (fenced within {args.fence_bound}s?)')
        growth = ledger.watcher_growth()
        for wid, (rss, fds, _, _) in growth.items():
            if rss > checks.RSS_GROWTH_BOUND or fds > checks.FD_GROWTH_BOUND:
                ledger.violation(f'{wid}: grew by {rss >> 10} KiB and {fds} descriptors after its first minute')
        survived = dict(sorted(self.injector.survived.items()))
        result = {
            'seed': args.seed, 'duration_s': args.duration, 'app_servers': args.app_servers,
            'nodes': args.nodes, 'interval_s': args.interval, 'agent_options': self.options,
            'database_fencing': self.fencing,
            'steps_survived': survived, 'steps_skipped': dict(sorted(self.injector.skipped.items())),
            'steps_failed': dict(sorted(self.injector.failed.items())),
            'promotions': len(ledger.promotions) - 1,
            'stale_route_s': {'n': len(seconds), 'max': max(seconds, default=None),
                              'p99': checks.percentile(seconds, 99), 'p50': checks.percentile(seconds, 50),
                              'bound': args.stale_route_bound, 'excluded_faulted': len(excluded),
                              'superseded_before_routed': len(unrouted),
                              # the longest, to find in the event log (at_s: its promotion, in its times)
                              'worst': [{'s': round(s, 2), 'app': app, 'node': p.node, 'timeline': p.timeline,
                                         'at_s': round(p.at - self.log.start, 1)}
                                        for p, app, s in sorted(measured, key=lambda m: m[2])[-5:]]},
            'writes_acked_through_pgbouncer': sum(len(w.acks) for w in self.writers.values()),
            'writes_failed_through_pgbouncer': sum(w.failures for w in self.writers.values()),
            'watcher_reports_seen': ledger.report_count,
            'pgbouncer_snapshots': len(ledger.snapshots),
            'stale_acks_through_pgbouncer_before_report': len(stale_acks) - len(after_report),
            'stale_acks_through_pgbouncer_after_report': len(after_report),
            'direct_writes_acked': sum(len(w.acks) for w in self.direct.values()),
            'direct_writes_acked_by_superseded_node': len(direct),
            'direct_writes_acked_by_superseded_node_while_cut_off': sum(1 for _, _, cut in direct if cut),
            'direct_stale_ack_max_s_after_fence_owed': max((late for _, late, cut in direct if not cut),
                                                           default=None),
            'watchers': {wid: {'rss_growth_kib': rss >> 10, 'fd_growth': fds, 'rss_kib': last >> 10,
                               'fds': lastfd} for wid, (rss, fds, last, lastfd) in growth.items()},
            'violations': [text for _, text in ledger.violations],
        }
        return result


def keep_logs(soak):
    """Copy the logs a diagnosis needs (watchers, repmgr and PostgreSQL, PgBouncer, sshd) out of
    the rig before it is removed, and the event log beside them."""
    import glob
    import shutil
    r = soak.rig
    dest = f'/var/tmp/pgdeploy-chaos-{soak.args.seed}-{os.getpid()}'
    os.makedirs(dest, exist_ok=True)
    patterns = [os.path.join(r.dir, 'watch-*.log'), os.path.join(r.dir, 'dbhost', 'node*', '*.log'),
                os.path.join(r.dir, 'dbhost', 'node*', 'log', '*.log'), os.path.join(r.dir, 'app*', 'run', '*.log'),
                os.path.join(r.dir, 'app*', 'reload.log'), os.path.join(r.dir, 'app*', 'sshd', 'sshd.log')]
    for pattern in patterns:
        for path in glob.glob(pattern):
            name = os.path.relpath(path, r.dir).replace(os.sep, '_')
            shutil.copyfile(path, os.path.join(dest, name))
    with open(os.path.join(dest, 'event.log'), 'w') as f:
        f.write('\n'.join(soak.log.lines + [''] + [text for _, text in soak.ledger.violations]) + '\n')
    print(f'soak: logs kept in {dest}', file=sys.stderr)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--duration', type=float, default=90, help='seconds of faults (default 90)')
    parser.add_argument('--seed', default=None, help='the schedule\'s seed (default: a random one, printed)')
    parser.add_argument('--app-servers', type=int, default=3)
    parser.add_argument('--nodes', type=int, default=2, choices=(2, 3))
    parser.add_argument('--interval', type=float, default=1.0, help='the watchers\' --interval')
    parser.add_argument('--fence', choices=('auto', 'on', 'off'), default='auto',
                        help='database-side fencing (--fence-stale): auto uses it when the agent has it')
    parser.add_argument('--stale-route-bound', type=float, default=checks.STALE_ROUTE_BOUND,
                        help='seconds a reachable PgBouncer may route to a superseded primary (default %(default)s)')
    parser.add_argument('--fence-bound', type=float, default=checks.FENCE_BOUND,
                        help='seconds a superseded primary may take writes with --fence-stale (default %(default)s)')
    parser.add_argument('--report', help='write the figures and the event log as JSON to this file')
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = str(random.SystemRandom().randrange(1 << 32))
        argv = [*argv, '--seed', args.seed]
    agent = os.environ.get('PGDEPLOY')
    if not agent or not os.access(agent, os.X_OK):
        print('soak: PGDEPLOY must name the pgdeploy binary under test', file=sys.stderr)
        return 2
    in_own_netns(argv)
    soak = Soak(args, os.path.abspath(agent))
    try:
        result = soak.run()
    except Exception as e:    # noqa: BLE001  (the soak could not run: say where, with the log)
        print(f'soak: could not run: {type(e).__name__}: {e}', file=sys.stderr)
        print('\n'.join(soak.log.lines[-40:]), file=sys.stderr)
        print(f'replay: PGDEPLOY={agent} {sys.executable} {shlex.join([os.path.abspath(__file__), *argv])}',
              file=sys.stderr)
        return 2
    finally:
        if soak.ledger.violations:
            keep_logs(soak)
        soak.rig.down()
    print(json.dumps(result, indent=2))
    if args.report:
        with open(args.report, 'w') as f:
            json.dump({**result, 'event_log': soak.log.lines}, f, indent=2)
    if result['violations']:
        print(f'\nFAILED: {len(result["violations"])} invariant(s) broke, seed {args.seed}. Event log:',
              file=sys.stderr)
        print('\n'.join(soak.log.lines), file=sys.stderr)
        print(f'replay the same schedule: PGDEPLOY={agent} {sys.executable} '
              f'{shlex.join([os.path.abspath(__file__), *argv])}', file=sys.stderr)
        return 1
    print(f'\nOK: seed {args.seed}, no invariant broke')
    return 0


if __name__ == '__main__':
    sys.exit(main())
