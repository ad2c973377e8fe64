#!/usr/bin/env bash
# Sets up what is missing, builds weir in release mode and starts it. Arguments are
# passed to weir (see `weir --help`); by default it listens on 127.0.0.1:5488 and keeps its
# data in ./weir-data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
cargo build --release --bin weir
exec "$CARGO_TARGET_DIR/release/weir" "$@"
