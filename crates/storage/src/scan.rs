//! Reading a table: which keys a query's filters allow, and the stream of batches that
//! reads them from a snapshot.
//!
//! Filters on the leading primary-key column narrow the scan to a key range: `id = 5` is a
//! seek to one key prefix, `id > 5 AND id <= 9` a range. The range may include rows the
//! filter rejects (filters are pushed down as *inexact*); DataFusion re-applies them.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BinaryBuilder, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::streaming::PartitionStream;
use weir_common::WeirError;

use crate::keys;
use crate::row_codec::RowCodec;
use crate::snapshot::ReadSnapshot;

/// Rows per batch produced by a scan.
const SCAN_BATCH_ROWS: usize = 8192;

/// The name of the extra column that carries each row's storage key to UPDATE and DELETE.
pub(crate) const ROW_KEY_COLUMN: &str = "__weir_row_key";

/// A range of absolute keys, `[start, end)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KeyRange {
    pub start: Vec<u8>,
    pub end: Option<Vec<u8>>,
}

impl KeyRange {
    /// The range of a table's rows allowed by `filters`.
    pub fn for_filters(table_id: u32, codec: &RowCodec, filters: &[Expr]) -> KeyRange {
        let prefix = keys::table_prefix(table_id);
        let mut range = KeyRange {
            start: prefix.clone(),
            end: keys::prefix_end(&prefix),
        };
        let Some(leading) = codec.key_columns().first() else {
            return range;
        };
        let leading = codec.schema().field(*leading).name();
        for filter in filters.iter().flat_map(split_conjunction) {
            let Some((op, value)) = compare_column_to_literal(filter, leading) else {
                continue;
            };
            let Some(encoded) = codec.encode_leading_key(value) else {
                continue;
            };
            let at = keys::table_row(table_id, &encoded);
            let past = keys::prefix_end(&at);
            match op {
                Operator::Eq => {
                    range.raise_start(at);
                    range.lower_end(past);
                }
                Operator::Gt | Operator::GtEq => range.raise_start(at),
                Operator::Lt => range.lower_end(Some(at)),
                Operator::LtEq => range.lower_end(past),
                _ => {}
            }
        }
        range
    }

    fn raise_start(&mut self, start: Vec<u8>) {
        if start > self.start {
            self.start = start;
        }
    }

    fn lower_end(&mut self, end: Option<Vec<u8>>) {
        if let Some(end) = end
            && self.end.as_ref().is_none_or(|current| end < *current)
        {
            self.end = Some(end);
        }
    }
}

fn split_conjunction(expr: &Expr) -> Vec<&Expr> {
    match expr {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And,
            right,
        }) => {
            let mut parts = split_conjunction(left);
            parts.extend(split_conjunction(right));
            parts
        }
        other => vec![other],
    }
}

/// `column op literal` (or `literal op column`, turned around) for the named column.
fn compare_column_to_literal<'a>(
    expr: &'a Expr,
    column: &str,
) -> Option<(Operator, &'a datafusion::common::ScalarValue)> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
        return None;
    };
    match (left.as_ref(), right.as_ref()) {
        (Expr::Column(c), Expr::Literal(value, _)) if c.name == column => Some((*op, value)),
        (Expr::Literal(value, _), Expr::Column(c)) if c.name == column => Some((op.swap()?, value)),
        _ => None,
    }
}

/// The schema of a table with the row-key column appended, as UPDATE and DELETE read it.
pub(crate) fn schema_with_row_key(schema: &Schema) -> SchemaRef {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(ROW_KEY_COLUMN, DataType::Binary, false));
    Arc::new(Schema::new(fields))
}

/// One partition of a table scan: the rows in `range` as of `snapshot`.
#[derive(Debug)]
pub(crate) struct TableScan {
    pub snapshot: ReadSnapshot,
    pub codec: Arc<RowCodec>,
    pub range: KeyRange,
    /// Whether to append each row's key (without the table prefix) as a last column.
    pub with_row_key: bool,
    pub schema: SchemaRef,
    pub limit: Option<usize>,
}

