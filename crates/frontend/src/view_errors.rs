//! Rows that materialized views left out because an expression failed on them (see
//! `weir_stream::RowError`), kept in RocksDB with the epoch that met them and shown in
//! `weir_catalog.view_errors`. Only the latest [`MAX_VIEW_ERRORS`] are kept.

use serde::{Deserialize, Serialize};
use weir_common::{Result, now_micros};
use weir_storage::keys::Space;
use weir_storage::{EpochWrite, ReadSnapshot};
use weir_stream::RowError;

use crate::bounded_log::{BoundedLog, read_log};

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
    log: BoundedLog,
}

impl ErrorLog {
    /// Continues the numbering of the errors stored in `snapshot`.
    pub fn open(snapshot: &ReadSnapshot) -> Result<ErrorLog> {
        Ok(ErrorLog {
            log: BoundedLog::open(snapshot, Space::ViewErrors, MAX_VIEW_ERRORS)?,
        })
    }

    /// Adds `errors` of view `view_id` to `write`, dropping the oldest beyond the bound.
    pub fn record(&mut self, view_id: u32, errors: Vec<RowError>, write: &mut EpochWrite) {
        let now = now_micros();
        let records: Vec<ViewError> = errors
            .into_iter()
            .map(|error| {
                tracing::warn!(view_id, operator = error.node, error = %error.message, row = %error.row, "row left out of a materialized view");
                ViewError {
                    view_id,
                    operator: error.node,
                    message: error.message,
                    row: error.row,
                    recorded_at: now,
                }
            })
            .collect();
        self.log.append(&records, write);
    }
}

/// Every recorded error as of `snapshot`, oldest first.
pub(crate) fn read_view_errors(snapshot: &ReadSnapshot) -> Result<Vec<ViewError>> {
    read_log(snapshot, Space::ViewErrors)
}
