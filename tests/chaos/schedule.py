"""The fault schedule of a chaos soak: a pure function of the seed.

schedule(seed) yields Steps without end; the soak (soak.py) takes them in order until its
time is up. The same seed gives the same steps, in the same order, with the same targets,
holds and gaps, on any machine: that is what makes a failing run replayable. What a step
meets when it runs (which node is the primary by then, whether the app server it names is
still down from an earlier step) depends on timing, so two runs of one seed execute the same
sequence but are not bit-identical.

Two sorts of step:
* episodes change the primary or cut the cluster, and the soak waits for them to end (and
  for the cluster to be one primary and streaming standbys again) before the next step:
  kill_primary (kill -9, repmgrd fails over; `stale` > 0: the old primary is then restarted
  writable for that many seconds before it is cloned back), switchover (a clean stop and a
  promotion by hand), partition (a node, the primary or a standby, cut off the cluster
  network for `hold` seconds);
* background faults start and end by themselves `hold` seconds later, so they overlap the
  steps that follow: app_down (the host's processes SIGKILLed, then started), app_hang
  (SIGSTOP, then SIGCONT), watcher_kill (kill -9 of a node's `pgdeploy watch`, restarted
  later), password (the application role's password changed), database (a database created,
  an older one dropped).
"""

import collections
import random

EPISODES = ('kill_primary', 'switchover', 'partition')
BACKGROUND = ('app_down', 'app_hang', 'watcher_kill', 'password', 'database')
KINDS = EPISODES + BACKGROUND

# Relative frequency of each kind: episodes are the point, and cost the most time.
WEIGHTS = {'kill_primary': 4, 'switchover': 2, 'partition': 3,
           'app_down': 3, 'app_hang': 3, 'watcher_kill': 3, 'password': 1, 'database': 2}

# Bounds of the random parameters, seconds.
HOLD = {'partition': (5.0, 12.0), 'app_down': (2.0, 10.0), 'app_hang': (2.0, 10.0),
        'watcher_kill': (1.0, 6.0)}
STALE = (2.0, 8.0)          # how long a killed old primary runs writable before it is cloned back
STALE_CHANCE = 0.5
GAP = (0.5, 4.0)            # pause after a step before the next

Step = collections.namedtuple('Step', 'index kind target hold stale gap')
Step.__doc__ = """One fault. target: an app server number (app_*), a node number (watcher_kill),
'primary' or 'standby' (partition), None otherwise. hold: seconds the fault lasts (background
faults, partition; 0 otherwise). stale: seconds the killed old primary runs writable
(kill_primary; 0: it is cloned back without running). gap: seconds before the next step."""


def schedule(seed, app_servers=3, nodes=2):
    """Steps for this seed, without end (a generator): every kind once in a seeded order, then
    kinds drawn by WEIGHTS. Depends on nothing but its arguments."""
    if app_servers < 1 or nodes < 2:
        raise ValueError('a soak needs at least one app server and two nodes')
    rng = random.Random(f'pgdeploy-chaos:{seed}')   # a string seed hashes the same everywhere
    kinds = list(KINDS)
    weights = [WEIGHTS[k] for k in kinds]
    # Every kind once first, in a seeded order, so that even a short run meets each of them.
    first = rng.sample(kinds, len(kinds))
    index = 0
    while True:
        kind = first[index] if index < len(first) else rng.choices(kinds, weights)[0]
        target, hold, stale = None, 0.0, 0.0
        if kind in ('app_down', 'app_hang'):
            target = rng.randint(1, app_servers)
        elif kind == 'watcher_kill':
            target = rng.randint(1, nodes)
        elif kind == 'partition':
            target = rng.choice(('primary', 'primary', 'standby'))
        if kind in HOLD:
            hold = round(rng.uniform(*HOLD[kind]), 1)
        if kind == 'kill_primary' and rng.random() < STALE_CHANCE:
            stale = round(rng.uniform(*STALE), 1)
        yield Step(index, kind, target, hold, stale, round(rng.uniform(*GAP), 1))
        index += 1


def take(seed, count, **shape):
    """The first `count` steps of schedule(seed, **shape), as a list."""
    steps = schedule(seed, **shape)
    return [next(steps) for _ in range(count)]


def describe(step):
    """One line for the event log."""
    words = [f'#{step.index}', step.kind]
    if step.target is not None:
        words.append(f'app{step.target}' if step.kind.startswith('app_')
                     else f'node{step.target}' if step.kind == 'watcher_kill' else str(step.target))
    if step.hold:
        words.append(f'for {step.hold}s')
    if step.stale:
        words.append(f'(old primary writable {step.stale}s)')
    return ' '.join(words)
