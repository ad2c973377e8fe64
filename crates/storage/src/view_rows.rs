//! The rows of a materialized view as stored: a multiset.
//!
//! A view's rows need not be distinct (`SELECT customer FROM orders`), so each distinct
//! row is stored once, under the view's id and the row's memcomparable encoding, with its
//! multiplicity as the value. Rows therefore sort by their columns in SQL order, and the
//! changes of an epoch become one put or delete per changed row, written in key order.

use std::collections::BTreeMap;

use datafusion::arrow::array::{RecordBatch, UInt32Array};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::row::{RowConverter, SortField};
use weir_common::{Result, StreamChunk, WeirError};

use crate::keys;
use crate::snapshot::ReadSnapshot;
use crate::store::EpochWrite;

/// Rows decoded per batch when a view is read.
const READ_BATCH_ROWS: usize = 8192;

#[derive(Debug)]
pub struct ViewRows {
    id: u32,
    schema: SchemaRef,
    converter: RowConverter,
}

impl ViewRows {
    pub fn try_new(id: u32, schema: SchemaRef) -> Result<ViewRows> {
        let fields = schema
            .fields()
            .iter()
            .map(|field| SortField::new(field.data_type().clone()))
            .collect();
        Ok(ViewRows {
            id,
            schema,
            converter: RowConverter::new(fields)?,
        })
    }

    /// The view's object id.
    pub fn id(&self) -> u32 {
        self.id
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Adds the changes in `chunks` to the stored multiset, as of `latest`, to `write`.
    pub fn apply(
        &self,
        chunks: &[StreamChunk],
        latest: &ReadSnapshot,
        write: &mut EpochWrite,
    ) -> Result<()> {
        // In key order: RocksDB's memtable inserts a key after the one before it without
        // searching from the top, and the reads walk the same part of it.
        let mut changes: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
        for chunk in chunks {
            let rows = self.converter.convert_columns(chunk.rows().columns())?;
            for (row, weight) in rows.iter().zip(chunk.weights().values()) {
                *changes
                    .entry(keys::table_row(self.id, row.as_ref()))
                    .or_default() += weight;
            }
        }
        for (key, change) in changes {
            if change == 0 {
                continue;
            }
            let stored = match latest.get(&key)? {
                Some(count) => decode_count(&count)?,
                None => 0,
            };
            match stored + change {
                0 => write.delete(&key),
                count if count > 0 => write.put(&key, &count.to_le_bytes()),
                _ => {
                    return Err(WeirError::internal(format!(
                        "materialized view {} would hold a row a negative number of times",
                        self.id
                    )));
                }
            }
        }
        Ok(())
    }

    /// Every row of the view as of `snapshot`, each repeated as often as it occurs.
    pub fn read(&self, snapshot: &ReadSnapshot) -> Result<Vec<RecordBatch>> {
        let prefix = keys::table_prefix(self.id);
        let end = keys::prefix_end(&prefix);
        let mut batches = Vec::new();
        let mut rows: Vec<Vec<u8>> = Vec::new();
        let mut counts: Vec<i64> = Vec::new();
        let mut failure = None;
        snapshot.scan(&prefix, end.as_deref(), |key, value| {
            rows.push(key[prefix.len()..].to_vec());
            match decode_count(value) {
                Ok(count) => counts.push(count),
                Err(error) => failure = Some(error),
            }
            if rows.len() == READ_BATCH_ROWS {
                match self.decode(&rows, &counts) {
                    Ok(batch) => batches.push(batch),
                    Err(error) => failure = Some(error),
                }
                rows.clear();
                counts.clear();
            }
            failure.is_none()
        })?;
        if let Some(error) = failure {
            return Err(error);
        }
        if !rows.is_empty() {
            batches.push(self.decode(&rows, &counts)?);
        }
        Ok(batches)
    }

    fn decode(&self, rows: &[Vec<u8>], counts: &[i64]) -> Result<RecordBatch> {
        let parser = self.converter.parser();
        let columns = self
            .converter
            .convert_rows(rows.iter().map(|row| parser.parse(row)))?;
        let batch = RecordBatch::try_new(self.schema.clone(), columns)?;
        if counts.iter().all(|count| *count == 1) {
            return Ok(batch);
        }
        let repeated: UInt32Array = counts
            .iter()
            .enumerate()
            .flat_map(|(index, count)| std::iter::repeat_n(index as u32, *count as usize))
            .collect();
        let columns = batch
            .columns()
            .iter()
            .map(|column| take(column, &repeated, None))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

fn decode_count(bytes: &[u8]) -> Result<i64> {
    let bytes: [u8; 8] = bytes
        .try_into()
        .map_err(|_| WeirError::internal("corrupt row count in a materialized view"))?;
    Ok(i64::from_le_bytes(bytes))
}
