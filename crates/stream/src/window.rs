//! Window functions (`… OVER (PARTITION BY … ORDER BY … [frame])`) by recomputing the
//! partitions a chunk touches.
//!
//! Every input row is kept, with its multiplicity, keyed by its partition (the PARTITION
//! BY columns all the window functions share; none shared makes the whole input one
//! partition) and then the row. For each chunk, the touched partitions' rows are run
//! through DataFusion's window functions before and after the chunk is applied, and only
//! the difference is emitted, so a row whose window values did not change sends nothing.
//! The cost per chunk is linear in the size of the partitions it touches: fine for many
//! small partitions, slow for a window over a whole large table.
//!
//! Rows that tie in a window's ORDER BY are put in a fixed order (by their values), so a
//! partition's output is the same whenever it is recomputed; which of two tied rows gets
//! which `row_number()` is arbitrary in SQL too.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions, UInt32Array};
use datafusion::arrow::compute::{
    SortColumn, SortOptions, cast, concat, lexsort_to_indices, partition, take,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::DFSchema;
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, ExprSchemable};
use datafusion::physical_expr::window::WindowExpr;
use datafusion::physical_planner::create_window_expr;
use weir_common::comparable::groupable_all;
use weir_common::{Result, StreamChunk};
use weir_storage::{EpochWrite, ReadSnapshot};

use crate::counted_rows::{
    CountedRows, decoded_chunk, encoded_row, multiset_difference, partition_prefixes, row_fields,
};
use crate::expr::{Compiled, compile_all};
use crate::operator::Operator;
use crate::row_errors::{RowError, evaluate_or_skip};
use crate::state::StateTable;

pub(crate) struct Window {
    functions: Vec<Arc<dyn WindowExpr>>,
    /// The PARTITION BY expressions every function has.
    partition: Vec<Compiled>,
    partition_encoder: RowConverter,
    row_encoder: RowConverter,
    output_encoder: RowConverter,
    /// (partition, each length-prefixed, then the row) → multiplicity.
    rows: CountedRows,
    input_schema: SchemaRef,
    schema: SchemaRef,
}

