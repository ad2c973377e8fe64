//! Logs of records weir keeps for users to query, each in its own key space and bounded:
//! once a log holds its limit, each new record drops the oldest.

use serde::Serialize;
use serde::de::DeserializeOwned;
use weir_common::{Result, WeirError};
use weir_storage::keys::{self, Space};
use weir_storage::{EpochWrite, ReadSnapshot};

pub(crate) struct BoundedLog {
    space: Space,
    kept: u64,
    next: u64,
}

impl BoundedLog {
    /// Continues the numbering of the log in `space` as of `snapshot`, keeping `kept`.
    pub fn open(snapshot: &ReadSnapshot, space: Space, kept: u64) -> Result<BoundedLog> {
        let (start, end) = keys::log_range(space);
        let mut next = 0;
        snapshot.scan(&start, Some(&end), |key, _| {
            if let Ok(sequence) = <[u8; 8]>::try_from(&key[1..]) {
                next = u64::from_be_bytes(sequence) + 1;
            }
            true
        })?;
        Ok(BoundedLog { space, kept, next })
    }

    /// Adds `records` to `write`, dropping the oldest beyond the bound.
    pub fn append<T: Serialize>(&mut self, records: &[T], write: &mut EpochWrite) {
        if records.is_empty() {
            return;
        }
        for record in records {
            let value = serde_json::to_vec(record).expect("log records serialize");
            write.put(&keys::log_entry(self.space, self.next), &value);
            self.next += 1;
        }
        if self.next > self.kept {
            let (start, _) = keys::log_range(self.space);
            write.delete_range(&start, &keys::log_entry(self.space, self.next - self.kept));
        }
    }
}

/// Every record of the log in `space` as of `snapshot`, oldest first.
pub(crate) fn read_log<T: DeserializeOwned>(
    snapshot: &ReadSnapshot,
    space: Space,
) -> Result<Vec<T>> {
    let (start, end) = keys::log_range(space);
    let mut records = Vec::new();
    let mut failure = None;
    snapshot.scan(&start, Some(&end), |_, value| {
        match serde_json::from_slice(value) {
            Ok(record) => records.push(record),
            Err(error) => {
                failure = Some(WeirError::internal(format!(
                    "corrupt log record in {space:?}: {error}"
                )))
            }
        }
        failure.is_none()
    })?;
    match failure {
        Some(error) => Err(error),
        None => Ok(records),
    }
}
