//! Symmetric hash join with retraction, for inner, outer, semi and anti joins.
//!
//! Each side keeps its rows by join key, each distinct row with its weight and, on a side
//! whose unmatched rows appear in the output (the left of LEFT/FULL/semi/anti joins, the
//! right of RIGHT/FULL and right semi/anti joins), its *degree*: the weighted number of
//! rows of the other side it matches, extra condition included.
//!
//! A chunk on one side is joined with the other side's current rows (Δ(L⋈R) = ΔL⋈R for a
//! left chunk), and then added to its own side. Unmatched rows follow their degree: when a
//! preserved row's degree goes from 0 to non-zero its NULL-padded row (outer joins) or the
//! row itself (anti joins) is retracted, and emitted again when the degree returns to 0;
//! semi joins do the opposite. NULL keys never match unless the join says NULLs are equal
//! (`IS NOT DISTINCT FROM`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, UInt32Array, new_null_array,
};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::{DFSchema, JoinType, NullEquality};
use datafusion::logical_expr::{Expr, ExprSchemable};
use weir_common::comparable::comparable_all;
use weir_common::{Result, StreamChunk};
use weir_storage::{EpochWrite, ReadSnapshot};

use crate::counted_rows::{encoded_row, row_fields};
use crate::expr::{Compiled, compile};
use crate::operator::Operator;
use crate::row_errors::{RowError, evaluate_or_skip, mask_or_skip};
use crate::state::{Decoder, Encoder, StateTable};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Entry {
    weight: i64,
    degree: i64,
}

/// What a side's unmatched or matched rows contribute to the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Preserve {
    /// Only matched pairs appear (inner joins, and the other side of outer joins).
    No,
    /// Unmatched rows appear padded with NULLs (outer joins).
    Padded,
    /// Rows appear alone while they have a match (semi joins).
    Matched,
    /// Rows appear alone while they have no match (anti joins).
    Unmatched,
}

struct Side {
    keys: Vec<Compiled>,
    key_encoder: RowConverter,
    row_encoder: RowConverter,
    schema: SchemaRef,
    preserve: Preserve,
    rows: HashMap<Vec<u8>, HashMap<Vec<u8>, Entry>>,
    dirty: HashSet<(Vec<u8>, Vec<u8>)>,
}

impl Side {
    fn new(keys: &[Expr], schema: &DFSchema, preserve: Preserve) -> Result<Side> {
        let key_fields = keys
            .iter()
            .map(|key| Ok(SortField::new(key.get_type(schema)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Side {
            keys: keys
                .iter()
                .map(|key| compile(key, schema))
                .collect::<Result<_>>()?,
            key_encoder: RowConverter::new(key_fields)?,
            row_encoder: RowConverter::new(row_fields(schema))?,
            schema: Arc::new(schema.as_arrow().clone()),
            preserve,
            rows: HashMap::new(),
            dirty: HashSet::new(),
        })
    }

    fn decode_rows(&self, rows: &[&[u8]]) -> Result<Vec<ArrayRef>> {
        let parser = self.row_encoder.parser();
        Ok(self
            .row_encoder
            .convert_rows(rows.iter().map(|row| parser.parse(row)))?)
    }
}

pub(crate) struct Join {
    sides: [Side; 2],
    emits_pairs: bool,
    filter: Option<Compiled>,
    nulls_equal: bool,
    /// Left columns then right columns: the pairs the filter sees.
    pair_schema: SchemaRef,
    schema: SchemaRef,
    state: StateTable,
}

impl Join {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        join_type: JoinType,
        on: &[(Expr, Expr)],
        filter: Option<&Expr>,
        null_equality: NullEquality,
        left: &DFSchema,
        right: &DFSchema,
        output: &DFSchema,
        state: StateTable,
        snapshot: &ReadSnapshot,
    ) -> Result<Join> {
        use Preserve::*;
        let (left_preserve, right_preserve, emits_pairs) = match join_type {
            JoinType::Inner => (No, No, true),
            JoinType::Left => (Padded, No, true),
            JoinType::Right => (No, Padded, true),
            JoinType::Full => (Padded, Padded, true),
            JoinType::LeftSemi => (Matched, No, false),
            JoinType::LeftAnti => (Unmatched, No, false),
            JoinType::RightSemi => (No, Matched, false),
            JoinType::RightAnti => (No, Unmatched, false),
            other => {
                return Err(weir_common::WeirError::not_supported(format!(
                    "{other} joins in a materialized view"
                )));
            }
        };
        let left_keys: Vec<Expr> = on.iter().map(|(l, _)| l.clone()).collect();
        let right_keys: Vec<Expr> = on.iter().map(|(_, r)| r.clone()).collect();
        let pairs = left.join(right)?;
        let mut join = Join {
            sides: [
                Side::new(&left_keys, left, left_preserve)?,
                Side::new(&right_keys, right, right_preserve)?,
            ],
            emits_pairs,
            filter: filter.map(|f| compile(f, &pairs)).transpose()?,
            nulls_equal: null_equality == NullEquality::NullEqualsNull,
            pair_schema: Arc::new(pairs.as_arrow().clone()),
            schema: Arc::new(output.as_arrow().clone()),
            state,
        };
        join.load(snapshot)?;
        Ok(join)
    }

    fn load(&mut self, snapshot: &ReadSnapshot) -> Result<()> {
        let sides = &mut self.sides;
        self.state.load(snapshot, |key, value| {
            let mut decoder = Decoder(key);
            let side = decoder.bytes()?;
            let join_key = decoder.bytes()?;
            let row = decoder.0.to_vec();
            let mut value = Decoder(value);
            let entry = Entry {
                weight: value.i64()?,
                degree: value.i64()?,
            };
            sides[usize::from(side.first() == Some(&1))]
                .rows
                .entry(join_key)
                .or_default()
                .insert(row, entry);
            Ok(())
        })
    }

    /// Output rows made of one side's rows and NULLs for the other side's columns.
    fn padded(
        &self,
        side: usize,
        columns: Vec<ArrayRef>,
        weights: Vec<i64>,
    ) -> Result<StreamChunk> {
        let rows = weights.len();
        let nulls = |schema: &Schema| -> Vec<ArrayRef> {
            schema
                .fields()
                .iter()
                .map(|field| new_null_array(field.data_type(), rows))
                .collect()
        };
        let all = match side {
            0 => [columns, nulls(&self.sides[1].schema)].concat(),
            _ => [nulls(&self.sides[0].schema), columns].concat(),
        };
        chunk_of(self.schema.clone(), all, weights)
    }

    /// Output rows made of one side's rows alone (semi and anti joins).
    fn alone(&self, columns: Vec<ArrayRef>, weights: Vec<i64>) -> Result<StreamChunk> {
        chunk_of(self.schema.clone(), columns, weights)
    }

    /// Output for unmatched or matched rows of `side`, whose columns are `columns`.
    fn preserved(
        &self,
        side: usize,
        columns: Vec<ArrayRef>,
        weights: Vec<i64>,
    ) -> Result<StreamChunk> {
        match self.sides[side].preserve {
            Preserve::Padded => self.padded(side, columns, weights),
            _ => self.alone(columns, weights),
        }
    }
}

fn chunk_of(schema: SchemaRef, columns: Vec<ArrayRef>, weights: Vec<i64>) -> Result<StreamChunk> {
    let options =
        datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(weights.len()));
    let rows = RecordBatch::try_new_with_options(schema, columns, &options)?;
    Ok(StreamChunk::new(rows, Int64Array::from(weights)))
}

