//! Changes in motion: a [`StreamChunk`] is a batch of rows, each with a weight.
//!
//! A weight of `+1` inserts the row, `-1` deletes it; an update is the delete of the old
//! row and the insert of the new one. Weights add (a Z-set, as in DBSP): the same row
//! inserted twice has weight 2, inserted and deleted in one chunk it has weight 0. Every
//! operator works on whole chunks, vectorized over the Arrow columns.

use datafusion_common::arrow::array::{
    Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, RecordBatchOptions,
};
use datafusion_common::arrow::compute::{concat_batches, filter_record_batch};
use datafusion_common::arrow::datatypes::SchemaRef;

use crate::Result;

#[derive(Clone, Debug)]
pub struct StreamChunk {
    rows: RecordBatch,
    weights: Int64Array,
}

impl StreamChunk {
    /// `rows` with one weight each; the weights must not be null.
    pub fn new(rows: RecordBatch, weights: Int64Array) -> StreamChunk {
        assert_eq!(rows.num_rows(), weights.len(), "one weight per row");
        debug_assert_eq!(weights.null_count(), 0, "weights are never null");
        StreamChunk { rows, weights }
    }

    /// Every row of `rows` inserted once.
    pub fn inserts(rows: RecordBatch) -> StreamChunk {
        let weights = Int64Array::from_value(1, rows.num_rows());
        StreamChunk::new(rows, weights)
    }

    /// Every row of `rows` deleted once.
    pub fn deletes(rows: RecordBatch) -> StreamChunk {
        let weights = Int64Array::from_value(-1, rows.num_rows());
        StreamChunk::new(rows, weights)
    }

    /// A chunk without rows.
    pub fn empty(schema: SchemaRef) -> StreamChunk {
        StreamChunk::new(
            RecordBatch::new_empty(schema),
            Int64Array::from(Vec::<i64>::new()),
        )
    }

    pub fn rows(&self) -> &RecordBatch {
        &self.rows
    }

    pub fn weights(&self) -> &Int64Array {
        &self.weights
    }

    pub fn schema(&self) -> SchemaRef {
        self.rows.schema()
    }

    pub fn len(&self) -> usize {
        self.rows.num_rows()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.num_rows() == 0
    }

    /// The chunk in consecutive pieces of at most `max_rows` rows (one empty piece for an
    /// empty chunk); pushed one after another they change what the whole chunk changes.
    pub fn pieces(&self, max_rows: usize) -> impl Iterator<Item = StreamChunk> + '_ {
        let max_rows = max_rows.max(1);
        let count = self.len().div_ceil(max_rows).max(1);
        (0..count).map(move |piece| {
            let offset = piece * max_rows;
            let length = max_rows.min(self.len() - offset);
            StreamChunk {
                rows: self.rows.slice(offset, length),
                weights: self.weights.slice(offset, length),
            }
        })
    }

    /// The same rows with every weight negated: undoes this chunk.
    pub fn negate(&self) -> StreamChunk {
        let weights: Int64Array = self.weights.values().iter().map(|w| -w).collect();
        StreamChunk::new(self.rows.clone(), weights)
    }

    /// The rows where `mask` is true (a null mask value drops the row).
    pub fn filter(&self, mask: &BooleanArray) -> Result<StreamChunk> {
        let rows = filter_record_batch(&self.rows, mask)?;
        let weights = datafusion_common::arrow::compute::filter(&self.weights, mask)?;
        Ok(StreamChunk::new(
            rows,
            weights
                .as_any()
                .downcast_ref::<Int64Array>()
                .expect("filtering keeps the type")
                .clone(),
        ))
    }

    /// The same weights over other columns (for example, a projection of these rows).
    pub fn with_columns(&self, schema: SchemaRef, columns: Vec<ArrayRef>) -> Result<StreamChunk> {
        let options = RecordBatchOptions::new().with_row_count(Some(self.len()));
        let rows = RecordBatch::try_new_with_options(schema, columns, &options)?;
        Ok(StreamChunk::new(rows, self.weights.clone()))
    }

    /// All rows of `chunks`, in order, as one chunk of `schema`.
    pub fn concat(schema: &SchemaRef, chunks: &[StreamChunk]) -> Result<StreamChunk> {
        let rows = concat_batches(schema, chunks.iter().map(|chunk| &chunk.rows))?;
        let weights: Int64Array = chunks
            .iter()
            .flat_map(|chunk| chunk.weights.values().iter().copied())
            .collect();
        Ok(StreamChunk::new(rows, weights))
    }

    /// The chunk's rows under `schema`, which must have the same column types (for
    /// example, the schema of the operator that emits it, with its own column names).
    pub fn with_schema(&self, schema: SchemaRef) -> Result<StreamChunk> {
        self.with_columns(schema, self.rows.columns().to_vec())
    }

    /// Every row repeated by the absolute value of its weight, with the sign kept: how a
    /// chunk of weights becomes plain inserted and deleted rows.
    pub fn unit_weights(&self) -> Result<StreamChunk> {
        if self.weights.values().iter().all(|w| w.abs() == 1) {
            return Ok(self.clone());
        }
        let mut indices = Vec::new();
        let mut weights = Vec::new();
        for (index, weight) in self.weights.values().iter().enumerate() {
            for _ in 0..weight.unsigned_abs() {
                indices.push(index as u32);
                weights.push(weight.signum());
            }
        }
        let indices = datafusion_common::arrow::array::UInt32Array::from(indices);
        let columns = self
            .rows
            .columns()
            .iter()
            .map(|column| datafusion_common::arrow::compute::take(column, &indices, None))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(indices.len()));
        let rows = RecordBatch::try_new_with_options(self.schema(), columns, &options)?;
        Ok(StreamChunk::new(rows, Int64Array::from(weights)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion_common::arrow::array::Int32Array;
    use datafusion_common::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch(values: Vec<i32>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int32, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int32Array::from(values))]).unwrap()
    }

    #[test]
    fn negate_filter_and_concat_keep_weights_with_rows() {
        let chunk = StreamChunk::new(batch(vec![1, 2, 3]), Int64Array::from(vec![1, -1, 2]));
        assert_eq!(chunk.negate().weights().values(), &[-1, 1, -2]);
        let kept = chunk
            .filter(&BooleanArray::from(vec![true, false, true]))
            .unwrap();
        assert_eq!(kept.weights().values(), &[1, 2]);
        let both = StreamChunk::concat(&chunk.schema(), &[chunk.clone(), kept]).unwrap();
        assert_eq!(both.len(), 5);
        assert_eq!(both.weights().values(), &[1, -1, 2, 1, 2]);
    }

    #[test]
    fn pieces_keep_rows_with_their_weights_in_order() {
        let chunk = StreamChunk::new(batch(vec![1, 2, 3]), Int64Array::from(vec![1, -1, 2]));
        let pieces: Vec<StreamChunk> = chunk.pieces(2).collect();
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces[0].weights().values(), &[1, -1]);
        assert_eq!(pieces[1].weights().values(), &[2]);
        let again = StreamChunk::concat(&chunk.schema(), &pieces).unwrap();
        assert_eq!(again.rows(), chunk.rows());
        let empty = StreamChunk::empty(chunk.schema());
        assert_eq!(empty.pieces(2).count(), 1);
    }

    #[test]
    fn unit_weights_repeat_rows() {
        let chunk = StreamChunk::new(batch(vec![7, 8]), Int64Array::from(vec![2, -3]));
        let units = chunk.unit_weights().unwrap();
        assert_eq!(units.weights().values(), &[1, 1, -1, -1, -1]);
        assert_eq!(units.len(), 5);
    }
}
