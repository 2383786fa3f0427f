#!/usr/bin/env bash
# litewitness and witnessctl, a real C2SP tlog-witness (filippo.io/torchwood) the transaction
# log's witness tests run against, built from the Go module proxy into ~/.cache/ordersys/bin
# (outside the clone, so later runs reuse them).
#
# The build is skipped when both binaries are there and were built from this version: it is
# kept next to them in litewitness.version.
set -euo pipefail
VERSION=v0.6.1
BIN_DIR="${ORDERSYS_CACHE:-$HOME/.cache/ordersys}/bin"
STAMP="$BIN_DIR/litewitness.version"
if [ -x "$BIN_DIR/litewitness" ] && [ -x "$BIN_DIR/witnessctl" ] &&
  [ "$(cat "$STAMP" 2>/dev/null)" = "$VERSION" ]; then
  echo "$BIN_DIR/litewitness, $BIN_DIR/witnessctl ($VERSION, cached)"
  exit 0
fi
mkdir -p "$BIN_DIR"
GOBIN="$BIN_DIR" go install -trimpath \
  "filippo.io/torchwood/cmd/litewitness@$VERSION" \
  "filippo.io/torchwood/cmd/witnessctl@$VERSION"
echo "$VERSION" >"$STAMP"
echo "$BIN_DIR/litewitness, $BIN_DIR/witnessctl ($VERSION, built)"
