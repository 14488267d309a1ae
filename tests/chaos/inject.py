"""The faults of a chaos soak, done for real to a rig (tests/rig/rig.py), and the watchers
they kill and restart.

Injector.run(step) does one Step of schedule.py. An episode returns when the cluster is one
writable primary with streaming standbys again; a background fault returns at once and is
undone `hold` seconds later by a timer (undo_all() ends every one still running). A step that
cannot be done now (its app server is already down, its watcher already dead, no primary to
change a password on) is logged as skipped: what a step meets depends on timing.
"""

import os
import re
import threading
import time

import rig


def _proc_sample(pid):
    """(RSS bytes, open descriptors) of a process, or None once it is gone."""
    try:
        with open(f'/proc/{pid}/status') as f:
            rss = int(re.search(r'^VmRSS:\s+(\d+) kB', f.read(), re.M).group(1)) * 1024
        return rss, len(os.listdir(f'/proc/{pid}/fd'))
    except (OSError, AttributeError):
        return None


class Watchers:
    """`pgdeploy watch` on every node: started, killed, restarted; their log lines go to the
    ledger as they come (stamped when read, every 0.2 s) and their RSS and descriptors are
    sampled every 5 s."""

    def __init__(self, the_rig, ledger, args, interval):
        self.rig, self.ledger, self.args, self.interval = the_rig, ledger, list(args), interval
        self.running = {}         # node index -> rig.Watcher
        self._offsets = {}        # rig.Watcher -> bytes of its log read
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._follow, name='watcher-logs', daemon=True)

    def start(self, n):
        watcher = self.rig.node[n].start_watcher(self.args, interval=self.interval)
        with self._lock:
            self.running[n] = watcher
            self._offsets[watcher] = 0
        return watcher

    def kill(self, n):
        with self._lock:
            watcher = self.running.pop(n, None)
        if watcher:
            watcher.kill()
        return watcher

    def stop_all(self):
        self._halt.set()
        self._thread.join(timeout=5)
        for n in list(self.running):
            with self._lock:
                watcher = self.running.pop(n)
            watcher.stop()
        self._read_logs()

    def _read_logs(self):
        now = time.monotonic()
        with self._lock:
            offsets = list(self._offsets.items())
        for watcher, offset in offsets:
            try:
                with open(watcher.log_path, 'rb') as f:
                    f.seek(offset)
                    data = f.read()
            except OSError:
                continue
            end = data.rfind(b'\n') + 1
            for line in data[:end].decode(errors='replace').splitlines():
                self.ledger.watcher_line(now, watcher.node, line)
            with self._lock:
                self._offsets[watcher] = offset + end

    def _follow(self):
        last_sample = 0.0
        while not self._halt.wait(0.2):
            self._read_logs()
            if time.monotonic() - last_sample >= 5.0:
                last_sample = time.monotonic()
                with self._lock:
                    running = list(self.running.values())
                for watcher in running:
                    sample = watcher.proc.poll() is None and _proc_sample(watcher.pid)
                    if sample:
                        self.ledger.watcher_sample(os.path.basename(watcher.log_path), *sample)

    def follow(self):
        self._thread.start()

    def logs(self):
        return [w.log_path for w in self._offsets]


