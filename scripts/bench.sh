#!/usr/bin/env bash
# Builds weir in release mode and runs the benchmarks in benches/, printing their figures.
# Usage: bash scripts/bench.sh [ROWS] [FACT_ROWS] [RECORDS]
#        bash scripts/bench.sh kafka [RECORDS]    (the Kafka benchmark alone)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --bench
source scripts/env.sh
cargo build --release --bin weir --bin bench-pgwire --bin bench-views --bin bench-kafka
release="$CARGO_TARGET_DIR/release"
if [ "${1:-}" = kafka ]; then
    exec "$release/bench-kafka" "$release/weir" "${2:-1000000}"
fi
"$release/bench-pgwire" "$release/weir" "${1:-100000}"
"$release/bench-views" "$release/weir" "${2:-1000000}"
"$release/bench-kafka" "$release/weir" "${3:-1000000}"
