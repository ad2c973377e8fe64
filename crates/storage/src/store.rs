//! The RocksDB database behind one data directory, and the atomic per-epoch write.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rocksdb::{
    BlockBasedOptions, DB, DBCompressionType, IteratorMode, Options, WriteBatch, WriteOptions,
};
use weir_common::{Interrupt, Result, SqlState, WeirError};

use crate::keys;
use crate::observer::ChangeObserver;
use crate::snapshot::ReadSnapshot;

/// The on-disk format. Row values and keys use Arrow's row format, whose byte layout may
/// change between Arrow releases, so the Arrow major version is part of the format name;
/// a data directory written by another format is refused at open rather than misread.
/// The number counts changes of weir's own layouts, operator state included (2: top-N
/// keys that sort by their order key, exact float sums).
const FORMAT: &str = "weir-2/arrow-row-59";
const FORMAT_KEY: &str = "format";
const EPOCH_KEY: &str = "committed_epoch";
/// The share of each memtable's memory given to its bloom filter.
const MEMTABLE_BLOOM_RATIO: f64 = 0.05;
/// Bloom filter bits per key in table files (about 1% false positives).
const BLOOM_BITS_PER_KEY: f64 = 10.0;

pub struct Store {
    db: Arc<DB>,
    committed_epoch: AtomicU64,
    /// Serializes writers: a statement that checks keys and then writes holds it throughout,
    /// so two inserts of the same primary key cannot both pass the check.
    write_lock: tokio::sync::Mutex<()>,
    next_row_ids: std::sync::Mutex<HashMap<u32, u64>>,
    /// Weak, because the observer holds the store.
    observer: std::sync::RwLock<Option<std::sync::Weak<dyn ChangeObserver>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.db.path())
            .field("committed_epoch", &self.committed_epoch())
            .finish()
    }
}

/// Changes that become visible together, atomically, when committed.
#[derive(Default)]
pub struct EpochWrite {
    batch: WriteBatch,
}

impl EpochWrite {
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        self.batch.put(key, value);
    }

    pub fn delete(&mut self, key: &[u8]) {
        self.batch.delete(key);
    }

    /// Deletes every key in `[start, end)`.
    pub fn delete_range(&mut self, start: &[u8], end: &[u8]) {
        self.batch.delete_range(start, end);
    }

    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }
}

impl Store {
    /// Opens (creating if needed) the database in `dir`. A directory held by another weir
    /// process is refused with a message that says so.
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|e| {
            WeirError::new(
                SqlState::IO_ERROR,
                format!("cannot create data directory {}: {e}", dir.display()),
            )
        })?;
        let mut options = Options::default();
        options.create_if_missing(true);
        options.set_compression_type(DBCompressionType::Lz4);
        // Most point reads (a view row's multiplicity before it changes) ask for keys that
        // do not exist yet: whole-key bloom filters, in the memtable and in every table
        // file, answer those without searching.
        options.set_memtable_whole_key_filtering(true);
        options.set_memtable_prefix_bloom_ratio(MEMTABLE_BLOOM_RATIO);
        let mut table_options = BlockBasedOptions::default();
        table_options.set_bloom_filter(BLOOM_BITS_PER_KEY, false);
        table_options.set_whole_key_filtering(true);
        options.set_block_based_table_factory(&table_options);
        let db = DB::open(&options, dir).map_err(|e| {
            let text = e.to_string();
            if text.contains("lock") || text.contains("Resource temporarily unavailable") {
                WeirError::new(
                    SqlState::IO_ERROR,
                    format!(
                        "data directory {} is in use by another weir process; stop it or choose another --data-dir",
                        dir.display()
                    ),
                )
            } else {
                storage_error(e)
            }
        })?;
        let db = Arc::new(db);
        check_format(&db, dir)?;
        let committed_epoch = match db.get(keys::meta(EPOCH_KEY)).map_err(storage_error)? {
            Some(bytes) => decode_u64(&bytes)?,
            None => 0,
        };
        Ok(Store {
            db,
            committed_epoch: AtomicU64::new(committed_epoch),
            write_lock: tokio::sync::Mutex::new(()),
            next_row_ids: std::sync::Mutex::new(HashMap::new()),
            observer: std::sync::RwLock::new(None),
        })
    }

    /// Writes the memtables to SST files, for a clean shutdown: the next start then need
    /// not replay the write-ahead log, which for a large epoch (a backfill) dominates
    /// start-up. After a crash the log is replayed as usual. (Not done on drop: the
    /// catalog's table providers keep the store alive to the end of the process.)
    pub fn flush_to_disk(&self) -> Result<()> {
        self.db.flush().map_err(storage_error)
    }

    /// The last epoch whose writes are durable and visible.
    pub fn committed_epoch(&self) -> u64 {
        self.committed_epoch.load(Ordering::Acquire)
    }

    /// A consistent view of the last committed epoch.
    pub fn snapshot(&self) -> ReadSnapshot {
        ReadSnapshot::new(self.db.clone(), self.committed_epoch())
    }

    /// The snapshot a statement reads: the one its session put in the DataFusion config,
    /// or, outside a session, the latest committed epoch.
    pub fn statement_snapshot(&self, state: &dyn datafusion::catalog::Session) -> ReadSnapshot {
        state
            .config()
            .get_extension::<ReadSnapshot>()
            .map(|snapshot| snapshot.as_ref().clone())
            .unwrap_or_else(|| self.snapshot())
    }

    /// Sets who is told of table changes before they commit.
    pub fn set_observer(&self, observer: &Arc<dyn ChangeObserver>) {
        *self.observer.write().expect("observer lock") = Some(Arc::downgrade(observer));
    }

    pub fn observer(&self) -> Option<Arc<dyn ChangeObserver>> {
        self.observer
            .read()
            .expect("observer lock")
            .as_ref()
            .and_then(std::sync::Weak::upgrade)
    }

    /// Waits until no other statement is writing, unless `interrupt` is raised first;
    /// writers hold the guard from their first read of existing keys to their commit.
    pub async fn lock_writes(
        &self,
        interrupt: &Interrupt,
    ) -> Result<tokio::sync::MutexGuard<'_, ()>> {
        interrupt
            .unless_raised(async { Ok(self.write_lock.lock().await) })
            .await
    }

    /// Writes `write` and the next epoch number in one atomic, synced RocksDB write, and
    /// returns that epoch. Nothing of `write` is visible before, all of it after.
    pub fn commit(&self, mut write: EpochWrite) -> Result<u64> {
        let epoch = self.committed_epoch() + 1;
        write.put(&keys::meta(EPOCH_KEY), &epoch.to_be_bytes());
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db
            .write_opt(write.batch, &options)
            .map_err(storage_error)?;
        self.committed_epoch.store(epoch, Ordering::Release);
        Ok(epoch)
    }

    /// Reserves `count` hidden row ids for a table without a primary key and returns the
    /// first. Ids only grow; after a restart they continue past the largest stored one.
    pub fn allocate_row_ids(&self, table_id: u32, count: u64) -> Result<u64> {
        let mut next = self
            .next_row_ids
            .lock()
            .map_err(|_| WeirError::internal("row id allocator poisoned"))?;
        let first = match next.get(&table_id) {
            Some(first) => *first,
            None => self.largest_row_id(table_id)?.map_or(0, |id| id + 1),
        };
        next.insert(table_id, first + count);
        Ok(first)
    }

    fn largest_row_id(&self, table_id: u32) -> Result<Option<u64>> {
        let prefix = keys::table_prefix(table_id);
        let Some(end) = keys::prefix_end(&prefix) else {
            return Ok(None);
        };
        let mut iterator = self
            .db
            .iterator(IteratorMode::From(&end, rocksdb::Direction::Reverse));
        match iterator.next() {
            Some(item) => {
                let (key, _) = item.map_err(storage_error)?;
                if key.starts_with(&prefix) {
                    Ok(Some(decode_u64(&key[prefix.len()..])?))
                } else {
                    Ok(None)
                }
            }
            None => Ok(None),
        }
    }
}

