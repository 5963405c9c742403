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

if [ "$(id -u)" -ne 0 ]; then
  echo "ha: missing ${packages[*]}; install them as root: apt-get install -y ${packages[*]}" >&2
  exit 2
fi
echo "ha: installing ${packages[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
# Installing must never start or restart the machine's own PostgreSQL (5432): a policy-rc.d that
# answers "not now" (101) keeps any package script from touching services.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
