//! What every incremental operator does: turn input changes into output changes.

use weir_common::{Result, StreamChunk};
use weir_storage::EpochWrite;

use crate::row_errors::RowError;

pub(crate) trait Operator: Send {
    /// The changes of this operator's output caused by `chunk` arriving on input number
    /// `input` (0 for the first). Stateful operators update their state as they go, so
    /// chunks must arrive in the order their changes happened. Rows on which an
    /// expression fails are left out and added to `errors` (see `row_errors`).
    fn apply(
        &mut self,
        input: usize,
        chunk: &StreamChunk,
        errors: &mut Vec<RowError>,
    ) -> Result<StreamChunk>;

    /// The output the operator has before any input: rows of a VALUES list, the row of
    /// an aggregate without GROUP BY. Called once, when the view is created.
    fn initial(&mut self) -> Result<Option<StreamChunk>> {
        Ok(None)
    }

    /// Adds the state changed since the last call to `write`, to commit with the epoch.
    fn persist(&mut self, _write: &mut EpochWrite) -> Result<()> {
        Ok(())
    }
}
