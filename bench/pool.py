#!/usr/bin/python3
"""A cold one-shot deploy's wall time by the size of the agent's pool (`--parallel`), issue 26.

    /usr/bin/python3 bench/pool.py --agent build/pgdeploy --n 100 --parallel 4,8,16,32,64,100 --repeat 3

One rig of N app servers (bench/run.py's); each repetition runs a cold deploy with sudo (every
file changed first, untimed) once per pool size, in turn, so that the machine's load is shared
alike. Prints the median wall time, the agent's CPU and the slowest server per pool size.
"""

import argparse
import os
import shutil
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402


def main():
    p = argparse.ArgumentParser(description="a cold deploy's wall time by --parallel (see bench/README.md)")
    p.add_argument('--agent', default=os.path.join(run.REPO, 'build', 'pgdeploy'))
    p.add_argument('--n', type=int, default=100)
    p.add_argument('--parallel', default='4,8,16,32,64,100')
    p.add_argument('--repeat', type=int, default=3)
    p.add_argument('--admin', action='store_true', help='reload through the admin console, not sudo')
    args = p.parse_args()
    sizes = [int(x) for x in args.parallel.split(',') if x]
    run.enter_private_netns(script=os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(run.REPO, 'tests', 'rig'))
    import rig
    run.rig = rig
    snapshot = tempfile.mkdtemp(prefix='pgdeploy-pool-')
    agent = shutil.copy2(args.agent, os.path.join(snapshot, 'pgdeploy'))
    load0 = os.getloadavg()
    br = run.BenchRig(agent, args.n)
    res = {k: [] for k in sizes}
    try:
        br.up()
        br.setup_admin_console()
        br.enable(args.n)
        br.set_admin(args.admin)
        run.agent(br, args.n, 'updated')
        for rep in range(args.repeat):
            for k in sizes:
                br.alter_all(args.n)
                r = run.agent(br, args.n, 'updated', extra=['--parallel', str(k)])
                if r.get('lost') or r.get('error'):
                    run.log(f'--parallel {k}: {r.get("errors") or r.get("error")}')
                res[k].append(r)
            run.log(f'rep {rep + 1}: ' + ' '.join(f'{k}: {res[k][-1]["wall"]:.2f}s' for k in sizes))
    finally:
        br.down()
        shutil.rmtree(snapshot, ignore_errors=True)
    print(f'N = {args.n}, {"admin console" if args.admin else "sudo"}, medians of {args.repeat}; load average '
          f'{load0[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end\n')
    print('| --parallel | wall, s | agent CPU, s | slowest server, s |\n|---:|---:|---:|---:|')
    for k in sizes:
        med = lambda key: run.median([r.get(key) for r in res[k]])  # noqa: E731
        print(f'| {k} | {run.fmt(med("wall"))} | {run.fmt(med("wait4_cpu"), 3)} | {run.fmt(med("host_max"))} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
