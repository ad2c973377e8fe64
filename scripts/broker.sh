#!/usr/bin/env bash
# Starts a Kafka broker (noida-db, installed by `scripts/setup.sh --tests` if missing) on
# 127.0.0.1:${1:-9092} for trying weir's Kafka sources and sinks, with its data in
# ./broker-data. Runs in the foreground; Ctrl-C stops it (its topics are kept).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --tests
port="${1:-9092}"
echo "broker: listening on 127.0.0.1:$port, data in ./broker-data" >&2
exec "$HOME/.cache/weir/tools/noida-db/noida_db/noida-db" start --only kafka \
  --host 127.0.0.1 --kafka-port "$port" --data-dir broker-data