impl Window {
    pub fn new(
        functions: &[Expr],
        input: &DFSchema,
        output: &DFSchema,
        state: StateTable,
        snapshot: &ReadSnapshot,
    ) -> Result<Window> {
        let shared = shared_partition(functions);
        let partition_fields = shared
            .iter()
            .map(|expr| Ok(SortField::new(expr.get_type(input)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Window {
            functions: functions
                .iter()
                .map(|function| {
                    Ok(create_window_expr(
                        function,
                        input,
                        &ExecutionProps::new(),
                        &PhysicalPlanningContext::default(),
                    )?)
                })
                .collect::<Result<_>>()?,
            partition: compile_all(&shared, input)?,
            partition_encoder: RowConverter::new(partition_fields)?,
            row_encoder: RowConverter::new(row_fields(input))?,
            output_encoder: RowConverter::new(row_fields(output))?,
            rows: CountedRows::load(state, snapshot)?,
            input_schema: Arc::new(input.as_arrow().clone()),
            schema: Arc::new(output.as_arrow().clone()),
        })
    }

    /// The output rows of the `partitions` (length-prefixed encodings), with their counts.
    fn outputs(&self, partitions: &[Vec<u8>]) -> Result<HashMap<Vec<u8>, i64>> {
        let mut encoded: Vec<&[u8]> = Vec::new();
        for partition in partitions {
            for (key, count) in self.rows.rows.range(partition.clone()..) {
                if !key.starts_with(partition) {
                    break;
                }
                let row = &key[partition.len()..];
                encoded.extend(std::iter::repeat_n(row, *count as usize));
            }
        }
        let mut outputs = HashMap::new();
        if encoded.is_empty() {
            return Ok(outputs);
        }
        let parser = self.row_encoder.parser();
        let columns = self
            .row_encoder
            .convert_rows(encoded.iter().map(|row| parser.parse(row)))?;
        let options = RecordBatchOptions::new().with_row_count(Some(encoded.len()));
        let batch =
            RecordBatch::try_new_with_options(self.input_schema.clone(), columns, &options)?;
        let mut columns = batch.columns().to_vec();
        for (function, field) in self
            .functions
            .iter()
            .zip(self.schema.fields().iter().skip(batch.num_columns()))
        {
            columns.push(cast(
                &evaluate(function.as_ref(), &batch)?,
                field.data_type(),
            )?);
        }
        for row in self.output_encoder.convert_columns(&columns)?.iter() {
            *outputs.entry(row.as_ref().to_vec()).or_default() += 1;
        }
        Ok(outputs)
    }
}

/// `function`'s value for every row of `batch`, in the batch's order: the rows are
/// sorted by partition, order and then all their values, and each partition evaluated.
fn evaluate(function: &dyn WindowExpr, batch: &RecordBatch) -> Result<ArrayRef> {
    let partition_columns = function
        .partition_by()
        .iter()
        .map(|expr| expr.evaluate(batch)?.into_array(batch.num_rows()))
        .collect::<datafusion::error::Result<Vec<_>>>()?;
    let mut sort_columns: Vec<SortColumn> = partition_columns
        .into_iter()
        .map(|values| SortColumn {
            values,
            options: None,
        })
        .collect();
    for order in function.order_by() {
        sort_columns.push(order.evaluate_to_sort_column(batch)?);
    }
    let partitions = function.partition_by().len();
    sort_columns.extend(batch.columns().iter().map(|values| SortColumn {
        values: values.clone(),
        options: Some(SortOptions::default()),
    }));
    let order = match sort_columns.is_empty() {
        true => UInt32Array::from_iter_values(0..batch.num_rows() as u32),
        false => lexsort_to_indices(&sort_columns, None)?,
    };
    let sorted_columns = batch
        .columns()
        .iter()
        .map(|column| take(column, &order, None))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(order.len()));
    let sorted = RecordBatch::try_new_with_options(batch.schema(), sorted_columns, &options)?;
    let sorted_partitions: Vec<ArrayRef> = sort_columns[..partitions]
        .iter()
        .map(|column| take(&column.values, &order, None))
        .collect::<std::result::Result<_, _>>()?;
    let ranges = match partitions {
        0 => std::iter::once(0..sorted.num_rows()).collect(),
        _ => partition(&sorted_partitions)?.ranges(),
    };
    let values = ranges
        .into_iter()
        .map(|range| function.evaluate(&sorted.slice(range.start, range.len())))
        .collect::<datafusion::error::Result<Vec<_>>>()?;
    let values = concat(&values.iter().map(AsRef::as_ref).collect::<Vec<_>>())?;
    // Back to the batch's order: the value at sorted position k belongs to row order[k].
    let mut position = vec![0u32; order.len()];
    for (k, row) in order.values().iter().enumerate() {
        position[*row as usize] = k as u32;
    }
    Ok(take(&values, &UInt32Array::from(position), None)?)
}

/// The PARTITION BY expressions all `functions` share, in the first one's order.
fn shared_partition(functions: &[Expr]) -> Vec<Expr> {
    let partitions: Vec<Vec<Expr>> = functions
        .iter()
        .map(|function| match function.clone().unalias() {
            Expr::WindowFunction(window) => window.params.partition_by,
            _ => vec![],
        })
        .collect();
    match partitions.split_first() {
        Some((first, others)) => first
            .iter()
            .filter(|expr| others.iter().all(|other| other.contains(expr)))
            .cloned()
            .collect(),
        None => vec![],
    }
}

impl Operator for Window {
    fn apply(
        &mut self,
        _input: usize,
        chunk: &StreamChunk,
        errors: &mut Vec<RowError>,
    ) -> Result<StreamChunk> {
        let (chunk, partition_columns) = evaluate_or_skip(&self.partition, chunk, errors)?;
        let partitions = self
            .partition_encoder
            .convert_columns(&groupable_all(&partition_columns))?;
        let rows = self.row_encoder.convert_columns(chunk.rows().columns())?;
        let (touched, prefixes) =
            partition_prefixes(&partitions, self.partition.len(), chunk.len());
        let mut keys = Vec::with_capacity(chunk.len());
        for (index, mut key) in prefixes.into_iter().enumerate() {
            key.0
                .extend_from_slice(encoded_row(&rows, chunk.rows().num_columns(), index));
            keys.push(key.0);
        }
        let before = self.outputs(&touched)?;
        for (key, weight) in keys.into_iter().zip(chunk.weights().values()) {
            self.rows.add(key, *weight);
        }
        let after = self.outputs(&touched)?;
        let changes = multiset_difference(&before, &after);
        if changes.is_empty() {
            return Ok(StreamChunk::empty(self.schema.clone()));
        }
        let rows: Vec<&[u8]> = changes.iter().map(|(row, _)| row.as_slice()).collect();
        let weights = changes.iter().map(|(_, w)| *w).collect();
        decoded_chunk(&self.output_encoder, &self.schema, &rows, vec![], weights)
    }

    fn persist(&mut self, write: &mut EpochWrite) -> Result<()> {
        self.rows.persist(write);
        Ok(())
    }
}
