#!/usr/bin/env bash
# FerretDB, the MongoDB wire-protocol server the MongoDB store is tested on, built from the Go
# module proxy into ~/.cache/ordersys/bin/ferretdb (outside the clone, so later runs reuse it).
#
# `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2` builds, but the binary panics
# at start: the module as published has an empty build/version/version.txt, which a build of
# FerretDB's own main module must fill (FerretDB's docs: `bin/task gen-version`, or write it by
# hand). So this takes the same module from the proxy, fills that file with the tag, and builds
# its `cmd/ferretdb` with the module's own go.sum.
set -euo pipefail
VERSION=v1.24.2
BIN_DIR="${ORDERSYS_CACHE:-$HOME/.cache/ordersys}/bin"
BIN="$BIN_DIR/ferretdb"
if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -qx "version: $VERSION"; then
  echo "$BIN ($VERSION, cached)"
  exit 0
fi
mkdir -p "$BIN_DIR"
src="$(go mod download -json "github.com/FerretDB/FerretDB@$VERSION" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$src" "$work/ferretdb"
chmod -R u+w "$work/ferretdb"
echo "$VERSION" >"$work/ferretdb/build/version/version.txt"
(cd "$work/ferretdb" && GOFLAGS=-mod=readonly go build -trimpath -o "$BIN.new" ./cmd/ferretdb)
"$BIN.new" --version >/dev/null
mv "$BIN.new" "$BIN"
echo "$BIN ($VERSION, built)"
