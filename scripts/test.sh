#!/usr/bin/env bash
# Sets up what is missing and runs every check and test weir has: formatting, lints,
# unit tests, and end-to-end tests against the real weir binary (sqllogictest files in
# sql/, psql, drivers, Kafka against a real broker, restarts, 1,000 cases of the
# materialized-view oracle, and 2,000 expressions compared with a private PostgreSQL). Everything is built with `--release`, the profile
# `scripts/run.sh` builds, so the dependencies are compiled once for both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --tests
source scripts/env.sh

# Each phase's heading says how long the command has run so far (the README's table of
# times is read from these).
phase() {
    echo "== $1 (at ${SECONDS} s)"
}

# Every change leaves new test executables (tens of MB each) in the shared build cache;
# keep only the newest two of each name (a binary and its own unit tests share a name),
# so that repeated runs do not fill the disk.
deps="$CARGO_TARGET_DIR/release/deps"
if [ -d "$deps" ]; then
    find "$deps" -maxdepth 1 -type f -executable ! -name '*.*' -printf '%T@ %f\n' |
        sort -rn |
        awk '{ name = $2; sub(/-[0-9a-f]+$/, "", name); if (seen[name]++ >= 2) print $2 }' |
        while read -r stale; do rm -f "$deps/$stale"; done
fi

phase "one build of the dependencies for the server and the tests"
python3 scripts/check-shared-build.py
phase "cargo fmt --check"
cargo fmt --all -- --check
phase "cargo clippy"
cargo clippy --release --workspace --all-targets --quiet -- -D warnings
phase "cargo test"
# Every test binary runs even when one fails, so that one run shows every failure.
cargo test --release --workspace --quiet --no-fail-fast
phase "driver tests (psycopg)"
WEIR_BIN="$CARGO_TARGET_DIR/release/weir" python3 tests/drivers/psycopg_test.py
phase "done"
