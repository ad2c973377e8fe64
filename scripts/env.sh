# Sourced by the other scripts (after scripts/setup.sh): where cargo keeps its build,
# outside the checkout so that later runs on the same machine reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/weir/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# RocksDB's C++ compiled as a unity build (scripts/rocksdb.py: under a third of the CPU
# time librocksdb-sys takes to compile it file by file), which librocksdb-sys then links.
# Plain cargo without this file makes librocksdb-sys compile RocksDB itself, and going
# from one to the other reruns its build script.
rocksdb_lib_dir="$(python3 scripts/rocksdb.py)"
if [ -n "$rocksdb_lib_dir" ]; then
  export ROCKSDB_LIB_DIR="$rocksdb_lib_dir" ROCKSDB_STATIC=1
fi