class Injector:
    """Does the steps of a schedule to a rig. log(text) writes the event log."""

    def __init__(self, the_rig, ledger, watchers, credentials, views, log):
        self.rig, self.ledger, self.watchers = the_rig, ledger, watchers
        self.credentials, self.views, self.log = credentials, views, log
        self.survived = {}            # kind -> steps done
        self.skipped = {}             # kind -> steps skipped (nothing to do it to now)
        self.failed = {}              # kind -> steps the rig could not finish (say repmgrd promoted none)
        self._busy = set()            # ('app', i) / ('watcher', n) with a fault under way
        self._undo = {}               # the same keys -> (timer, undo)
        self._lock = threading.Lock()
        self._databases = []

    # ---- what the cluster is now -----------------------------------------------------

    def primary(self):
        """The writable node on the newest timeline, by the prober's last views (None: none)."""
        best = None
        for n, view in self.views().items():
            if view and view.writable and (best is None or view.timeline > best[1]):
                best = (n, view.timeline)
        return self.rig.node[best[0]] if best else None

    def _streaming_from(self, primary):
        rows = primary.psql("SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'",
                            check=False)
        return {r[0] for r in rows}

    def settle(self, timeout=60):
        """Make the cluster one primary with every other node streaming from it: wait a little
        for repmgrd and replication, then clone back every node that is not."""
        deadline = time.monotonic() + timeout
        primary = None
        while time.monotonic() < deadline:
            primary = self.primary()
            if primary:
                others = [n for n in self.rig.node.values() if n is not primary]
                try:
                    streaming = self._streaming_from(primary)
                except rig.RigError:
                    streaming = set()
                lagging = [n for n in others if n.name not in streaming]
                if not lagging:
                    return primary
                if time.monotonic() + 45 > deadline or all(not n.postmaster_pid() or
                                                           self._writable(n) for n in lagging):
                    for node in lagging:
                        self.log(f'  {node.name} cloned back from {primary.name}')
                        node.reclone(primary)
                    continue
            time.sleep(0.5)
        raise rig.RigError(f'the cluster did not settle within {timeout}s (primary: {primary})')

    def recover(self):
        """After a step the rig could not finish: with no primary left, start every stopped node
        (the newest-timeline one comes back as the primary it was), then settle."""
        try:
            if not self.primary():
                for node in self.rig.node.values():
                    if not node.postmaster_pid():
                        self.log(f'  recovering: {node.name} started')
                        node.start()
                time.sleep(1.0)
            self.settle()
        except rig.RigError as e:
            self.log(f'  recovering failed: {e}')

    def _writable(self, node):
        view = self.views().get(node.index)
        return bool(view and view.writable)

    def _wait_promotion(self, old_timeline, timeout=45):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            primary = self.primary()
            view = primary and self.views().get(primary.index)
            if view and view.timeline > old_timeline:
                return primary
            time.sleep(0.1)
        return None

    # ---- one step ----------------------------------------------------------------------

    def run(self, step):
        kind = step.kind
        try:
            done = getattr(self, kind)(step)
        except rig.RigError as e:
            self.log(f'  {kind} failed: {e}')
            done = None
            self.recover()
        counter = self.survived if done else self.skipped if done is False else self.failed
        counter[kind] = counter.get(kind, 0) + 1
        return done

    def kill_primary(self, step):
        old = self.primary()
        if not old:
            self.log('  skipped: no primary')
            return False
        timeline = self.views()[old.index].timeline
        old.kill()
        self.log(f'  kill -9 {old.name} (timeline {timeline})')
        new = self._wait_promotion(timeline)
        if not new:
            raise rig.RigError('repmgrd promoted no node within 45 s')
        self.log(f'  repmgrd promoted {new.name}')
        if step.stale:
            old.start()
            self.ledger.node_returned(old.index)
            self.log(f'  {old.name} restarted writable on timeline {timeline}, for {step.stale}s')
            time.sleep(step.stale)
        old.reclone(new)
        self.log(f'  {old.name} cloned back from {new.name}')
        self.settle()
        return True

    def switchover(self, step):
        old = self.primary()
        if not old:
            self.log('  skipped: no primary')
            return False
        new = next(n for n in self.rig.node.values() if n is not old)
        timeline = self.views()[old.index].timeline
        # repmgr's own `standby switchover` logs in to the old primary's host over SSH, which
        # the rig's DB host has not: the same steps by hand, repmgrd kept out of the way.
        for node in self.rig.node.values():
            node.stop_repmgrd()
        old.stop('fast')
        new.promote()
        self.log(f'  {old.name} stopped cleanly, {new.name} promoted')
        if not self._wait_promotion(timeline, 15):
            raise rig.RigError(f'{new.name} not seen writable on a newer timeline')
        old.reclone(new)
        for node in self.rig.node.values():
            if node is not old and node.postmaster_pid():
                node.start_repmgrd()
        self.settle()
        return True

    def partition(self, step):
        primary = self.primary()
        if not primary:
            self.log('  skipped: no primary')
            return False
        if step.target == 'primary':
            node = primary
        else:
            node = next(n for n in self.rig.node.values() if n is not primary)
        self.ledger.partition_started(node.index)
        node.partition()
        self.log(f'  {node.name} ({step.target}) cut off the cluster network')
        time.sleep(step.hold)
        node.heal()
        self.ledger.partition_ended(node.index)
        self.log(f'  {node.name} back on the cluster network; primary now {self.primary()}')
        self.settle()
        return True

    def _background(self, key, start, undo, hold, what):
        with self._lock:
            if key in self._busy:
                self.log(f'  skipped: {what} is already faulted')
                return False
            self._busy.add(key)
        try:
            start()
        except BaseException:
            with self._lock:
                self._busy.discard(key)
            raise

        def end():
            with self._lock:
                if self._undo.pop(key, None) is None:
                    return          # ended already (the timer and undo_all() race)
            try:
                undo()
                self.log(f'  {what} back')
            except Exception as e:      # noqa: BLE001  (logged, and the settle check will tell)
                self.log(f'  {what}: undo failed: {e}')
            finally:
                # busy until undone: a step on the same target must not meet a half-done undo
                with self._lock:
                    self._busy.discard(key)
        timer = threading.Timer(hold, end)
        timer.daemon = True
        with self._lock:
            self._undo[key] = (timer, end)
        timer.start()
        return True

    def app_down(self, step):
        app = self.rig.app[step.target]

        def start():
            self.ledger.fault_started(step.target)
            app.crash()

        def undo():
            app.boot()
            self.ledger.fault_ended(step.target)
        return self._background(('app', step.target), start, undo, step.hold, app.name)

    def app_hang(self, step):
        app = self.rig.app[step.target]

        def start():
            self.ledger.fault_started(step.target)
            app.freeze()

        def undo():
            app.thaw()
            self.ledger.fault_ended(step.target)
        return self._background(('app', step.target), start, undo, step.hold, app.name)

    def watcher_kill(self, step):
        n = step.target
        return self._background(('watcher', n), lambda: self.watchers.kill(n),
                                lambda: self.watchers.start(n), step.hold, f'the watcher on node{n}')

    def password(self, step):
        primary = self.primary()
        if not primary:
            self.log('  skipped: no primary')
            return False
        password = f'chaos-{step.index}'
        primary.psql(f"ALTER ROLE {rig.APP_USER} PASSWORD '{password}'", db='postgres',
                     host=primary.public_addr)
        self.credentials.change(password)
        self.ledger.credentials_changed()
        return True

    def database(self, step):
        primary = self.primary()
        if not primary:
            self.log('  skipped: no primary')
            return False
        name = f'chaos_{step.index}'
        primary.psql(f'CREATE DATABASE {name} OWNER {rig.APP_USER}', db='postgres', host=primary.public_addr)
        self._databases.append(name)
        if len(self._databases) > 2:
            primary.psql(f'DROP DATABASE IF EXISTS {self._databases.pop(0)} WITH (FORCE)', db='postgres',
                         host=primary.public_addr)
        return True

    def undo_all(self):
        """End every background fault still under way, now."""
        with self._lock:
            pending = list(self._undo.values())
        for timer, end in pending:
            timer.cancel()
            end()
