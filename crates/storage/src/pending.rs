//! Table changes whose view maintenance is deferred to the next barrier.
//!
//! A statement from a session with `implicit_flush` off commits its table change at once
//! and, in the same atomic write, the change itself (the rows with their +1/−1 weights,
//! in Arrow IPC) under a `Pending` key ordered by commit epoch. A barrier later applies
//! the pending changes to the views in that order and deletes them in the write that
//! commits the views' new rows and state, so each change reaches the views exactly once,
//! across crashes too.

use std::io::Cursor;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use weir_common::{Result, StreamChunk, WeirError};

use crate::keys;
use crate::snapshot::ReadSnapshot;
use crate::store::EpochWrite;

/// In a statement's DataFusion config: its table changes leave view maintenance to the
/// next barrier.
#[derive(Debug)]
pub struct DeferMaintenance;

/// The weight column's name in the stored form of a change.
const WEIGHT_COLUMN: &str = "__weir_weight";

/// One deferred change.
pub struct PendingChange {
    /// Where it is stored; deleted when the change is applied.
    pub key: Vec<u8>,
    pub table_id: u32,
    pub changes: StreamChunk,
}

/// The pending-change space.
pub struct PendingChanges;

impl PendingChanges {
    /// Adds `changes` of `table_id` to `write`, which commits as the epoch after `latest`.
    pub fn add(
        latest: &ReadSnapshot,
        table_id: u32,
        changes: &StreamChunk,
        write: &mut EpochWrite,
    ) -> Result<()> {
        let key = keys::pending_change(latest.epoch() + 1, table_id);
        write.put(&key, &encode(changes)?);
        Ok(())
    }

    /// Every pending change as of `snapshot`, oldest first.
    pub fn read(snapshot: &ReadSnapshot) -> Result<Vec<PendingChange>> {
        let (start, end) = keys::pending_range();
        let mut stored = Vec::new();
        snapshot.scan(&start, Some(&end), |key, value| {
            stored.push((key.to_vec(), value.to_vec()));
            true
        })?;
        stored
            .into_iter()
            .map(|(key, value)| {
                let table = key
                    .get(9..13)
                    .and_then(|bytes| bytes.try_into().ok())
                    .map(u32::from_be_bytes)
                    .ok_or_else(|| WeirError::internal("malformed pending-change key"))?;
                Ok(PendingChange {
                    key,
                    table_id: table,
                    changes: decode(&value)?,
                })
            })
            .collect()
    }
}

/// The rows with their weights as one more column, in an Arrow IPC stream.
fn encode(changes: &StreamChunk) -> Result<Vec<u8>> {
    let rows = changes.rows();
    let mut fields = rows.schema().fields().to_vec();
    fields.push(Arc::new(Field::new(WEIGHT_COLUMN, DataType::Int64, false)));
    let schema = Arc::new(Schema::new_with_metadata(
        fields,
        rows.schema().metadata().clone(),
    ));
    let mut columns = rows.columns().to_vec();
    columns.push(Arc::new(changes.weights().clone()));
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    let mut bytes = Vec::new();
    let mut writer = StreamWriter::try_new(&mut bytes, &schema)?;
    writer.write(&batch)?;
    writer.finish()?;
    drop(writer);
    Ok(bytes)
}

fn decode(bytes: &[u8]) -> Result<StreamChunk> {
    let reader = StreamReader::try_new(Cursor::new(bytes), None)?;
    let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
    let [batch] = batches.as_slice() else {
        return Err(WeirError::internal("a pending change holds one batch"));
    };
    let weight_index = batch.num_columns() - 1;
    let weights = batch
        .column(weight_index)
        .as_primitive::<Int64Type>()
        .clone();
    let mut rows = batch.clone();
    rows.remove_column(weight_index);
    Ok(StreamChunk::new(rows, weights))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int32Array, Int64Array};

    use super::*;

    #[test]
    fn a_change_survives_its_stored_form() {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int32, true)]));
        let rows = RecordBatch::try_new(
            schema,
            vec![Arc::new(Int32Array::from(vec![Some(1), None]))],
        )
        .unwrap();
        let chunk = StreamChunk::new(rows, Int64Array::from(vec![1, -1]));
        let decoded = decode(&encode(&chunk).unwrap()).unwrap();
        assert_eq!(decoded.rows(), chunk.rows());
        assert_eq!(decoded.weights(), chunk.weights());
    }
}
