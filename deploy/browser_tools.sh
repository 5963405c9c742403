#!/usr/bin/env bash
# Debian's Chromium for the browser tests (tests/browser/), installed only when missing: Playwright
# drives this binary, never a browser build of its own (`playwright install` downloads one, which
# CI's machines cannot fetch). Where it cannot be installed the browser tests skip, saying why, and
# the rest of `make test` still runs.
set -uo pipefail

CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "browser tests: $CHROMIUM is missing and only root can install it (apt-get install -y chromium); they will skip" >&2
  exit 0
fi
echo "browser tests: installing chromium from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
# Recommends would add a desktop's worth of packages; a headless browser needs the binary and a font.
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; }; then
  echo "browser tests: installing chromium failed; they will skip" >&2
fi
exit 0
