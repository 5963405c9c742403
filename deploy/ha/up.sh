#!/usr/bin/env bash
# `make ha-up`: a pg_auto_failover formation on this machine, on free local ports under one run
# directory: a monitor, a primary and a synchronous standby (README, "High availability").
#
#   HA_DIR      run directory (default /tmp/ledger-ha); ha.env in it says where everything is
#   HA_DBNAME   the service's database, created on the primary (default ledger_ha)
#
# pg_autoctl refuses to run as root, and PostgreSQL too: everything runs as the `postgres` user
# (the owner of Debian's server), each node under its own `pg_autoctl run` supervisor, which
# restarts its postmaster and reports to the monitor. The machine's own PostgreSQL (5432) is
# never touched: the nodes take free ports on 127.0.0.1 only.
set -euo pipefail

HA_DIR=${HA_DIR:-/tmp/ledger-ha}
HA_DBNAME=${HA_DBNAME:-ledger_ha}
HA_USER=${HA_USER:-postgres}
here=$(cd "$(dirname "$0")" && pwd)

if [ -e "$HA_DIR/ha.env" ]; then
  echo "ha: $HA_DIR/ha.env exists: a formation is already up (make ha-down removes it)" >&2
  exit 1
fi
major=$(ls /usr/lib/postgresql | sort -n | tail -1)
# The server's binaries first; the owner reads none of root's own directories.
export PATH="/usr/lib/postgresql/$major/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"

if [ "$(id -u)" -ne 0 ]; then
  echo "ha: run as root: the nodes run as the $HA_USER user, which owns Debian's PostgreSQL" >&2
  exit 2
