//! `FORMAT UPSERT ENCODE JSON`: a record's value is the latest version of the row with
//! its key; a record without a value deletes the row whose key its message key holds.
//!
//! A tombstone's message key is read as a JSON object of the key columns (`{"id": 7}`).
//! A table whose primary key is the message key itself (`INCLUDE key AS k … PRIMARY KEY
//! (k)`) needs nothing from it: the key column is filled from the record's metadata.

use datafusion::arrow::array::{RecordBatch, new_null_array};
use datafusion::arrow::compute::{concat_batches, interleave_record_batch};
use datafusion::arrow::datatypes::SchemaRef;

use crate::decoder::{FormatDecoder, RecordRef, Rows, all_nullable};
use crate::json::JsonRows;

#[derive(Debug)]
pub(crate) struct UpsertRows {
    /// Values and keys both decode into the declared columns, all nullable.
    rows: JsonRows,
    schema: SchemaRef,
}

impl UpsertRows {
    pub fn new(declared: SchemaRef) -> UpsertRows {
        let schema = all_nullable(&declared);
        UpsertRows {
            rows: JsonRows::new(schema.clone()),
            schema,
        }
    }

    /// The key columns each tombstone's message key names, a row per key; all NULL
    /// where the key is missing or not a JSON object (the key then comes from the
    /// metadata, or the delete is refused later for its NULL key). One pass when every
    /// key decodes.
    fn key_rows(&self, keys: &[Option<&[u8]>]) -> Result<RecordBatch, String> {
        if let Some(keys) = keys.iter().copied().collect::<Option<Vec<_>>>()
            && let Ok(rows) = self.rows.rows(&keys)
        {
            return Ok(rows);
        }
        let rows: Vec<RecordBatch> = keys
            .iter()
            .map(|key| {
                key.and_then(|key| self.rows.rows(&[key]).ok())
                    .unwrap_or_else(|| self.null_row())
            })
            .collect();
        concat_batches(&self.schema, &rows).map_err(|e| e.to_string())
    }

    fn null_row(&self) -> RecordBatch {
        let columns = self
            .schema
            .fields()
            .iter()
            .map(|field| new_null_array(field.data_type(), 1))
            .collect();
        RecordBatch::try_new(self.schema.clone(), columns)
            .expect("a row of NULLs fits a nullable schema")
    }
}

impl FormatDecoder for UpsertRows {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn takes_tombstones(&self) -> bool {
        true
    }

    fn decode_records(&self, records: &[RecordRef<'_>]) -> Result<Rows, String> {
        let values: Vec<&[u8]> = records.iter().filter_map(|record| record.value).collect();
        let tombstone_keys: Vec<Option<&[u8]>> = records
            .iter()
            .filter(|record| record.value.is_none())
            .map(|record| record.key)
            .collect();
        let upserts = self.rows.rows(&values)?;
        let deletes = self.key_rows(&tombstone_keys)?;
        // Each record's row: (0, n) the n-th upsert, (1, n) the n-th delete.
        let (mut next_upsert, mut next_delete) = (0, 0);
        let mut picks = Vec::with_capacity(records.len());
        let mut weights = Vec::with_capacity(records.len());
        for record in records {
            match record.value {
                Some(_) => {
                    picks.push((0, next_upsert));
                    next_upsert += 1;
                    weights.push(1);
                }
                None => {
                    picks.push((1, next_delete));
                    next_delete += 1;
                    weights.push(-1);
                }
            }
        }
        let batch =
            interleave_record_batch(&[&upserts, &deletes], &picks).map_err(|e| e.to_string())?;
        Ok(Rows {
            batch,
            weights,
            records: records.iter().map(|record| record.index).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{AsArray, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use crate::decoder::Decoder;
    use crate::records::Records;
    use crate::source_format::SourceFormat;

    #[test]
    fn values_upsert_and_tombstones_delete_by_their_key() {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]);
        let decoder = Decoder::new(&SourceFormat::Upsert, Arc::new(schema), 1000);
        let mut records = Records::default();
        records.push(
            0,
            0,
            None,
            Some(br#"{"id": 1}"#),
            Some(br#"{"id": 1, "name": "a"}"#),
        );
        records.push(0, 1, None, Some(br#"{"id": 1}"#), None);
        records.push(0, 2, None, Some(b"not json"), None);
        records.push(0, 3, None, None, Some(br#"{"id": "#));
        let decoded = decoder.decode(&records);
        assert_eq!(decoded.accepted, vec![0, 1, 2]);
        assert_eq!(decoded.weights, vec![1, -1, -1]);
        assert_eq!(decoded.rejected.len(), 1);
        let ids = decoded
            .rows
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        assert_eq!(ids, &Int64Array::from(vec![Some(1), Some(1), None]));
    }
}
