#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 30), starting from the committed corpus.
#   bash fuzz/run.sh 20          the short run in .ci/run
#   bash fuzz/run.sh 3600 keep   a long run that adds what it finds to fuzz/corpus
# A crash stops the run and leaves its input in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-30}"
keep="${2:-}"
# cargo-fuzz passes nightly-only flags (-Zsanitizer=address); this lets the stable
# toolchain, the only one the build machines have, accept them.
export RUSTC_BOOTSTRAP=1
target_dir="${FUZZ_TARGET_DIR:-$HOME/.cache/ordersys/fuzz-target}"
# cargo fuzz has no --locked: refuse a Cargo.lock that would need changing.
cargo metadata --locked --format-version 1 >/dev/null
cargo fuzz build --target-dir "$target_dir"
mkdir -p logs
for target in $(cargo fuzz list); do
  if [ "$keep" = keep ]; then corpora=("corpus/$target"); else corpora=("$(mktemp -d)" "corpus/$target"); fi
  log="logs/$target.log"
  if cargo fuzz run "$target" --target-dir "$target_dir" "${corpora[@]}" -- \
      -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048 -timeout=10 >"$log" 2>&1; then
    printf '%-18s %s\n' "$target" "$(grep -E '^#[0-9]+' "$log" | tail -1 | cut -c1-100)"
  else
    tail -n 60 "$log"
    echo "fuzz target $target failed; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
