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

exec bash "$(dirname "$0")/../deploy/apt_install.sh" bench "${packages[@]}"
