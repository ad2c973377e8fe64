//! Rows on which an expression fails (division by zero, a bad cast) are left out of the
//! view instead of failing the change that carried them.
//!
//! A chunk is evaluated whole; only when that fails is it evaluated row by row, to find
//! the rows at fault. Those rows are dropped from the operator's input and reported with
//! the error and their values. Evaluation is deterministic, so the deletion of such a row
//! fails and is dropped the same way as its insertion was, and the view stays consistent:
//! it is the query's answer over the rows on which it can be computed.

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, new_empty_array,
};
use datafusion::arrow::compute::concat;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use weir_common::{Result, StreamChunk};

use crate::expr::{Compiled, evaluate};

/// One row an operator left out.
#[derive(Clone, Debug)]
pub struct RowError {
    /// The stream plan node whose expression failed.
    pub node: u16,
    pub message: String,
    /// The row's values, as `(a, b, …)`.
    pub row: String,
}

/// The values of `exprs` over the rows of `chunk` on which all of them can be computed,
/// with those rows; the other rows are added to `errors`.
pub(crate) fn evaluate_or_skip(
    exprs: &[Compiled],
    chunk: &StreamChunk,
    errors: &mut Vec<RowError>,
) -> Result<(StreamChunk, Vec<ArrayRef>)> {
    let whole: Result<Vec<ArrayRef>> = exprs.iter().map(|e| evaluate(e, chunk.rows())).collect();
    if let Ok(columns) = whole {
        return Ok((chunk.clone(), columns));
    }
    // Each row's values are kept as computed alone: computed together, the rows that
    // succeed may fail again, as an `AND` or `CASE` computes its branches for a whole
    // batch where it would not for a single row.
    let mut keep = Vec::with_capacity(chunk.len());
    let mut kept_values: Vec<Vec<ArrayRef>> = vec![Vec::new(); exprs.len()];
    for row in 0..chunk.len() {
        let one = chunk.rows().slice(row, 1);
        match exprs
            .iter()
            .map(|e| evaluate(e, &one))
            .collect::<Result<Vec<_>>>()
        {
            Ok(values) => {
                keep.push(true);
                for (column, value) in kept_values.iter_mut().zip(values) {
                    column.push(value);
                }
            }
            Err(error) => {
                keep.push(false);
                errors.push(RowError {
                    node: 0,
                    message: error.message,
                    row: render_row(&one),
                });
            }
        }
    }
    let kept = chunk.filter(&BooleanArray::from(keep))?;
    let columns = exprs
        .iter()
        .zip(&kept_values)
        .map(|(e, values)| match values.is_empty() {
            true => Ok(new_empty_array(&e.data_type(&kept.rows().schema())?)),
            false => {
                let values: Vec<&dyn Array> = values.iter().map(|v| v.as_ref()).collect();
                Ok(concat(&values)?)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((kept, columns))
}

/// `predicate` over `rows`, true only where it is true; rows on which it fails count as
/// false and are added to `errors`.
pub(crate) fn mask_or_skip(
    predicate: &Compiled,
    rows: &RecordBatch,
    errors: &mut Vec<RowError>,
) -> Result<BooleanArray> {
    let truth = |mask: &ArrayRef, row: usize| {
        mask.as_boolean().is_valid(row) && mask.as_boolean().value(row)
    };
    if let Ok(mask) = evaluate(predicate, rows) {
        return Ok((0..rows.num_rows())
            .map(|row| Some(truth(&mask, row)))
            .collect());
    }
    let mut values = Vec::with_capacity(rows.num_rows());
    for row in 0..rows.num_rows() {
        let one = rows.slice(row, 1);
        match evaluate(predicate, &one) {
            Ok(mask) => values.push(Some(truth(&mask, 0))),
            Err(error) => {
                values.push(Some(false));
                errors.push(RowError {
                    node: 0,
                    message: error.message,
                    row: render_row(&one),
                });
            }
        }
    }
    Ok(BooleanArray::from(values))
}

fn render_row(row: &RecordBatch) -> String {
    let options = FormatOptions::default().with_null("NULL");
    let values: Vec<String> = row
        .columns()
        .iter()
        .map(|column| {
            ArrayFormatter::try_new(column.as_ref(), &options)
                .map(|formatter| formatter.value(0).to_string())
                .unwrap_or_else(|_| "?".to_owned())
        })
        .collect();
    format!("({})", values.join(", "))
}
