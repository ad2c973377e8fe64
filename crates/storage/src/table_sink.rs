//! The end of every DML plan: gathers the statement's rows, checks constraints against the
//! latest committed state, and commits all of its changes as one epoch.
//!
//! * `Insert` receives new rows in the table's schema.
//! * `Delete` receives only the storage keys of the rows to remove.
//! * `Update` receives the new version of each row followed by its old storage key.
//!
//! Constraints are checked in full before anything is written, so a statement either
//! applies completely or not at all. The statement's [`Interrupt`] (a session config
//! extension) stops it before it commits: while it reads its input, waits for the write
//! lock, or maintains the views.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::datasource::sink::DataSink;
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType};
use futures::TryStreamExt;
use weir_common::json::{canonical_json_column, is_json};
use weir_common::varchar::{check_varchar_length, varchar_length};
use weir_common::{Interrupt, SqlState, StreamChunk, WeirError};

use crate::keys;
use crate::pending::{DeferMaintenance, PendingChanges};
use crate::row_codec::RowCodec;
use crate::snapshot::ReadSnapshot;
use crate::store::{EpochWrite, Store};
use crate::table::StoredTable;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SinkMode {
    Insert,
    Delete,
    Update,
}

#[derive(Debug)]
pub(crate) struct TableSink {
    table_id: u32,
    table_name: String,
    codec: Arc<RowCodec>,
    store: Arc<Store>,
    input_schema: SchemaRef,
    mode: SinkMode,
}

impl TableSink {
    pub fn new(table: &StoredTable, input_schema: SchemaRef, mode: SinkMode) -> Self {
        TableSink {
            table_id: table.descriptor.id,
            table_name: table.descriptor.name.clone(),
            codec: table.codec.clone(),
            store: table.store.clone(),
            input_schema,
            mode,
        }
    }

    /// Builds the statement's write against the state in `latest`; returns it with the
    /// number of rows affected.
    /// When `observed`, also returns the statement's changes: deleted rows with weight
    /// -1, then inserted rows with weight +1.
    fn plan_write(
        &self,
        batches: &[RecordBatch],
        latest: &ReadSnapshot,
        observed: bool,
    ) -> weir_common::Result<(EpochWrite, u64, Option<StreamChunk>)> {
        let mut write = EpochWrite::default();
        let mut rows = 0u64;
        let mut inserted: Vec<RecordBatch> = Vec::new();
        // Keys this statement removes and adds, so that an UPDATE may move a row onto a
        // key another updated row just left, but no two new rows share a key.
        let mut removed: HashSet<Vec<u8>> = HashSet::new();
        let mut added: HashSet<Vec<u8>> = HashSet::new();
        for batch in batches {
            if self.mode != SinkMode::Insert {
                let old_keys = batch.column(batch.num_columns() - 1).as_binary::<i32>();
                for key in old_keys.iter().flatten() {
                    removed.insert(key.to_vec());
                }
            }
        }
        let mut deleted_values: Vec<Vec<u8>> = Vec::new();
        for key in &removed {
            let full_key = keys::table_row(self.table_id, key);
            if observed && let Some(old) = latest.get(&full_key)? {
                deleted_values.push(old);
            }
            write.delete(&full_key);
        }
        for batch in batches {
            rows += batch.num_rows() as u64;
            match self.mode {
                SinkMode::Delete => {}
                SinkMode::Insert => inserted
                    .push(self.put_rows(batch, None, latest, &removed, &mut added, &mut write)?),
                SinkMode::Update => {
                    let old_keys = batch
                        .column(batch.num_columns() - 1)
                        .as_binary::<i32>()
                        .clone();
                    let new_rows =
                        batch.project(&(0..batch.num_columns() - 1).collect::<Vec<_>>())?;
                    inserted.push(self.put_rows(
                        &new_rows,
                        Some(&old_keys),
                        latest,
                        &removed,
                        &mut added,
                        &mut write,
                    )?);
                }
            }
        }
        let changes = match observed {
            true => {
                let schema = self.codec.schema();
                let deleted = self
                    .codec
                    .decode_values(deleted_values.iter().map(Vec::as_slice))?;
                let mut chunks = vec![StreamChunk::deletes(deleted)];
                chunks.extend(inserted.into_iter().map(StreamChunk::inserts));
                Some(StreamChunk::concat(schema, &chunks)?)
            }
            false => None,
        };
        Ok((write, rows, changes))
    }

