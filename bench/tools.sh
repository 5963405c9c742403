#!/usr/bin/env bash
# The benchmark's tools from Debian's packages, installed only when missing (CI starts from a
# fresh machine): wrk, the HTTP load generator, and pgbench, which Debian ships with the server
# (postgresql-<major>; /usr/bin/pgbench alone is only a wrapper that needs it).
set -euo pipefail

packages=()
command -v wrk >/dev/null 2>&1 || packages+=(wrk)
if ! pgbench --version >/dev/null 2>&1; then
  major=$(psql -h 127.0.0.1 -Atc 'SHOW server_version_num' postgres 2>/dev/null | cut -c1-2 || true)
  packages+=("postgresql-${major:-15}")
fi
[ ${#packages[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "bench: missing ${packages[*]}; install them as root: apt-get install -y ${packages[*]}" >&2
  exit 2
fi
echo "bench: installing ${packages[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
