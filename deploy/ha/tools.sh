#!/usr/bin/env bash
# pg_auto_failover from Debian's packages, installed only when missing (CI starts from a fresh
# machine): the failover manager of `make ha-up` (deploy/ha/up.sh). pg-auto-failover-cli ships
# pg_autoctl; postgresql-<major>-auto-failover the monitor's extension for the server's major.
set -euo pipefail

major=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
major=${major:-15}
packages=()
command -v pg_autoctl >/dev/null 2>&1 || packages+=(pg-auto-failover-cli)
[ -e "/usr/share/postgresql/${major}/extension/pgautofailover.control" ] || packages+=("postgresql-${major}-auto-failover")
[ ${#packages[@]} -eq 0 ] && exit 0

exec bash "$(dirname "$0")/../apt_install.sh" ha "${packages[@]}"
