#!/usr/bin/env bash
# Runs the benchmarks (release) and rewrites docs/performance.md with the
# measured numbers next to their targets. `just bench` runs this.
set -euo pipefail
cd "$(dirname "$0")/.."

out=target/bench-output
mkdir -p "$out"
cargo bench -p clambot --bench runs --bench gate_decision --bench http_fetch --bench tool_call 2>&1 | tee "$out/criterion.txt"
cargo bench -p clambot --bench load 2>&1 | tee "$out/load.txt"
# Saved clams from bytecode against the same scripts from source.
cargo bench -p clambot --bench clam_start 2>&1 | tee "$out/clam_start.txt"
# The side-by-side workloads in-process (compare.py reads compare_inprocess.json).
cargo bench -p clambot --bench compare 2>&1 | tee "$out/compare_inprocess.txt"

# A whole `clambot run` process with a warm precompiled-component cache.
cargo build --release -p clambot
export CLAMBOT_HOME="$PWD/target/bench-home"
./target/release/clambot run clams/hello/clam.js >/dev/null 2>&1   # warms the cache
if command -v hyperfine >/dev/null; then
  hyperfine --warmup 5 --runs 50 --export-json "$out/process.json" \
    './target/release/clambot run clams/hello/clam.js' >/dev/null
else
  echo "hyperfine is not installed (apt-get install hyperfine); skipping the whole-process timing" >&2
  rm -f "$out/process.json"
fi

# Side by side with node and amla-sandbox (scripts/compare.py), when present.
if [ -f scripts/compare.py ]; then
  python3 scripts/compare.py || echo "the comparison harness failed; its section is left out" >&2
fi

python3 scripts/performance_report.py "$out" > docs/performance.md
echo "wrote docs/performance.md"