fn check_format(db: &DB, dir: &Path) -> Result<()> {
    let key = keys::meta(FORMAT_KEY);
    match db.get(&key).map_err(storage_error)? {
        Some(found) if found == FORMAT.as_bytes() => Ok(()),
        Some(found) => Err(WeirError::new(
            SqlState::IO_ERROR,
            format!(
                "data directory {} has storage format {:?}, this weir reads {FORMAT:?}",
                dir.display(),
                String::from_utf8_lossy(&found)
            ),
        )),
        None => db.put(&key, FORMAT).map_err(storage_error),
    }
}

fn decode_u64(bytes: &[u8]) -> Result<u64> {
    let array: [u8; 8] = bytes
        .try_into()
        .map_err(|_| WeirError::internal("corrupt 8-byte integer in storage"))?;
    Ok(u64::from_be_bytes(array))
}

/// Maps a RocksDB failure to a SQL error; a full disk gets its own SQLSTATE.
pub(crate) fn storage_error(error: rocksdb::Error) -> WeirError {
    let text = error.to_string();
    if text.contains("No space left") {
        WeirError::new(
            SqlState::DISK_FULL,
            format!("could not write to storage: {text}"),
        )
    } else {
        WeirError::new(SqlState::IO_ERROR, format!("storage error: {text}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_is_atomic_and_advances_the_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let before = store.snapshot();
        let mut write = EpochWrite::default();
        write.put(&keys::table_row(7, b"a"), b"1");
        write.put(&keys::table_row(7, b"b"), b"2");
        assert_eq!(store.commit(write).unwrap(), 1);
        assert_eq!(before.get(&keys::table_row(7, b"a")).unwrap(), None);
        let after = store.snapshot();
        assert_eq!(after.epoch(), 1);
        assert_eq!(
            after.get(&keys::table_row(7, b"b")).unwrap(),
            Some(b"2".to_vec())
        );
    }

    #[test]
    fn epoch_and_row_ids_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let first = store.allocate_row_ids(3, 2).unwrap();
            let mut write = EpochWrite::default();
            for id in first..first + 2 {
                write.put(&keys::table_row(3, &id.to_be_bytes()), b"");
            }
            store.commit(write).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.committed_epoch(), 1);
        assert_eq!(store.allocate_row_ids(3, 1).unwrap(), 2);
    }

    #[test]
    fn a_second_open_of_the_same_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path()).unwrap();
        let error = Store::open(dir.path()).unwrap_err();
        assert!(
            error.message.contains("in use by another weir process"),
            "{error}"
        );
    }
}
