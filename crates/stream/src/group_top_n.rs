//! Group top-N: per partition, the rows ranked at most N by `row_number()`, `rank()` or
//! `dense_rank()` in the window's order, each with its rank as an extra column.
//!
//! Every input row is kept, with its multiplicity, in one sorted map keyed by partition,
//! then order key, then the row itself (so ties fall in a fixed order). For each chunk,
//! the partitions it touches are ranked before and after applying it, and the difference
//! is emitted: a row whose rank changed is retracted with its old rank and inserted with
//! its new one. The cost per chunk is the size of the touched partitions' windows plus
//! their rows up to the Nth rank.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::UInt64Array;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::DFSchema;
use datafusion::logical_expr::{Expr, ExprSchemable, SortExpr};
use weir_common::comparable::{comparable_all, groupable_all};
use weir_common::{Result, StreamChunk};
use weir_planner::RankFunction;
use weir_storage::{EpochWrite, ReadSnapshot};

use crate::counted_rows::{
    CountedRows, decoded_chunk, encoded_row, multiset_difference, order_fields, ordered_key,
    partition_prefixes, row_fields, split_ordered_key,
};
use crate::expr::{Compiled, compile};
use crate::operator::Operator;
use crate::row_errors::{RowError, evaluate_or_skip};
use crate::state::StateTable;

pub(crate) struct GroupTopN {
    /// The partition expressions, then the order expressions.
    expressions: Vec<Compiled>,
    partitions: usize,
    partition_encoder: RowConverter,
    order_encoder: RowConverter,
    row_encoder: RowConverter,
    rank: RankFunction,
    limit: u64,
    /// (partition, order key, row) → multiplicity: the length-prefixed partition, then
    /// an [`ordered_key`].
    rows: CountedRows,
    /// The input's columns, and the output's (the input's and the rank).
    input_schema: SchemaRef,
    schema: SchemaRef,
}

/// A ranked window: (row, rank) → how often.
type Window = HashMap<(Vec<u8>, u64), i64>;

impl GroupTopN {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        partition: &[Expr],
        order: &[SortExpr],
        rank: RankFunction,
        limit: u64,
        input: &DFSchema,
        output: &DFSchema,
        state: StateTable,
        snapshot: &ReadSnapshot,
    ) -> Result<GroupTopN> {
        let partition_fields = partition
            .iter()
            .map(|expr| Ok(SortField::new(expr.get_type(input)?)))
            .collect::<Result<Vec<_>>>()?;
        let mut expressions = partition
            .iter()
            .map(|expr| compile(expr, input))
            .collect::<Result<Vec<_>>>()?;
        for sort in order {
            expressions.push(compile(&sort.expr, input)?);
        }
        Ok(GroupTopN {
            expressions,
            partitions: partition.len(),
            partition_encoder: RowConverter::new(partition_fields)?,
            order_encoder: RowConverter::new(order_fields(order, input)?)?,
            row_encoder: RowConverter::new(row_fields(input))?,
            rank,
            limit,
            rows: CountedRows::load(state, snapshot)?,
            input_schema: Arc::new(input.as_arrow().clone()),
            schema: Arc::new(output.as_arrow().clone()),
        })
    }

    /// The ranked rows of partition `partition` (its length-prefixed encoding).
    fn window(&self, partition: &[u8]) -> Result<Window> {
        let mut window = Window::new();
        let (mut position, mut dense, mut rank) = (0u64, 0u64, 0u64);
        let mut previous_order: Option<&[u8]> = None;
        for (key, count) in self.rows.rows.range(partition.to_vec()..) {
            if !key.starts_with(partition) {
                break;
            }
            let (order, row) = split_ordered_key(&key[partition.len()..])?;
            let tie = previous_order == Some(order);
            if !tie {
                dense += 1;
                rank = position + 1;
                previous_order = Some(order);
            }
            for _ in 0..*count {
                position += 1;
                let value = match self.rank {
                    RankFunction::RowNumber => position,
                    RankFunction::Rank => rank,
                    RankFunction::DenseRank => dense,
                };
                if value > self.limit {
                    return Ok(window);
                }
                *window.entry((row.to_vec(), value)).or_default() += 1;
            }
        }
        Ok(window)
    }
}

impl Operator for GroupTopN {
    fn apply(
        &mut self,
        _input: usize,
        chunk: &StreamChunk,
        errors: &mut Vec<RowError>,
    ) -> Result<StreamChunk> {
        let (chunk, mut columns) = evaluate_or_skip(&self.expressions, chunk, errors)?;
        let order_columns = columns.split_off(self.partitions);
        let partitions = self
            .partition_encoder
            .convert_columns(&groupable_all(&columns))?;
        let orders = self
            .order_encoder
            .convert_columns(&comparable_all(&order_columns))?;
        let rows = self.row_encoder.convert_columns(chunk.rows().columns())?;

        let (touched, prefixes) = partition_prefixes(&partitions, self.partitions, chunk.len());
        let mut keys = Vec::with_capacity(chunk.len());
        for (index, prefix) in prefixes.into_iter().enumerate() {
            let order = encoded_row(&orders, order_columns.len(), index);
            let row = encoded_row(&rows, chunk.rows().num_columns(), index);
            keys.push(ordered_key(prefix.0, order, row));
        }
        let before = touched
            .iter()
            .map(|partition| self.window(partition))
            .collect::<Result<Vec<_>>>()?;
        for (key, weight) in keys.into_iter().zip(chunk.weights().values()) {
            self.rows.add(key, *weight);
        }
        let mut changes: Vec<((Vec<u8>, u64), i64)> = Vec::new();
        for (partition, before) in touched.iter().zip(before) {
            let after = self.window(partition)?;
            changes.extend(multiset_difference(&before, &after));
        }
        if changes.is_empty() {
            return Ok(StreamChunk::empty(self.schema.clone()));
        }
        let rows: Vec<&[u8]> = changes.iter().map(|((row, _), _)| row.as_slice()).collect();
        let ranks = UInt64Array::from_iter_values(changes.iter().map(|((_, rank), _)| *rank));
        let rank_type = self
            .schema
            .field(self.input_schema.fields().len())
            .data_type();
        let ranks = cast(&ranks, rank_type)?;
        let weights = changes.iter().map(|(_, w)| *w).collect();
        decoded_chunk(&self.row_encoder, &self.schema, &rows, vec![ranks], weights)?.unit_weights()
    }

    fn persist(&mut self, write: &mut EpochWrite) -> Result<()> {
        self.rows.persist(write);
        Ok(())
    }
}
