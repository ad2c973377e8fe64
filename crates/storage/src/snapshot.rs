//! A point-in-time view of the database that owns what it borrows, so it can be shared
//! across threads and outlive the call that took it.

use std::sync::Arc;

use rocksdb::{DB, Direction, IteratorMode, ReadOptions};
use weir_common::Result;

use crate::store::storage_error;

type DbSnapshot<'a> = rocksdb::SnapshotWithThreadMode<'a, DB>;

self_cell::self_cell!(
    struct OwnedSnapshot {
        owner: Arc<DB>,
        #[covariant]
        dependent: DbSnapshot,
    }
);

/// The last committed epoch as one statement sees it. Every table read by a statement reads
/// through the same `ReadSnapshot`, so a query over several tables sees them at one point.
#[derive(Clone)]
pub struct ReadSnapshot {
    inner: Arc<OwnedSnapshot>,
    epoch: u64,
}

impl std::fmt::Debug for ReadSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadSnapshot")
            .field("epoch", &self.epoch)
            .finish()
    }
}

impl ReadSnapshot {
    pub(crate) fn new(db: Arc<DB>, epoch: u64) -> Self {
        let inner = OwnedSnapshot::new(db, |db| db.snapshot());
        ReadSnapshot {
            inner: Arc::new(inner),
            epoch,
        }
    }

    /// The epoch this snapshot shows.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner
            .borrow_dependent()
            .get(key)
            .map_err(storage_error)
    }

    /// Calls `visit` for each key-value pair in `[start, end)`, in key order, until it
    /// returns `false`.
    pub fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        mut visit: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        let mut options = ReadOptions::default();
        if let Some(end) = end {
            options.set_iterate_upper_bound(end.to_vec());
        }
        let iterator = self
            .inner
            .borrow_dependent()
            .iterator_opt(IteratorMode::From(start, Direction::Forward), options);
        for item in iterator {
            let (key, value) = item.map_err(storage_error)?;
            if !visit(&key, &value) {
                break;
            }
        }
        Ok(())
    }
}
