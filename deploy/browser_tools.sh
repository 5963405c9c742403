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
# Recommends would add a desktop's worth of packages; a headless browser needs the binary and a font.
if ! bash "$(dirname "$0")/apt_install.sh" "browser tests" chromium fonts-dejavu-core; then
  echo "browser tests: chromium could not be installed; they will skip" >&2
fi
exit 0
