//! `varchar(n)`: UTF-8 text whose field carries its length limit as metadata, checked
//! when values are stored, as PostgreSQL checks it.

use datafusion_common::arrow::array::{ArrayRef, AsArray};
use datafusion_common::arrow::datatypes::Field;

use crate::{Result, SqlState, WeirError};

/// The field metadata key holding a `varchar(n)` column's `n`.
pub const VARCHAR_LENGTH_KEY: &str = "weir.varchar_length";

/// The length limit of a `varchar(n)` field.
pub fn varchar_length(field: &Field) -> Option<usize> {
    field.metadata().get(VARCHAR_LENGTH_KEY)?.parse().ok()
}

/// 22001 if a value of `column` has more than `limit` characters.
pub fn check_varchar_length(column: &ArrayRef, limit: usize) -> Result<()> {
    let Some(strings) = column.as_string_opt::<i32>() else {
        return Ok(());
    };
    // A value of at most `limit` bytes has at most `limit` characters.
    let too_long = strings
        .iter()
        .flatten()
        .any(|value| value.len() > limit && value.chars().count() > limit);
    match too_long {
        true => Err(WeirError::new(
            SqlState::STRING_DATA_RIGHT_TRUNCATION,
            format!("value too long for type character varying({limit})"),
        )),
        false => Ok(()),
    }
}
