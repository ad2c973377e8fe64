//! Types shared by every weir crate: errors that carry a PostgreSQL SQLSTATE, and the
//! column types stored as text with extra rules (`jsonb`, `varchar(n)`), a statement's
//! interrupt, the clock.

mod chunk;
pub mod comparable;
pub mod datetime_text;
mod error;
mod interrupt;
pub mod interval_text;
pub mod json;
pub mod pg_text;
mod sqlstate;
pub mod varchar;

pub use chunk::StreamChunk;
pub use error::{Position, Result, WeirError};
pub use interrupt::{Interrupt, InterruptReason, WeakInterrupt};
pub use sqlstate::SqlState;

/// Microseconds since the Unix epoch, as weir stamps errors, dead letters and messages.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_micros() as i64)
        .unwrap_or(0)
}
