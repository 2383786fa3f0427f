#!/usr/bin/env bash
# tlogcheck, the Go reference checker of the transaction log's Merkle tree, proofs and signed
# checkpoints (SPEC section 10; sources in tests/tlogcheck), built into
# ~/.cache/ordersys/bin/tlogcheck (outside the clone, so later runs reuse it).
#
# Modules come from the Go module proxy and must match the committed go.sum (-mod=readonly).
# The build is skipped when the binary was built from the same sources and Go version: their
# hash is kept next to it in tlogcheck.sha256.
set -euo pipefail
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/tlogcheck" && pwd)"
BIN_DIR="${ORDERSYS_CACHE:-$HOME/.cache/ordersys}/bin"
BIN="$BIN_DIR/tlogcheck"
key="$(
  cd "$SRC"
  go version
  find . -type f \( -name '*.go' ! -name '*_test.go' -o -name go.mod -o -name go.sum \) -print0 |
    LC_ALL=C sort -z | xargs -0 sha256sum
)"
key="$(sha256sum <<<"$key" | cut -d' ' -f1)"
if [ -x "$BIN" ] && [ "$(cat "$BIN.sha256" 2>/dev/null)" = "$key" ]; then
  echo "$BIN (cached)"
  exit 0
fi
mkdir -p "$BIN_DIR"
(cd "$SRC" && go build -mod=readonly -trimpath -buildvcs=false -o "$BIN.new" .)
mv "$BIN.new" "$BIN"
echo "$key" >"$BIN.sha256"
echo "$BIN (built)"
