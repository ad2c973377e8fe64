#!/usr/bin/env bash
# Sends sample JSON order events to a Kafka topic (default: `orders` on 127.0.0.1:9092,
# 10 per second, until interrupted), creating the topic if needed. Arguments go to
# weir-produce (see `weir-produce --help`), e.g. --rate 100 --count 1000.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
cargo build --release --bin weir-produce
exec "$CARGO_TARGET_DIR/release/weir-produce" "$@"
