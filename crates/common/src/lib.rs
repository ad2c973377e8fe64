//! Types shared by every weir crate: errors that carry a PostgreSQL SQLSTATE.

mod error;
mod sqlstate;

pub use error::{Position, Result, WeirError};
pub use sqlstate::SqlState;
