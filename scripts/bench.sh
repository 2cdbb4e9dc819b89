#!/bin/sh
# Usage: scripts/bench.sh [BENCH...]
# Runs the speed benchmarks (default: every one in benches/) and prints the lines that state a
# target and whether it was met. The host is shared: compare figures measured in one run.
# Benches: engine fit quant tokenizer (criterion); tsp wse sweep validate mapping accuracy run (one timed pass each).
set -eu
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
    set -- tsp wse mapping validate sweep accuracy run engine fit quant tokenizer
fi
for b in "$@"; do
    if [ ! -f "benches/$b.rs" ]; then
        echo "no bench \`$b\` (benches/$b.rs)" >&2
        exit 2
    fi
done
for b in "$@"; do
    echo "== cargo bench --bench $b"
    cargo bench --quiet --bench "$b" 2>&1 | grep -Ei "target|limit|met|missed|time:|s wall|cpu" || true
done
