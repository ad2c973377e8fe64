//! A sorted multiset of encoded rows, persisted in an operator's state table: what the
//! top-N operators keep of their input; and the row encodings the stateful operators
//! share.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hash;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, RecordBatchOptions};
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::row::{RowConverter, Rows, SortField};
use datafusion::common::DFSchema;
use datafusion::logical_expr::{ExprSchemable, SortExpr};
use weir_common::{Result, StreamChunk};
use weir_storage::{EpochWrite, ReadSnapshot};

use crate::state::{Decoder, Encoder, StateTable};

/// Encoding fields that sort as `order` does (direction and NULL placement).
pub(crate) fn order_fields(order: &[SortExpr], input: &DFSchema) -> Result<Vec<SortField>> {
    order
        .iter()
        .map(|sort| {
            let options = SortOptions {
                descending: !sort.asc,
                nulls_first: sort.nulls_first,
            };
            Ok(SortField::new_with_options(
                sort.expr.get_type(input)?,
                options,
            ))
        })
        .collect()
}

/// Encoding fields for whole rows of `schema`.
pub(crate) fn row_fields(schema: &DFSchema) -> Vec<SortField> {
    schema
        .fields()
        .iter()
        .map(|field| SortField::new(field.data_type().clone()))
        .collect()
}

/// Row `index` of `encoded`, an encoding of `columns` columns. Without columns (a cross
/// join's key, or a side none of whose columns are used) arrow-row encodes no rows, and
/// every row is the same, empty one.
pub(crate) fn encoded_row(encoded: &Rows, columns: usize, index: usize) -> &[u8] {
    match columns {
        0 => &[],
        _ => encoded.row(index).data(),
    }
}

/// A sorted-multiset key that sorts by `order` (a key of [`order_fields`]), then by `row`:
/// `prefix`, `order`, `row`, then the length of `order`. Keys of arrow's row format are
/// prefix-free, so two keys with different orders differ within the shorter order and
/// sort as the orders do; the length comes last, where it cannot affect the order.
pub(crate) fn ordered_key(mut prefix: Vec<u8>, order: &[u8], row: &[u8]) -> Vec<u8> {
    prefix.reserve(order.len() + row.len() + 4);
    prefix.extend_from_slice(order);
    prefix.extend_from_slice(row);
    prefix.extend_from_slice(&(order.len() as u32).to_be_bytes());
    prefix
}

/// The order key and the row of `key`, a key of [`ordered_key`] without its prefix.
pub(crate) fn split_ordered_key(key: &[u8]) -> Result<(&[u8], &[u8])> {
    let truncated = || weir_common::WeirError::internal("operator state is truncated");
    let (body, length) = key
        .split_at_checked(key.len().wrapping_sub(4))
        .ok_or_else(truncated)?;
    let length = u32::from_be_bytes(length.try_into().map_err(|_| truncated())?) as usize;
    body.split_at_checked(length).ok_or_else(truncated)
}

/// What turns multiset `before` into `after`: each element whose count changed, with
/// the change.
pub(crate) fn multiset_difference<K: Eq + Hash + Clone>(
    before: &HashMap<K, i64>,
    after: &HashMap<K, i64>,
) -> Vec<(K, i64)> {
    let mut changes = Vec::new();
    for (element, count) in after {
        let difference = count - before.get(element).copied().unwrap_or(0);
        if difference != 0 {
            changes.push((element.clone(), difference));
        }
    }
    for (element, count) in before {
        if !after.contains_key(element) {
            changes.push((element.clone(), -count));
        }
    }
    changes
}

/// For each of `rows` rows, its partition (from `partitions`, an encoding of `columns`
/// columns) length-prefixed as the state keys of partitioned operators begin, and the
/// distinct partitions in the order the rows first touch them.
pub(crate) fn partition_prefixes(
    partitions: &Rows,
    columns: usize,
    rows: usize,
) -> (Vec<Vec<u8>>, Vec<Encoder>) {
    let mut touched = Vec::new();
    let mut seen = HashSet::new();
    let mut prefixes = Vec::with_capacity(rows);
    for index in 0..rows {
        let mut prefix = Encoder::default();
        prefix.bytes(encoded_row(partitions, columns, index));
        if seen.insert(prefix.0.clone()) {
            touched.push(prefix.0.clone());
        }
        prefixes.push(prefix);
    }
    (touched, prefixes)
}

/// A chunk of `schema` whose rows are `rows` decoded by `encoder`, followed by the
/// `extra` columns, with `weights`.
pub(crate) fn decoded_chunk(
    encoder: &RowConverter,
    schema: &SchemaRef,
    rows: &[&[u8]],
    extra: Vec<ArrayRef>,
    weights: Vec<i64>,
) -> Result<StreamChunk> {
    let parser = encoder.parser();
    let mut columns = encoder.convert_rows(rows.iter().map(|row| parser.parse(row)))?;
    columns.extend(extra);
    let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
    let batch = RecordBatch::try_new_with_options(schema.clone(), columns, &options)?;
    Ok(StreamChunk::new(batch, Int64Array::from(weights)))
}

pub(crate) struct CountedRows {
    /// Key → multiplicity; never zero.
    pub rows: BTreeMap<Vec<u8>, i64>,
    dirty: HashSet<Vec<u8>>,
    state: StateTable,
}

impl CountedRows {
    /// The multiset stored in `state` as of `snapshot`.
    pub fn load(state: StateTable, snapshot: &ReadSnapshot) -> Result<CountedRows> {
        let mut rows = BTreeMap::new();
        state.load(snapshot, |key, value| {
            rows.insert(key.to_vec(), Decoder(value).i64()?);
            Ok(())
        })?;
        Ok(CountedRows {
            rows,
            dirty: HashSet::new(),
            state,
        })
    }

    /// Adds `weight` copies of `key` (negative to remove).
    pub fn add(&mut self, key: Vec<u8>, weight: i64) {
        let count = self.rows.entry(key.clone()).or_default();
        *count += weight;
        if *count == 0 {
            self.rows.remove(&key);
        }
        self.dirty.insert(key);
    }

    /// Writes the keys changed since the last call.
    pub fn persist(&mut self, write: &mut EpochWrite) {
        for key in self.dirty.drain() {
            match self.rows.get(&key) {
                Some(count) => {
                    let mut value = Encoder::default();
                    value.i64(*count);
                    self.state.put(write, &key, &value.0);
                }
                None => self.state.delete(write, &key),
            }
        }
    }
}
