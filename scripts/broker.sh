#!/usr/bin/env bash
# Starts a Kafka-protocol broker (tansu, in memory) on 127.0.0.1:${1:-9092} for trying
# weir's Kafka sources, building it once into ~/.cache/weir/tools if it is missing.
# Runs in the foreground; Ctrl-C stops it (and forgets its topics).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --tests
port="${1:-9092}"
echo "broker: listening on 127.0.0.1:$port" >&2
exec "$HOME/.cache/weir/tools/bin/tansu" broker \
  --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
  --storage-engine memory://tansu/