fi
as_owner() { runuser -u "$HA_USER" -- env PATH="$PATH" HOME="$HA_DIR" "$@"; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

mkdir -p "$HA_DIR"
chown "$HA_USER" "$HA_DIR" 2>/dev/null || true
chmod 700 "$HA_DIR"
monitor_port=$(free_port)
node1_port=$(free_port)
node2_port=$(free_port)
while [ "$node2_port" = "$node1_port" ] || [ "$node2_port" = "$monitor_port" ]; do node2_port=$(free_port); done
monitor_uri="postgres://autoctl_node@127.0.0.1:$monitor_port/pg_auto_failover?sslmode=disable"

# Local and loopback only, so trust: the nodes reach each other and the monitor over 127.0.0.1.
# A real deployment uses --auth scram-sha-256 with a password file and --ssl-self-signed or
# certificates (docker-compose.yml's ha profile shows the options).
start() { # name, then the create arguments; the supervisor logs to <name>.log
  local name=$1
  shift
  # A session of its own (setsid, which keeps the pid as it is no group leader): make ha-down ends
  # the supervisor and every child by that process group's id, recorded in <name>.pid.
  setsid runuser -u "$HA_USER" -- env PATH="$PATH" HOME="$HA_DIR" pg_autoctl "$@" --run \
    >"$HA_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$HA_DIR/$name.pid"
}

wait_for() { # seconds, description, command...
  local seconds=$1 what=$2
  shift 2
  for _ in $(seq "$((seconds * 2))"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "ha: $what did not happen within ${seconds}s; see $HA_DIR/*.log" >&2
  exit 1
}

state_is() { # node name, state: as the monitor last heard it from the node
  [ "$(psql -h 127.0.0.1 -p "$monitor_port" -U autoctl_node -d pg_auto_failover -Atc \
    "select reportedstate from pgautofailover.node where nodename = '$1'")" = "$2" ]
}

echo "ha: monitor on 127.0.0.1:$monitor_port"
start monitor create monitor --pgdata "$HA_DIR/monitor" --pgport "$monitor_port" \
  --hostname 127.0.0.1 --listen 127.0.0.1 --auth trust --no-ssl
wait_for 60 "the monitor answering" pg_isready -q -h 127.0.0.1 -p "$monitor_port" -d pg_auto_failover
wait_for 60 "the monitor's extension" psql -h 127.0.0.1 -p "$monitor_port" -U autoctl_node -d pg_auto_failover -Atc 'select 1 from pgautofailover.formation'
# How soon the monitor gives up on a node: pg_auto_failover's defaults (a health check every 5 s,
# unhealthy after 20 s without a report) took 50 s from a primary's loss to its standby's
# promotion under the HA check's load. Here a check every second and unhealthy after 5 s: on
# loopback nothing but a dead node misses that; across a real network, raise these before a
# busy link causes a failover nobody needed.
as_owner psql -q -h 127.0.0.1 -p "$monitor_port" -d pg_auto_failover <<'SQL'
ALTER SYSTEM SET pgautofailover.health_check_period = 1000;
ALTER SYSTEM SET pgautofailover.health_check_timeout = 1000;
ALTER SYSTEM SET pgautofailover.health_check_max_retries = 1;
ALTER SYSTEM SET pgautofailover.health_check_retry_delay = 500;
ALTER SYSTEM SET pgautofailover.node_considered_unhealthy_timeout = 5000;
-- After the primary is unhealthy, the monitor waits this long before promoting the standby, so that
-- an old primary cut off from the monitor (not dead) has demoted itself first: each keeper's
-- network_partition_timeout (5 s below) is shorter. Default 30 s.
ALTER SYSTEM SET pgautofailover.primary_demote_timeout = 10000;
SELECT pg_reload_conf();
SQL

# node1 first, so it becomes the primary; node2 then clones it with pg_basebackup and joins as
# the standby. With one standby in the replication quorum, the monitor sets
# synchronous_standby_names = 'ANY 1 (...)' on the primary: a commit is acknowledged only once
# the standby has flushed it (synchronous_commit = on).
for node in node1 node2; do
  port_var=${node}_port
  echo "ha: $node on 127.0.0.1:${!port_var}"
  start "$node" create postgres --pgdata "$HA_DIR/$node" --pgport "${!port_var}" --name "$node" \
    --hostname 127.0.0.1 --listen 127.0.0.1 --dbname "$HA_DBNAME" --monitor "$monitor_uri" \
    --auth trust --no-ssl --replication-quorum true --candidate-priority 50
  if [ "$node" = node1 ]; then
    wait_for 120 "node1 becoming the single primary" state_is node1 single
  fi
done
# node2's pg_basebackup waits for a checkpoint, spread over minutes by default: ask node1 for an
# immediate one once the clone has begun (it is what pg_basebackup --checkpoint=fast would do).
goal_is() {
  [ "$(psql -h 127.0.0.1 -p "$monitor_port" -U autoctl_node -d pg_auto_failover -Atc \
    "select goalstate from pgautofailover.node where nodename = '$1'")" = "$2" ]
}
wait_for 120 "node2 starting its clone" goal_is node2 catchingup
sleep 2
psql -q -h 127.0.0.1 -p "$node1_port" -U "$HA_USER" -d postgres -c CHECKPOINT
wait_for 180 "node2 becoming the secondary" state_is node2 secondary
# A primary that can reach neither the monitor nor its standby demotes itself after this many
# seconds (default 20), shorter than the monitor's primary_demote_timeout above.
for node in node1 node2; do
  as_owner pg_autoctl config set --pgdata "$HA_DIR/$node" timeout.network_partition_timeout 5 >/dev/null
  as_owner pg_autoctl reload --pgdata "$HA_DIR/$node"
done
wait_for 60 "node1 becoming the primary" state_is node1 primary
sync_names() { [ -n "$(psql -h 127.0.0.1 -p "$node1_port" -U "$HA_USER" -d "$HA_DBNAME" -Atc 'show synchronous_standby_names')" ]; }
wait_for 60 "synchronous replication on the primary" sync_names

uri=$(as_owner pg_autoctl show uri --pgdata "$HA_DIR/monitor" --formation default)
cat >"$HA_DIR/ha.env" <<ENV
HA_DIR=$HA_DIR
HA_MONITOR_PORT=$monitor_port
HA_NODE1_PORT=$node1_port
HA_NODE2_PORT=$node2_port
HA_MONITOR_URI='$monitor_uri'
# Quoted, so that a shell can source it (the URIs hold &). The service's DATABASE_URL: both nodes, libpq picks the one that accepts writes.
DATABASE_URL='postgres://$HA_USER@127.0.0.1:$node1_port,127.0.0.1:$node2_port/$HA_DBNAME?target_session_attrs=read-write&connect_timeout=2'
# pg_auto_failover's own formation URI (the same hosts, as libpq's multi-host URI).
HA_FORMATION_URI='$uri'
ENV
chmod 644 "$HA_DIR/ha.env"
as_owner pg_autoctl show state --pgdata "$HA_DIR/monitor"
echo "ha: up; the service's settings are in $HA_DIR/ha.env:"
grep '^DATABASE_URL' "$HA_DIR/ha.env"
