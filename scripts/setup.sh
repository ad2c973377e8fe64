#!/usr/bin/env bash
# Installs what building and testing weir needs beyond the Rust toolchain, on Debian:
# clang's library for RocksDB's bindings, the PostgreSQL client (psql) and server
# (benchmarks compare against it), and for the tests Python's PostgreSQL driver and the
# tansu Kafka-protocol broker (built once into ~/.cache/weir/tools).
# Safe to run again: it installs only what is missing.
set -euo pipefail

packages=(libclang-dev clang postgresql-client postgresql python3-pip)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "${1:-}" = "--tests" ]; then
  python3 -c 'import psycopg' 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check 'psycopg[binary]>=3.1' 2>&1 | grep -v 'Running pip as' >&2 || true
  python3 -c 'import psycopg' || { echo "setup: psycopg did not install" >&2; exit 1; }
fi

if [ "${1:-}" = "--tests" ]; then
  tansu="$HOME/.cache/weir/tools/bin/tansu"
  if [ ! -x "$tansu" ]; then
    echo "setup: building the tansu Kafka broker for the tests (about 10 minutes, once)" >&2
    cargo install --quiet tansu --version 0.6.0 --features dynostore --root "$HOME/.cache/weir/tools"
  fi
fi
