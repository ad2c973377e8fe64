//! Types shared by every weir crate: errors that carry a PostgreSQL SQLSTATE, and the
//! column types stored as text with extra rules (`jsonb`, `varchar(n)`).

mod chunk;
mod error;
pub mod json;
mod sqlstate;
pub mod varchar;

pub use chunk::StreamChunk;
pub use error::{Position, Result, WeirError};
pub use sqlstate::SqlState;
