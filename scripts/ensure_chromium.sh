#!/usr/bin/env bash
# Install Debian's Chromium for the UI browser test (tests/integration/test_ui.py) if it is missing.
#
# The test drives /usr/bin/chromium with Playwright; Playwright's own browser download
# (`playwright install`) is not used, so the browser comes from the distribution's packages.
# Needs root and apt (CI runs `make test` as root on a fresh Debian machine).
set -euo pipefail

CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure_chromium: $CHROMIUM is missing; install Debian's 'chromium' package (needs root and apt-get)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends chromium
"$CHROMIUM" --version
