//! Rows that materialized views left out because an expression failed on them (see
//! `weir_stream::RowError`), kept in RocksDB with the epoch that met them and shown in
//! `weir_catalog.view_errors`. Only the latest [`MAX_VIEW_ERRORS`] are kept.

use serde::{Deserialize, Serialize};
use weir_common::{Result, WeirError};
use weir_storage::{EpochWrite, ReadSnapshot, keys};
use weir_stream::RowError;

/// How many recorded row errors are kept; older ones are dropped.
pub(crate) const MAX_VIEW_ERRORS: u64 = 10_000;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ViewError {
    pub view_id: u32,
    pub operator: u16,
    pub message: String,
    pub row: String,
    /// Microseconds since the Unix epoch.
    pub recorded_at: i64,
}

/// Numbers recorded errors and writes them with the epoch that met them.
pub(crate) struct ErrorLog {
    next: u64,
}

impl ErrorLog {
    /// Continues the numbering of the errors stored in `snapshot`.
    pub fn open(snapshot: &ReadSnapshot) -> Result<ErrorLog> {
        let (start, end) = keys::view_error_range();
        let mut next = 0;
        snapshot.scan(&start, Some(&end), |key, _| {
            if let Ok(sequence) = <[u8; 8]>::try_from(&key[1..]) {
                next = u64::from_be_bytes(sequence) + 1;
            }
            true
        })?;
        Ok(ErrorLog { next })
    }

    /// Adds `errors` of view `view_id` to `write`, dropping the oldest beyond the bound.
    pub fn record(&mut self, view_id: u32, errors: Vec<RowError>, write: &mut EpochWrite) {
        if errors.is_empty() {
            return;
        }
        let now = now_micros();
        for error in errors {
            tracing::warn!(view_id, operator = error.node, error = %error.message, row = %error.row, "row left out of a materialized view");
            let record = ViewError {
                view_id,
                operator: error.node,
                message: error.message,
                row: error.row,
                recorded_at: now,
            };
            let value = serde_json::to_vec(&record).expect("view errors serialize");
            write.put(&keys::view_error(self.next), &value);
            self.next += 1;
        }
        if self.next > MAX_VIEW_ERRORS {
            let (start, _) = keys::view_error_range();
            write.delete_range(&start, &keys::view_error(self.next - MAX_VIEW_ERRORS));
        }
    }
}

/// Every recorded error as of `snapshot`, oldest first.
pub(crate) fn read_view_errors(snapshot: &ReadSnapshot) -> Result<Vec<ViewError>> {
    let (start, end) = keys::view_error_range();
    let mut errors = Vec::new();
    let mut failure = None;
    snapshot.scan(&start, Some(&end), |_, value| {
        match serde_json::from_slice(value) {
            Ok(error) => errors.push(error),
            Err(error) => {
                failure = Some(WeirError::internal(format!("corrupt view error: {error}")))
            }
        }
        failure.is_none()
    })?;
    match failure {
        Some(error) => Err(error),
        None => Ok(errors),
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_micros() as i64)
        .unwrap_or(0)
}
