#!/usr/bin/env bash
# Headless Chromium for the console's end-to-end tests: Debian's package (playwright-core drives
# it; a browser download by Playwright does not work here). Skipped when already installed.
set -euo pipefail

if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
/usr/bin/chromium --version
