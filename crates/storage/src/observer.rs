//! The hook through which table changes reach the materialized views that read them.

use weir_common::{Interrupt, Result, StreamChunk};

use crate::snapshot::ReadSnapshot;
use crate::store::EpochWrite;

/// Told of every change to the tables it observes, before the change commits, under the
/// store's write lock, so that whatever it adds to the write commits atomically with the
/// change itself.
pub trait ChangeObserver: Send + Sync + std::fmt::Debug {
    /// Whether changes to table `table_id` need to be reported (collecting the old rows
    /// of deletes and updates costs reads).
    fn observes(&self, table_id: u32) -> bool;

    /// `changes` (inserted rows with weight +1, deleted rows -1) of table `table_id` are
    /// about to commit in `write`, on top of `latest`. Stops with the interrupt's error if
    /// `interrupt` is raised before it is done; the write is then abandoned.
    fn changed(
        &self,
        table_id: u32,
        changes: &StreamChunk,
        latest: &ReadSnapshot,
        write: &mut EpochWrite,
        interrupt: &Interrupt,
    ) -> Result<()>;

    /// The write given to [`ChangeObserver::changed`] was not committed: forget what was
    /// done for it.
    fn abandoned(&self);
}
