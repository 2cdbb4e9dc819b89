#!/bin/sh
# Usage: scripts/validate.sh [--json] [--file FILE]
# Predicts every published deployment of workloads/validation.ron (or FILE) and prints each
# prediction's error, and for missed points what each estimated input would need to be.
set -eu
cd "$(dirname "$0")/.."
exec cargo run --release --quiet -- validate "$@"
