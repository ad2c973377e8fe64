#!/usr/bin/env bash
# Runs the differential test against PostgreSQL for as many expressions as asked:
#   bash scripts/differential.sh [EXPRESSIONS] [SEED]
# (the test command runs 2,000 from seed 1). Set WEIR_DIFFERENTIAL_KNOWN=1 to include
# the templates known to differ. A difference prints its seed and a reproducer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --tests
source scripts/env.sh
WEIR_DIFFERENTIAL_EXPRESSIONS="${1:-100000}" WEIR_DIFFERENTIAL_SEED="${2:-1}" \
  cargo test --release -p weir-server --test postgres_differential -- --nocapture
