#!/usr/bin/env bash
# litewitness and witnessctl, a real C2SP tlog-witness (filippo.io/torchwood) the transaction
# log's witness tests run against, built from the Go module proxy into ~/.cache/ordersys/bin
# (outside the clone, so later runs reuse them).
#
# The build is skipped when both binaries are there and were built from this version: it is
# kept next to them in litewitness.version.
set -euo pipefail
# litewitness keeps its key in an ssh-agent; the tests make keys with ssh-keygen and load them with
# ssh-add (Debian's openssh-client).
if ! command -v ssh-agent >/dev/null || ! command -v ssh-keygen >/dev/null || ! command -v ssh-add >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-client >/dev/null
fi
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
