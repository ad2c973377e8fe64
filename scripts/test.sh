#!/usr/bin/env bash
# Sets up what is missing and runs every check and test weir has: formatting, lints,
# unit tests, and end-to-end tests against the real weir binary (sqllogictest files in
# sql/, psql, drivers, restarts, and 1,000 cases of the materialized-view oracle).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --tests
source scripts/env.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo test"
cargo test --workspace --quiet
echo "== driver tests (psycopg)"
# `cargo test` built this binary for the end-to-end tests; building it alone would
# resolve different dependency features and compile DataFusion a second time.
WEIR_BIN="$CARGO_TARGET_DIR/debug/weir" python3 tests/drivers/psycopg_test.py
