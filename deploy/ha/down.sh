#!/usr/bin/env bash
# `make ha-down`: stop the formation of `make ha-up` (deploy/ha/up.sh) and remove its run directory.
set -euo pipefail

HA_DIR=${HA_DIR:-/tmp/ledger-ha}
HA_USER=${HA_USER:-postgres}
[ -d "$HA_DIR" ] || exit 0
major=$(ls /usr/lib/postgresql | sort -n | tail -1)
# The server's binaries first; the owner reads none of root's own directories.
export PATH="/usr/lib/postgresql/$major/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"

as_owner() { runuser -u "$HA_USER" -- env PATH="$PATH" HOME="$HA_DIR" "$@"; }

# The data nodes before the monitor, so that none of them is failed over while going.
for name in node2 node1 monitor; do
  [ -d "$HA_DIR/$name" ] && as_owner pg_autoctl stop --pgdata "$HA_DIR/$name" --fast 2>/dev/null || true
done
# Whatever did not stop by itself (a supervisor whose postmaster was killed): its whole process
# group (up.sh started each supervisor in a session of its own), then a postmaster left over.
for name in node2 node1 monitor; do
  if [ -f "$HA_DIR/$name.pid" ]; then
    pgid=$(cat "$HA_DIR/$name.pid")
    kill -TERM -- "-$pgid" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$pgid" 2>/dev/null || true
  fi
  if [ -f "$HA_DIR/$name/postmaster.pid" ]; then
    kill -KILL "$(head -1 "$HA_DIR/$name/postmaster.pid")" 2>/dev/null || true
  fi
done
rm -rf "$HA_DIR"
echo "ha: down ($HA_DIR removed)"
