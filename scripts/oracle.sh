#!/usr/bin/env bash
# Runs the correctness oracle for as long as asked: CASES random cases from SEED.
# Usage: bash scripts/oracle.sh [CASES] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
WEIR_ORACLE_CASES="${1:-100000}" WEIR_ORACLE_SEED="${2:-1}" \
    cargo test --release --workspace --test oracle -- --nocapture
