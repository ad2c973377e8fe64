//! Why a materialized view (or sink) stopped being maintained.
//!
//! When a change cannot be applied to a view — its aggregate overflows, an operator fails
//! — the view stops: its rows stay as of the last epoch it was maintained in, and from the
//! epoch of the failure on, reading it answers with the failure instead of rows that no
//! longer equal its query (PostgreSQL would answer its query with the same error). The
//! failure is stored with the epoch that met it, so it is seen by every snapshot from that
//! epoch on and survives restarts; it goes when the view is dropped.

use weir_common::{Result, SqlState, WeirError};

use crate::keys;
use crate::snapshot::ReadSnapshot;
use crate::store::EpochWrite;

/// The error a view failed with: its SQLSTATE and message.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewFailure {
    pub state: SqlState,
    pub message: String,
}

impl ViewFailure {
    pub fn of(error: &WeirError) -> ViewFailure {
        ViewFailure {
            state: error.state,
            message: error.message.clone(),
        }
    }

    /// Stores that object `id` failed so, in `write`.
    pub fn record(&self, id: u32, write: &mut EpochWrite) {
        let mut value = self.state.code().as_bytes().to_vec();
        value.extend_from_slice(self.message.as_bytes());
        write.put(&keys::view_failure(id), &value);
    }

    /// The failure of object `id` as of `snapshot`, if it failed.
    pub fn read(id: u32, snapshot: &ReadSnapshot) -> Result<Option<ViewFailure>> {
        let Some(value) = snapshot.get(&keys::view_failure(id))? else {
            return Ok(None);
        };
        let corrupt = || WeirError::internal(format!("corrupt failure record of object {id}"));
        let code = value.get(..5).ok_or_else(corrupt)?;
        let state = std::str::from_utf8(code)
            .ok()
            .and_then(SqlState::from_code)
            .unwrap_or(SqlState::INTERNAL_ERROR);
        let message = String::from_utf8(value[5..].to_vec()).map_err(|_| corrupt())?;
        Ok(Some(ViewFailure { state, message }))
    }

    /// The error that reading the failed view `name` answers with.
    pub fn reading_error(&self, name: &str) -> WeirError {
        WeirError::new(
            self.state,
            format!("materialized view \"{name}\" failed: {}", self.message),
        )
        .with_hint(
            "The view stopped being maintained when a change could not be applied to it; \
             DROP it and create it again once its query can be computed.",
        )
    }
}