    /// Adds `batch` to `write`, refusing NULLs in NOT NULL columns and duplicate keys, and
    /// returns the rows as stored. `old_keys` are the keys the rows had before an UPDATE;
    /// tables without a primary key keep them, tables with one derive the key from the new
    /// values.
    fn put_rows(
        &self,
        batch: &RecordBatch,
        old_keys: Option<&datafusion::arrow::array::BinaryArray>,
        latest: &ReadSnapshot,
        removed: &HashSet<Vec<u8>>,
        added: &mut HashSet<Vec<u8>>,
        write: &mut EpochWrite,
    ) -> weir_common::Result<RecordBatch> {
        let schema = self.codec.schema().clone();
        let columns = batch
            .columns()
            .iter()
            .zip(schema.fields())
            .map(|(column, field)| {
                if let Some(limit) = varchar_length(field) {
                    check_varchar_length(column, limit)?;
                }
                match is_json(field) {
                    true => canonical_json_column(column),
                    false => Ok(column.clone()),
                }
            })
            .collect::<weir_common::Result<Vec<_>>>()?;
        let batch =
            RecordBatch::try_new(schema, columns).map_err(|e| self.not_null_violation(e))?;
        let values = self.codec.encode_values(&batch)?;
        let primary_keys = self.codec.encode_keys(&batch)?;
        let first_row_id = match (&primary_keys, old_keys) {
            (None, None) => Some(
                self.store
                    .allocate_row_ids(self.table_id, batch.num_rows() as u64)?,
            ),
            _ => None,
        };
        for row in 0..batch.num_rows() {
            let key: Vec<u8> = match (&primary_keys, old_keys, first_row_id) {
                (Some(keys), _, _) => keys.row(row).as_ref().to_vec(),
                (None, Some(old), _) => old.value(row).to_vec(),
                (None, None, Some(first)) => (first + row as u64).to_be_bytes().to_vec(),
                (None, None, None) => unreachable!("row ids are allocated for keyless inserts"),
            };
            let full_key = keys::table_row(self.table_id, &key);
            let exists = !removed.contains(&key) && latest.get(&full_key)?.is_some();
            if primary_keys.is_some() && (exists || added.contains(&key)) {
                return Err(WeirError::new(
                    SqlState::UNIQUE_VIOLATION,
                    format!(
                        "duplicate key value violates unique constraint \"{}_pkey\"",
                        self.table_name
                    ),
                )
                .with_detail(format!(
                    "Key {} already exists.",
                    self.codec.describe_key(&batch, row)
                )));
            }
            added.insert(key);
            write.put(&full_key, values.row(row).as_ref());
        }
        Ok(batch)
    }

    fn not_null_violation(&self, error: datafusion::arrow::error::ArrowError) -> WeirError {
        let text = error.to_string();
        let column = text.split('\'').nth(1).unwrap_or("?").to_owned();
        if text.contains("non-nullable") {
            WeirError::new(
                SqlState::NOT_NULL_VIOLATION,
                format!(
                    "null value in column \"{column}\" of relation \"{}\" violates not-null constraint",
                    self.table_name
                ),
            )
        } else {
            WeirError::from(error)
        }
    }
}

impl DisplayAs for TableSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "TableSink: {:?} {}", self.mode, self.table_name)
    }
}

#[async_trait]
impl DataSink for TableSink {
    fn schema(&self) -> &SchemaRef {
        &self.input_schema
    }

    async fn write_all(
        &self,
        data: SendableRecordBatchStream,
        context: &Arc<TaskContext>,
    ) -> Result<u64> {
        // The statement's interrupt is looked at until its write begins to commit.
        let interrupt = context
            .session_config()
            .get_extension::<Interrupt>()
            .map(|interrupt| interrupt.as_ref().clone())
            .unwrap_or_default();
        let batches: Vec<RecordBatch> = interrupt
            .unless_raised(async { Ok(data.try_collect().await?) })
            .await
            .map_err(WeirError::into_datafusion)?;
        let _writer = self
            .store
            .lock_writes(&interrupt)
            .await
            .map_err(WeirError::into_datafusion)?;
        let latest = self.store.snapshot();
        let observer = self
            .store
            .observer()
            .filter(|observer| observer.observes(self.table_id));
        let (mut write, rows, changes) = self
            .plan_write(&batches, &latest, observer.is_some())
            .map_err(WeirError::into_datafusion)?;
        let defer = context
            .session_config()
            .get_extension::<DeferMaintenance>()
            .is_some();
        if let (Some(observer), Some(changes)) = (&observer, &changes)
            && !changes.is_empty()
        {
            if defer {
                PendingChanges::add(&latest, self.table_id, changes, &mut write)
                    .map_err(WeirError::into_datafusion)?;
            } else if let Err(error) =
                observer.changed(self.table_id, changes, &latest, &mut write, &interrupt)
            {
                observer.abandoned();
                return Err(error.into_datafusion());
            }
        }
        if !write.is_empty()
            && let Err(error) = self.store.commit(write)
        {
            if let Some(observer) = &observer {
                observer.abandoned();
            }
            return Err(error.into_datafusion());
        }
        Ok(rows)
    }
}
