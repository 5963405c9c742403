#!/usr/bin/env bash
# Install Debian packages for one of the project's tools: deploy/apt_install.sh WHO PACKAGE...
# Shared by deploy/tools.sh (nginx), deploy/browser_tools.sh (chromium), deploy/ha/tools.sh
# (pg_auto_failover) and bench/tools.sh (wrk, pgbench); each decides what is missing first.
# Exit 2 when not root. Installing never starts or restarts a service: the packages would start a
# system-wide nginx on port 80, or touch the machine's own PostgreSQL, and the project runs its
# own; a policy-rc.d that answers "not now" (101) keeps every package script from doing so.
set -euo pipefail

who=$1
shift
if [ "$(id -u)" -ne 0 ]; then
  echo "$who: missing $*; install as root: apt-get install -y $*" >&2
  exit 2
fi
echo "$who: installing $* from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "$@" >/dev/null
