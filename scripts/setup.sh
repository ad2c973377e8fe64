#!/usr/bin/env bash
# Installs what building and testing weir needs beyond the Rust toolchain, on Debian:
# clang (RocksDB's bindings, and its C++), OpenSSL's headers for librdkafka, Python (for
# scripts/rocksdb.py) and the PostgreSQL client (psql); with --bench also PostgreSQL's
# server (the benchmarks compare against it); with --tests that server, rustfmt and clippy
# (when rustup's profile left them out), Python's PostgreSQL driver and the noida-db Kafka
# broker (a prebuilt binary from PyPI, into ~/.cache/weir/tools/noida-db).
# Nothing is compiled here.
# Safe to run again: it installs only what is missing.
set -euo pipefail

packages=(libclang-dev clang libssl-dev pkg-config make postgresql-client python3)
case "${1:-}" in
  --bench) packages+=(postgresql) ;;
  --tests) packages+=(postgresql python3-pip) ;;
esac
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

pip_install() {
  python3 -m pip install --quiet --disable-pip-version-check "$@" 2>&1 | grep -v 'Running pip as' >&2 || true
}

if [ "${1:-}" = "--tests" ]; then
  if command -v rustup >/dev/null; then
    cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
    cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
  fi
  python3 -c 'import psycopg' 2>/dev/null || pip_install 'psycopg[binary]>=3.1'
  python3 -c 'import psycopg' || { echo "setup: psycopg did not install" >&2; exit 1; }

  noida="$HOME/.cache/weir/tools/noida-db"
  if [ ! -x "$noida/noida_db/noida-db" ]; then
    echo "setup: installing the noida-db Kafka broker for the tests" >&2
    pip_install --target "$noida" 'noida-db==0.2.3'
    [ -x "$noida/noida_db/noida-db" ] || { echo "setup: noida-db did not install" >&2; exit 1; }
  fi
fi
