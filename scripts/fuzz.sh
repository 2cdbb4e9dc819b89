#!/bin/sh
# Run the proptest-driven fuzz targets of tests/fuzz.rs with many cases (cargo-fuzz needs a
# nightly toolchain; these run on stable). Each target draws structure-aware and byte-level
# mutations of the shipped description files, model files and tokenizer, or random command
# lines, and fails on any panic, exit code other than 0 or 2, or unlocated error.
#
# usage: scripts/fuzz.sh [CASES] [TARGET]
#   CASES   cases per target (default 100000); PROPTEST_CASES if set wins
#   TARGET  one test name of tests/fuzz.rs (e.g. arch_descriptions); all when omitted
# example: scripts/fuzz.sh 20000 llama2c_files
set -eu
case "${1:-}" in -h|--help) sed -n '2,11p' "$0"; exit 0;; esac
cases="${PROPTEST_CASES:-${1:-100000}}"
target="${2:-}"
cd "$(dirname "$0")/.."
echo "fuzz: $cases cases per target${target:+ ($target)}" >&2
start=$(date +%s)
PROPTEST_CASES="$cases" CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}" \
    cargo test --release --test fuzz -- --test-threads=1 $target
echo "fuzz: done in $(( $(date +%s) - start )) s, no failure" >&2
