//! Top-N: the rows `offset + 1` to `offset + limit` of the input in the query's order.
//!
//! Keeps every input row (with its multiplicity) in a sorted map keyed by the ORDER BY
//! values in their memcomparable encoding, then the whole row, so ties fall in a fixed
//! order. For each chunk the operator reads the window of rows before and after applying
//! it and emits the difference: a row leaving the window is retracted, one entering it is
//! inserted. The cost per chunk is the window's size, not the input's.

use std::collections::HashMap;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::row::RowConverter;
use datafusion::common::DFSchema;
use datafusion::logical_expr::SortExpr;
use weir_common::comparable::comparable_all;
use weir_common::{Result, StreamChunk};
use weir_storage::{EpochWrite, ReadSnapshot};

use crate::counted_rows::{
    CountedRows, decoded_chunk, encoded_row, multiset_difference, order_fields, ordered_key,
    row_fields, split_ordered_key,
};
use crate::expr::{Compiled, compile};
use crate::operator::Operator;
use crate::row_errors::{RowError, evaluate_or_skip};
use crate::state::StateTable;

pub(crate) struct TopN {
    order: Vec<Compiled>,
    order_encoder: RowConverter,
    row_encoder: RowConverter,
    offset: usize,
    limit: usize,
    /// (order key, row) → multiplicity, keyed by [`ordered_key`] so that rows with equal
    /// order keys sort by their values.
    rows: CountedRows,
    schema: SchemaRef,
}

impl TopN {
    pub fn new(
        order: &[SortExpr],
        offset: usize,
        limit: usize,
        input: &DFSchema,
        state: StateTable,
        snapshot: &ReadSnapshot,
    ) -> Result<TopN> {
        Ok(TopN {
            order: order
                .iter()
                .map(|sort| compile(&sort.expr, input))
                .collect::<Result<_>>()?,
            order_encoder: RowConverter::new(order_fields(order, input)?)?,
            row_encoder: RowConverter::new(row_fields(input))?,
            offset,
            limit,
            rows: CountedRows::load(state, snapshot)?,
            schema: std::sync::Arc::new(input.as_arrow().clone()),
        })
    }

    /// The rows in the window, each with how often it is in it.
    fn window(&self) -> HashMap<Vec<u8>, i64> {
        let mut window = HashMap::new();
        let (mut position, end) = (0usize, self.offset + self.limit);
        for (key, count) in &self.rows.rows {
            let count = *count as usize;
            let from = position.max(self.offset);
            let to = (position + count).min(end);
            if to > from {
                *window.entry(key.clone()).or_default() += (to - from) as i64;
            }
            position += count;
            if position >= end {
                break;
            }
        }
        window
    }
}

impl Operator for TopN {
    fn apply(
        &mut self,
        _input: usize,
        chunk: &StreamChunk,
        errors: &mut Vec<RowError>,
    ) -> Result<StreamChunk> {
        let (chunk, order_columns) = evaluate_or_skip(&self.order, chunk, errors)?;
        let order_keys = self
            .order_encoder
            .convert_columns(&comparable_all(&order_columns))?;
        let rows = self.row_encoder.convert_columns(chunk.rows().columns())?;
        let before = self.window();
        for (index, weight) in chunk.weights().values().iter().enumerate() {
            let row = encoded_row(&rows, chunk.rows().num_columns(), index);
            let key = ordered_key(Vec::new(), order_keys.row(index).as_ref(), row);
            self.rows.add(key, *weight);
        }
        let after = self.window();
        let changed = multiset_difference(&before, &after);
        if changed.is_empty() {
            return Ok(StreamChunk::empty(self.schema.clone()));
        }
        let rows = changed
            .iter()
            .map(|(key, _)| Ok(split_ordered_key(key)?.1))
            .collect::<Result<Vec<_>>>()?;
        let weights = changed.iter().map(|(_, w)| *w).collect();
        decoded_chunk(&self.row_encoder, &self.schema, &rows, vec![], weights)?.unit_weights()
    }

    fn persist(&mut self, write: &mut EpochWrite) -> Result<()> {
        self.rows.persist(write);
        Ok(())
    }
}