impl PartitionStream for TableScan {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let mut builder = RecordBatchReceiverStreamBuilder::new(self.schema.clone(), 2);
        let sender = builder.tx();
        let snapshot = self.snapshot.clone();
        let codec = self.codec.clone();
        let range = self.range.clone();
        let with_row_key = self.with_row_key;
        let schema = self.schema.clone();
        let limit = self.limit.unwrap_or(usize::MAX);
        let prefix_len = keys::table_prefix(0).len();
        builder.spawn_blocking(move || {
            let mut values: Vec<Vec<u8>> = Vec::with_capacity(SCAN_BATCH_ROWS);
            let mut row_keys: Vec<Vec<u8>> = Vec::new();
            let mut produced = 0usize;
            let mut receiver_gone = false;
            let flush = |values: &mut Vec<Vec<u8>>, row_keys: &mut Vec<Vec<u8>>| {
                let batch = decode(&codec, &schema, values, row_keys, with_row_key);
                values.clear();
                row_keys.clear();
                sender.blocking_send(batch).is_ok()
            };
            snapshot
                .scan(&range.start, range.end.as_deref(), |key, value| {
                    values.push(value.to_vec());
                    if with_row_key {
                        row_keys.push(key[prefix_len..].to_vec());
                    }
                    produced += 1;
                    if values.len() == SCAN_BATCH_ROWS {
                        receiver_gone = !flush(&mut values, &mut row_keys);
                    }
                    !receiver_gone && produced < limit
                })
                .map_err(WeirError::into_datafusion)?;
            if !values.is_empty() && !receiver_gone {
                flush(&mut values, &mut row_keys);
            }
            Ok(())
        });
        builder.build()
    }
}

fn decode(
    codec: &RowCodec,
    schema: &SchemaRef,
    values: &[Vec<u8>],
    row_keys: &[Vec<u8>],
    with_row_key: bool,
) -> datafusion::error::Result<RecordBatch> {
    let batch = codec
        .decode_values(values.iter().map(Vec::as_slice))
        .map_err(WeirError::into_datafusion)?;
    if !with_row_key {
        return Ok(batch);
    }
    let mut keys = BinaryBuilder::with_capacity(row_keys.len(), row_keys.len() * 8);
    for key in row_keys {
        keys.append_value(key);
    }
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns.push(Arc::new(keys.finish()));
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::common::ScalarValue;
    use datafusion::logical_expr::{col, lit};

    use super::*;

    fn codec() -> RowCodec {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("v", DataType::Utf8, true),
        ]));
        RowCodec::try_new(schema, vec![0]).unwrap()
    }

    fn at(codec: &RowCodec, value: i64) -> Vec<u8> {
        keys::table_row(
            4,
            &codec
                .encode_leading_key(&ScalarValue::Int64(Some(value)))
                .unwrap(),
        )
    }

    #[test]
    fn equality_on_the_key_is_a_point_range() {
        let codec = codec();
        let range = KeyRange::for_filters(4, &codec, &[col("id").eq(lit(7i64))]);
        assert_eq!(range.start, at(&codec, 7));
        assert_eq!(range.end, keys::prefix_end(&at(&codec, 7)));
    }

    #[test]
    fn bounds_combine_and_other_columns_are_ignored() {
        let codec = codec();
        let filter = col("id")
            .gt_eq(lit(3i64))
            .and(lit(9i64).gt(col("id")))
            .and(col("v").eq(lit("x")));
        let range = KeyRange::for_filters(4, &codec, &[filter]);
        assert_eq!(range.start, at(&codec, 3));
        assert_eq!(range.end, Some(at(&codec, 9)));
    }

    #[test]
    fn no_key_filter_scans_the_whole_table() {
        let codec = codec();
        let range = KeyRange::for_filters(4, &codec, &[col("v").eq(lit("x"))]);
        assert_eq!(range.start, keys::table_prefix(4));
        assert_eq!(range.end, keys::prefix_end(&keys::table_prefix(4)));
    }
}
