#!/bin/bash
# pgdeploy demo: a throwaway PostgreSQL 15 + repmgr cluster and three app servers
# running sshd + PgBouncer, all on this machine (loopback addresses, private mount
# namespaces; see tests/rig/rig.py). pgdeploy points every PgBouncer at the primary;
# then node1 dies, repmgr promotes node2 and runs pgdeploy itself, and every
# PgBouncer follows. Everything is torn down at the end (or on Ctrl-C).
#
# usage: sudo demo/run.sh [/path/to/pgdeploy]      (or set PGDEPLOY)
set -euo pipefail

PGDEPLOY=${1:-${PGDEPLOY:-}}
HERE=$(cd "$(dirname "$0")" && pwd)
RIG=(/usr/bin/python3 "$HERE/../tests/rig/rig.py")
CLUSTER=main
DIR=/var/lib/pgdeploy-rig/demo-$$

die() { echo "demo: $*" >&2; exit 2; }
if [ -t 1 ]; then B=$(printf "\033[1m"); N=$(printf "\033[0m"); else B=; N=; fi
step() { printf "\n%s== %s%s\n" "$B" "$*" "$N"; }
rig() { "${RIG[@]}" "$1" --dir "$DIR" "${@:2}"; }

[ -n "$PGDEPLOY" ] || die "usage: $0 /path/to/pgdeploy (or set PGDEPLOY)"
[ -x "$PGDEPLOY" ] || die "$PGDEPLOY is not an executable file"
[ "$(id -u)" = 0 ] || die "run as root (the rig uses namespaces, sshd and runuser)"
PGDEPLOY=$(readlink -f "$PGDEPLOY")

trap 'step "Tearing down"; "${RIG[@]}" down --dir "$DIR" || true' EXIT

step "Starting a cluster (node1 primary :5441, node2 standby :5442) and 3 app servers"
# The rig fills postgres' ~/.ssh/known_hosts with the app servers' host keys, as setup step 6
# (docs/setup.md) has an operator do: pgdeploy refuses unknown host keys.
"${RIG[@]}" up --dir "$DIR" --app-servers 3 --cluster "$CLUSTER" --agent "$PGDEPLOY" --notify --admin-console --verify >/dev/null
rig status
echo
echo "repmgr runs pgdeploy on every event, as the seed README configures it (node2 shown):"
grep '^event_notification_command' "$DIR/dbhost/node2/repmgr.conf" | sed 's/^/  /'
echo "app servers in repmgr.app_servers:"
rig psql 1 "SELECT name || '  ' || ip_addr || '  user ' || username FROM repmgr.app_servers ORDER BY id" | sed 's/^/  /'

step "Before pgdeploy: the PgBouncers have no databases"
rig reach || true

step "Running: pgdeploy -c $CLUSTER -p 'host=127.0.0.1 port=5441 user=repmgr dbname=repmgr'"
rc=0
rig agent -- -c "$CLUSTER" -p "host=127.0.0.1 port=5441 user=repmgr dbname=repmgr" || rc=$?
echo "(exit code $rc)"
echo
echo "/etc/pgbouncer/databases/$CLUSTER.ini on app1 now reads:"
sed 's/^/  /' "$DIR/app1/etc-pgbouncer/databases/$CLUSTER.ini"

step "Where each PgBouncer leads (psql through 127.0.1.i:6432 as user app)"
rig reach --expect-node 1 --timeout 10 || echo "  (not every PgBouncer reaches node1!)"

step "Failover: kill -9 node1, then 'repmgr standby promote' on node2"
rig kill-node 1
echo "node1 is gone. Promoting node2; repmgr fires pgdeploy for the standby_promote event:"
rig promote 2 2>&1 | sed 's/^/  | /'
echo
echo "repmgr's event log on node2:"
rig psql 2 "SELECT event || '  successful=' || successful FROM repmgr.events WHERE node_id = 2 ORDER BY event_timestamp" | sed 's/^/  /'

step "Where each PgBouncer leads now"
if rig reach --expect-node 2 --timeout 30; then
    echo "every PgBouncer reaches node2, the new primary"
else
    echo "NOT every PgBouncer reaches node2 within 30 s"
    exit 1
fi
