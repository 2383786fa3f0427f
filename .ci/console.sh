#!/usr/bin/env bash
# The auditor console's front end: its npm packages (typescript, playwright-core), a rebuild
# that must leave the committed scripts unchanged (the Rust build embeds them and needs no Node),
# and the unit tests of what the browser verifies.
set -euo pipefail
cd "$(dirname "$0")/../crates/txlog-service/console"

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
rm -rf dist
npm run --silent build
if ! git diff --exit-code --stat -- dist || [ -n "$(git status --porcelain -- dist)" ]; then
  echo "console/dist is not the build of console/src: run 'npm run build --prefix crates/txlog-service/console' and commit dist/" >&2
  exit 1
fi
node --test test/
