#!/usr/bin/env bash
# The reverse proxy from Debian's packages, installed only when missing (CI starts from a fresh
# machine): `make run` puts nginx in front of gunicorn and `make test` drives it in tests/faults.
set -euo pipefail

if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "proxy: nginx is missing; install it as root: apt-get install -y nginx" >&2
  exit 2
fi
echo "proxy: installing nginx from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
# The package would start a system-wide nginx on port 80; the project runs its own, unprivileged.
# A policy-rc.d that answers "not now" (101) keeps the package from starting it.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends nginx >/dev/null
