//! Types shared by every weir crate: errors that carry a PostgreSQL SQLSTATE, and the
//! canonical form of `jsonb` values.

mod error;
pub mod json;
mod sqlstate;

pub use error::{Position, Result, WeirError};
pub use sqlstate::SqlState;
