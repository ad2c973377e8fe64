//! Changes a connector feeds into a stored table, applied by primary key.
//!
//! Each row of a change is an upsert (weight +1: the row replaces the one with its key,
//! if any) or a delete by key (weight −1: only the key columns matter). Within one batch
//! the last change of a key wins. The result is the table's change as views see it: the
//! old versions of the rows touched, deleted, then the new versions, inserted; a row
//! upserted to the value it already has is no change at all. A table without a primary
//! key takes inserts only, each row under a new hidden row id.

use std::collections::HashMap;

use datafusion::arrow::array::{RecordBatch, UInt32Array};
use datafusion::arrow::compute::{filter_record_batch, take_record_batch};
use weir_common::{Result, StreamChunk, WeirError};

use crate::keys;
use crate::snapshot::ReadSnapshot;
use crate::store::EpochWrite;
use crate::table::StoredTable;

impl StoredTable {
    /// Adds `changes` (in the table's columns; NULLs only where a delete leaves them) to
    /// `write` against the rows as of `latest`; returns the table's change.
    pub fn apply_changes(
        &self,
        changes: &StreamChunk,
        latest: &ReadSnapshot,
        write: &mut EpochWrite,
    ) -> Result<StreamChunk> {
        let schema = self.codec.schema().clone();
        let upserted = changes
            .weights()
            .iter()
            .map(|weight| weight == Some(1))
            .collect();
        let upserts = filter_record_batch(changes.rows(), &upserted)?;
        let upserts = RecordBatch::try_new(schema.clone(), upserts.columns().to_vec())?;
        let values = self.codec.encode_values(&upserts)?;
        let Some(keys) = self.codec.encode_keys(changes.rows())? else {
            if changes.weights().iter().any(|weight| weight != Some(1)) {
                return Err(WeirError::internal(format!(
                    "a delete reached table {}, which has no primary key",
                    self.descriptor.name
                )));
            }
            let first = self
                .store
                .allocate_row_ids(self.descriptor.id, upserts.num_rows() as u64)?;
            for row in 0..upserts.num_rows() {
                let key = (first + row as u64).to_be_bytes();
                write.put(
                    &keys::table_row(self.descriptor.id, &key),
                    values.row(row).as_ref(),
                );
            }
            return Ok(StreamChunk::inserts(upserts));
        };
        // The last change of each key: the position of its upserted row, or none.
        let mut last: HashMap<&[u8], Option<usize>> = HashMap::new();
        let mut order: Vec<&[u8]> = Vec::new();
        let mut next_upsert = 0;
        for (row, weight) in changes.weights().iter().enumerate() {
            let key = keys.row(row);
            let change = match weight == Some(1) {
                true => {
                    next_upsert += 1;
                    Some(next_upsert - 1)
                }
                false => None,
            };
            if last.insert(key.data(), change).is_none() {
                order.push(key.data());
            }
        }
        let mut old_values = Vec::new();
        let mut inserted = Vec::new();
        for key in order {
            let stored_key = keys::table_row(self.descriptor.id, key);
            let old = latest.get(&stored_key)?;
            match last[key] {
                Some(row) if old.as_deref() == Some(values.row(row).as_ref()) => continue,
                Some(row) => {
                    write.put(&stored_key, values.row(row).as_ref());
                    inserted.push(row as u32);
                }
                None if old.is_some() => write.delete(&stored_key),
                None => continue,
            }
            old_values.extend(old);
        }
        let deleted = self
            .codec
            .decode_values(old_values.iter().map(Vec::as_slice))?;
        let inserted = take_record_batch(&upserts, &UInt32Array::from(inserted))?;
        StreamChunk::concat(
            &schema,
            &[
                StreamChunk::deletes(deleted),
                StreamChunk::inserts(inserted),
            ],
        )
    }
}
