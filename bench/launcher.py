#!/usr/bin/python3
"""Start a set of commands all at once and time them (pgdeploy benchmark helper).

Runs inside the rig's DB host namespace as postgres (run.py copies it into the
rig and starts it there), so that what is timed is only the commands
themselves: no nsenter, setpriv or Python start-up is inside the measured wall
time, and the agent and OpenSSH are measured the same way.

    launcher.py SPEC.json          -> JSON result on stdout

SPEC: {"timeout": seconds, "jobs": [{"argv": [...], "stdin": path|null,
       "stdout": path, "stderr": path}], "env": {...}}
Result: {"wall": s, "timed_out": bool, "jobs": [{"rc", "seconds", "user", "sys",
         "maxrss_kb", "stdout", "stderr"}]}

Every job is started with posix_spawnp (vfork: a few hundred microseconds each),
then every child is reaped with wait4, which also gives its CPU time and peak
RSS. The wall time runs from just before the first spawn to the last exit.
"""

import json
import os
import signal
import sys
import time

MAX_CAPTURE = 1 << 20


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    env = spec.get('env') or dict(os.environ)
    jobs = spec['jobs']
    results = [None] * len(jobs)
    pids = {}
    timed_out = False

    def on_alarm(_signum, _frame):
        nonlocal timed_out
        timed_out = True
        for pid in list(pids):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGALRM, on_alarm)
    actions = []
    for job in jobs:
        actions.append([
            (os.POSIX_SPAWN_OPEN, 0, job.get('stdin') or '/dev/null', os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, job['stdout'], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
            (os.POSIX_SPAWN_OPEN, 2, job['stderr'], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
        ])
    signal.setitimer(signal.ITIMER_REAL, float(spec.get('timeout', 120)))
    start = time.monotonic()
    for i, job in enumerate(jobs):
        pid = os.posix_spawnp(job['argv'][0], job['argv'], env, file_actions=actions[i])
        pids[pid] = (i, time.monotonic())
    while pids:
        pid, status, ru = os.wait4(-1, 0)
        end = time.monotonic()
        if pid not in pids:
            continue
        i, started = pids.pop(pid)
        results[i] = {'rc': os.waitstatus_to_exitcode(status), 'seconds': end - started,
                      'end': end - start, 'user': ru.ru_utime, 'sys': ru.ru_stime,
                      'maxrss_kb': ru.ru_maxrss}
    wall = time.monotonic() - start
    signal.setitimer(signal.ITIMER_REAL, 0)
    for i, job in enumerate(jobs):
        for key in ('stdout', 'stderr'):
            try:
                with open(job[key], errors='replace') as f:
                    results[i][key] = f.read(MAX_CAPTURE)
            except OSError as e:
                results[i][key] = f'(cannot read {job[key]}: {e})'
    json.dump({'wall': wall, 'timed_out': timed_out, 'jobs': results}, sys.stdout)


if __name__ == '__main__':
    main()
