//! A bound on how long a record (a struct value) may be as text.
//!
//! A record is written as text with each field quoted, and the quotes and backslashes of a
//! field that is itself a record doubled, so its text doubles in length with each level
//! of nesting: `SELECT (1, (1, (1, …)))` 50 levels deep took 11.6 GB before the server was
//! stopped. PostgreSQL writes records the same way and fails past its 1 GB limit on a
//! value with 54000 "out of memory"; so does weir, before writing a batch any of whose
//! records could be longer, from an upper bound on each record's text worked out from
//! its fields.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use weir_common::{Result, SqlState, WeirError};

/// PostgreSQL's limit on the length of one value.
const MOST_BYTES: u64 = 1 << 30;

/// An upper bound on the text of one value of a type that is neither text nor a record
/// (numbers, dates, times, intervals, and what `arrow-pg` writes for the others).
const OTHER_VALUE_BYTES: u64 = 64;

/// Fails with 54000 if a record of `batch` could be longer than [`MOST_BYTES`] as text.
pub(crate) fn check_record_lengths(batch: &RecordBatch) -> Result<()> {
    for column in batch.columns() {
        if !matches!(column.data_type(), DataType::Struct(_)) {
            continue;
        }
        if text_bounds(column)
            .into_iter()
            .any(|bound| bound > MOST_BYTES)
        {
            return Err(
                WeirError::new(SqlState::PROGRAM_LIMIT_EXCEEDED, "out of memory").with_detail(
                    "A record would be longer than 1 GB as text: each level of records \
                     nested in records doubles the quotes of the levels inside it.",
                ),
            );
        }
    }
    Ok(())
}

/// For each row of `column`, an upper bound on its value's length as text.
fn text_bounds(column: &ArrayRef) -> Vec<u64> {
    match column.data_type() {
        DataType::Struct(_) => {
            let fields: Vec<Vec<u64>> = column
                .as_struct()
                .columns()
                .iter()
                .map(text_bounds)
                .collect();
            (0..column.len())
                .map(|row| {
                    // Parentheses, and each field quoted, escaped and followed by a comma.
                    fields.iter().fold(2u64, |bound, field| {
                        bound.saturating_add(field[row].saturating_mul(2).saturating_add(3))
                    })
                })
                .collect()
        }
        DataType::Utf8 => column.as_string::<i32>().iter().map(text_length).collect(),
        DataType::LargeUtf8 => column.as_string::<i64>().iter().map(text_length).collect(),
        DataType::Utf8View => column.as_string_view().iter().map(text_length).collect(),
        // bytea as `\x` and two hex digits a byte.
        DataType::Binary => column
            .as_binary::<i32>()
            .iter()
            .map(|value| value.map_or(0, |bytes| 2 + 2 * bytes.len() as u64))
            .collect(),
        _ => vec![OTHER_VALUE_BYTES; column.len()],
    }
}

fn text_length(value: Option<&str>) -> u64 {
    value.map_or(0, |text| text.len() as u64)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, StringArray, StructArray};
    use datafusion::arrow::datatypes::{Field, Schema};

    use super::*;

    /// A batch of one row: a record of `1` and the record below it, `depth` levels deep.
    fn nested(depth: usize, leaf: ArrayRef) -> RecordBatch {
        let mut column = leaf;
        for _ in 0..depth {
            column = Arc::new(StructArray::from(vec![
                (
                    Arc::new(Field::new("a", DataType::Int64, false)),
                    Arc::new(Int64Array::from(vec![1])) as ArrayRef,
                ),
                (
                    Arc::new(Field::new("b", column.data_type().clone(), true)),
                    column,
                ),
            ]));
        }
        let schema = Schema::new(vec![Field::new("r", column.data_type().clone(), true)]);
        RecordBatch::try_new(Arc::new(schema), vec![column]).unwrap()
    }

    #[test]
    fn records_nested_until_a_gigabyte_are_refused() {
        let one = || Arc::new(Int64Array::from(vec![1])) as ArrayRef;
        assert!(check_record_lengths(&nested(20, one())).is_ok());
        let error = check_record_lengths(&nested(30, one())).unwrap_err();
        assert_eq!(error.state, SqlState::PROGRAM_LIMIT_EXCEEDED);
        // Text counts by its length: a long one reaches the limit sooner.
        let long = Arc::new(StringArray::from(vec!["x".repeat(1 << 20)])) as ArrayRef;
        assert!(check_record_lengths(&nested(5, long.clone())).is_ok());
        assert!(check_record_lengths(&nested(12, long)).is_err());
    }
}
