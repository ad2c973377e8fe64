#!/usr/bin/env bash
# Builds weir in release mode and runs the benchmarks in benches/, printing their figures.
# Usage: bash scripts/bench.sh [ROWS] [FACT_ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
cargo build --release --bin weir --bin bench-pgwire --bin bench-views
"$CARGO_TARGET_DIR/release/bench-pgwire" "$CARGO_TARGET_DIR/release/weir" "${1:-100000}"
"$CARGO_TARGET_DIR/release/bench-views" "$CARGO_TARGET_DIR/release/weir" "${2:-1000000}"
