#!/bin/sh
# Usage: scripts/reports.sh [--check]
# Regenerates reports/ with the default study (`cargo run --release`). With --check, fails
# when the committed reports differ from what the simulator now produces (the study is
# deterministic, so any difference is a change of results that must be committed on purpose).
set -eu
cd "$(dirname "$0")/.."
case "${1:-}" in
    "" | --check) ;;
    *) echo "usage: scripts/reports.sh [--check]" >&2; exit 2 ;;
esac
cargo run --release --quiet
if [ "${1:-}" = --check ]; then
    if ! git diff --quiet -- reports/ || [ -n "$(git ls-files --others --exclude-standard reports/)" ]; then
        git status --short reports/ >&2
        echo "reports/ differ from the committed ones" >&2
        exit 1
    fi
    echo "reports/ are as committed"
fi
