//! No code: this crate exists for its `Cargo.toml`, which turns on in the server's build the
//! dependency features that the tests' dependencies turn on, so that `scripts/run.sh` and
//! `scripts/test.sh` share one release build of RocksDB, librdkafka and DataFusion.
