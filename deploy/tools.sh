#!/usr/bin/env bash
# The reverse proxy from Debian's packages, installed only when missing (CI starts from a fresh
# machine): `make run` puts nginx in front of gunicorn and `make test` drives it in tests/faults.
set -euo pipefail

if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  exit 0
fi
exec bash "$(dirname "$0")/apt_install.sh" proxy nginx