impl Operator for Join {
    fn apply(
        &mut self,
        input: usize,
        chunk: &StreamChunk,
        errors: &mut Vec<RowError>,
    ) -> Result<StreamChunk> {
        let (this, other) = (input, 1 - input);
        let (chunk, key_columns) = evaluate_or_skip(&self.sides[this].keys, chunk, errors)?;
        let rows = chunk.rows();
        let weights = chunk.weights().values();
        let keys = self.sides[this]
            .key_encoder
            .convert_columns(&comparable_all(&key_columns))?;
        let key_of = |i: usize| encoded_row(&keys, key_columns.len(), i);
        let encoded_rows = self.sides[this]
            .row_encoder
            .convert_columns(rows.columns())?;
        let matchable: Vec<bool> = (0..chunk.len())
            .map(|i| self.nulls_equal || key_columns.iter().all(|column| column.is_valid(i)))
            .collect();

        // Candidate pairs: each input row with each stored row of the other side that has
        // the same key.
        let mut this_index: Vec<u32> = Vec::new();
        let mut other_key: Vec<&[u8]> = Vec::new();
        let mut other_row: Vec<&[u8]> = Vec::new();
        let mut other_weight: Vec<i64> = Vec::new();
        for (i, _) in matchable
            .iter()
            .enumerate()
            .filter(|(_, matchable)| **matchable)
        {
            if let Some((key, bucket)) = self.sides[other].rows.get_key_value(key_of(i)) {
                for (row, entry) in bucket {
                    this_index.push(i as u32);
                    other_key.push(key);
                    other_row.push(row);
                    other_weight.push(entry.weight);
                }
            }
        }
        let this_index = UInt32Array::from(this_index);
        let this_columns = rows
            .columns()
            .iter()
            .map(|column| take(column, &this_index, None))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let other_columns = self.sides[other].decode_rows(&other_row)?;
        let pair_columns = match this {
            0 => [this_columns, other_columns].concat(),
            _ => [other_columns, this_columns].concat(),
        };
        let options = datafusion::arrow::array::RecordBatchOptions::new()
            .with_row_count(Some(this_index.len()));
        let pairs =
            RecordBatch::try_new_with_options(self.pair_schema.clone(), pair_columns, &options)?;
        let matched: BooleanArray = match &self.filter {
            Some(filter) => mask_or_skip(filter, &pairs, errors)?,
            None => BooleanArray::from(vec![true; pairs.num_rows()]),
        };

        let mut outputs = Vec::new();
        if self.emits_pairs {
            let pair_weights: Vec<i64> = this_index
                .values()
                .iter()
                .zip(&other_weight)
                .map(|(i, w)| weights[*i as usize] * w)
                .collect();
            let all = StreamChunk::new(pairs.clone(), Int64Array::from(pair_weights));
            outputs.push(all.filter(&matched)?.with_schema(self.schema.clone())?);
        }

        // Degrees of the input rows, and changes of the other side's degrees.
        let mut degree = vec![0i64; chunk.len()];
        let mut other_change: HashMap<(&[u8], &[u8]), i64> = HashMap::new();
        for (pair, i) in this_index.values().iter().enumerate() {
            if matched.value(pair) {
                degree[*i as usize] += other_weight[pair];
                *other_change
                    .entry((other_key[pair], other_row[pair]))
                    .or_default() += weights[*i as usize];
            }
        }

        // This side's preserved rows, unmatched or matched as the join wants.
        let emit_this = |d: i64| match self.sides[this].preserve {
            Preserve::Padded | Preserve::Unmatched => d == 0,
            Preserve::Matched => d != 0,
            Preserve::No => false,
        };
        let chosen: Vec<u32> = (0..chunk.len())
            .filter(|i| emit_this(degree[*i]))
            .map(|i| i as u32)
            .collect();
        if !chosen.is_empty() {
            let chosen = UInt32Array::from(chosen);
            let columns = rows
                .columns()
                .iter()
                .map(|column| take(column, &chosen, None))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let chosen_weights = chosen
                .values()
                .iter()
                .map(|i| weights[*i as usize])
                .collect();
            outputs.push(self.preserved(this, columns, chosen_weights)?);
        }

        // The other side's preserved rows whose matched state changed.
        let mut flipped_rows: Vec<&[u8]> = Vec::new();
        let mut flipped_weights: Vec<i64> = Vec::new();
        let mut degree_updates: Vec<(Vec<u8>, Vec<u8>, i64)> = Vec::new();
        if self.sides[other].preserve != Preserve::No {
            for ((key, row), change) in &other_change {
                let entry = self.sides[other].rows[*key][*row];
                let new_degree = entry.degree + change;
                let was_matched = entry.degree != 0;
                let is_matched = new_degree != 0;
                if was_matched != is_matched {
                    // Padded and anti rows show while unmatched, semi rows while matched.
                    let shows_now = match self.sides[other].preserve {
                        Preserve::Matched => is_matched,
                        _ => !is_matched,
                    };
                    flipped_rows.push(row);
                    flipped_weights.push(if shows_now {
                        entry.weight
                    } else {
                        -entry.weight
                    });
                }
                degree_updates.push((key.to_vec(), row.to_vec(), new_degree));
            }
        }
        if !flipped_rows.is_empty() {
            let columns = self.sides[other].decode_rows(&flipped_rows)?;
            outputs.push(self.preserved(other, columns, flipped_weights)?);
        }
        for (key, row, new_degree) in degree_updates {
            if let Some(entry) = self.sides[other]
                .rows
                .get_mut(&key)
                .and_then(|bucket| bucket.get_mut(&row))
            {
                entry.degree = new_degree;
            }
            self.sides[other].dirty.insert((key, row));
        }

        // Finally this side's rows join its state.
        let side = &mut self.sides[this];
        for i in 0..chunk.len() {
            if !matchable[i] {
                continue;
            }
            let key = key_of(i).to_vec();
            let row = encoded_row(&encoded_rows, rows.num_columns(), i).to_vec();
            let bucket = side.rows.entry(key.clone()).or_default();
            let entry = bucket.entry(row.clone()).or_default();
            entry.weight += weights[i];
            entry.degree = degree[i];
            if entry.weight == 0 {
                bucket.remove(&row);
                if bucket.is_empty() {
                    side.rows.remove(&key);
                }
            }
            side.dirty.insert((key, row));
        }

        StreamChunk::concat(&self.schema, &outputs)
    }

    fn persist(&mut self, write: &mut EpochWrite) -> Result<()> {
        for (index, side) in self.sides.iter_mut().enumerate() {
            for (key, row) in side.dirty.drain() {
                let mut state_key = Encoder::default();
                state_key.bytes(&[index as u8]);
                state_key.bytes(&key);
                state_key.0.extend_from_slice(&row);
                match side.rows.get(&key).and_then(|bucket| bucket.get(&row)) {
                    Some(entry) => {
                        let mut value = Encoder::default();
                        value.i64(entry.weight);
                        value.i64(entry.degree);
                        self.state.put(write, &state_key.0, &value.0);
                    }
                    None => self.state.delete(write, &state_key.0),
                }
            }
        }
        Ok(())
    }
}
