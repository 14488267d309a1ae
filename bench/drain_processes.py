#!/usr/bin/python3
"""A drain (--sessions drain) on an app server with two PgBouncer processes, each holding a
session inside an open transaction, so that each PAUSE waits out --pause-timeout (4 s): the
agent's wall time, from tests/integration/test_several_pgbouncers.py's DrainOnSeveralPgBouncersTest
set-up. As root, in a private network namespace (the rig uses fixed 127.0.1.x addresses):

    unshare --net -- bash -c 'ip link set lo up && PGDEPLOY=build/pgdeploy python3 bench/drain_processes.py'
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'integration'))
import test_several_pgbouncers  # noqa: E402

case = test_several_pgbouncers.DrainOnSeveralPgBouncersTest
case.setUpClass()
try:
    print(f'drain with two processes: {case.deploy.elapsed:.2f} s (pause {case.PAUSE} s, exit {case.deploy.rc})')
finally:
    case.tearDownClass()
