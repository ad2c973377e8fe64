//! `FORMAT DEBEZIUM ENCODE JSON`: each record is a Debezium change event, with or without
//! the `{"schema": …, "payload": …}` envelope. Its `op` says what happened:
//! `c` (create) and `r` (snapshot read) insert `after`; `u` deletes `before` (when the
//! event has it) and inserts `after`; `d` deletes `before`. Deletes and updates go by the
//! table's primary key. Tombstones, which Debezium sends after a delete for log
//! compaction, are skipped.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StructArray};
use datafusion::arrow::compute::kernels::zip::zip;
use datafusion::arrow::compute::{interleave_record_batch, is_not_null};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::decoder::{FormatDecoder, RecordRef, Rows, all_nullable};
use crate::json::{assemble, decode_objects, decoded_fields, json_column};

#[derive(Debug)]
pub(crate) struct DebeziumRows {
    /// The declared columns, all nullable.
    schema: SchemaRef,
    /// What arrow-json decodes: `before`, `after`, `op`, and the same inside `payload`.
    decoded: SchemaRef,
}

/// The columns of a change event, wherever the event put them.
struct Event {
    before: StructArray,
    after: StructArray,
    op: ArrayRef,
}

impl DebeziumRows {
    pub fn new(declared: SchemaRef) -> DebeziumRows {
        let schema = all_nullable(&declared);
        let row = DataType::Struct(decoded_fields(&schema));
        let envelope = vec![
            Field::new("before", row.clone(), true),
            Field::new("after", row, true),
            Field::new("op", DataType::Utf8, true),
        ];
        let mut fields = envelope.clone();
        fields.push(Field::new(
            "payload",
            DataType::Struct(envelope.into()),
            true,
        ));
        DebeziumRows {
            schema,
            decoded: Arc::new(Schema::new(fields)),
        }
    }

    /// `values`' events; `enveloped` says which have their event in `payload`.
    fn events(&self, values: &[&[u8]]) -> Result<(Event, BooleanArray), String> {
        let decoded = decode_objects(&self.decoded, values)?;
        let payload = decoded.column(3).as_struct();
        let enveloped = is_not_null(payload).map_err(|e| e.to_string())?;
        let pick = |column: usize| -> Result<ArrayRef, String> {
            zip(&enveloped, payload.column(column), decoded.column(column))
                .map_err(|e| e.to_string())
        };
        let event = Event {
            before: pick(0)?.as_struct().clone(),
            after: pick(1)?.as_struct().clone(),
            op: pick(2)?,
        };
        Ok((event, enveloped))
    }

    /// The rows of the event's `side` ("before" or "after").
    fn side(
        &self,
        side: &str,
        rows: &StructArray,
        values: &[&[u8]],
        enveloped: &BooleanArray,
    ) -> Result<RecordBatch, String> {
        assemble(&self.schema, rows.columns().to_vec(), |name| {
            let inside = json_column(values, &["payload", side, name])?;
            let outside = json_column(values, &[side, name])?;
            zip(enveloped, &inside, &outside).map_err(|e| e.to_string())
        })
    }
}

impl FormatDecoder for DebeziumRows {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn takes_tombstones(&self) -> bool {
        true
    }

    fn decode_records(&self, records: &[RecordRef<'_>]) -> Result<Rows, String> {
        let events: Vec<(usize, &[u8])> = records
            .iter()
            .filter_map(|record| Some((record.index, record.value?)))
            .collect();
        let values: Vec<&[u8]> = events.iter().map(|(_, value)| *value).collect();
        let (event, enveloped) = self.events(&values)?;
        let before = self.side("before", &event.before, &values, &enveloped)?;
        let after = self.side("after", &event.after, &values, &enveloped)?;
        let ops = event.op.as_string::<i32>();
        let mut picks = Vec::with_capacity(events.len());
        let mut weights = Vec::with_capacity(events.len());
        let mut indexes = Vec::with_capacity(events.len());
        for (row, (index, _)) in events.iter().enumerate() {
            let has_before = event.before.is_valid(row);
            let has_after = event.after.is_valid(row);
            let op = ops.is_valid(row).then(|| ops.value(row));
            let (delete, insert) = match op {
                Some("c" | "r") => (false, true),
                Some("u") => (has_before, true),
                Some("d") => (true, false),
                Some(other) => return Err(format!("unknown Debezium op \"{other}\"")),
                None => return Err("the value is not a Debezium event: it has no op".to_owned()),
            };
            if delete && !has_before {
                return Err("a Debezium delete event without \"before\"".to_owned());
            }
            if insert && !has_after {
                return Err(format!(
                    "a Debezium \"{}\" event without \"after\"",
                    op.unwrap_or_default()
                ));
            }
            if delete {
                picks.push((0, row));
                weights.push(-1);
                indexes.push(*index);
            }
            if insert {
                picks.push((1, row));
                weights.push(1);
                indexes.push(*index);
            }
        }
        let batch =
            interleave_record_batch(&[&before, &after], &picks).map_err(|e| e.to_string())?;
        Ok(Rows {
            batch,
            weights,
            records: indexes,
        })
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::util::pretty::pretty_format_batches;

    use super::*;
    use crate::decoder::Decoder;
    use crate::records::Records;
    use crate::source_format::SourceFormat;

    fn decoder() -> Decoder {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]);
        Decoder::new(&SourceFormat::Debezium, Arc::new(schema), 1000)
    }

    #[test]
    fn events_become_upserts_and_deletes() {
        let mut records = Records::default();
        let values = [
            Some(r#"{"before": null, "after": {"id": 1, "name": "a"}, "op": "c"}"#),
            Some(
                r#"{"schema": {}, "payload": {"before": {"id": 1, "name": "a"}, "after": {"id": 2, "name": "b"}, "op": "u"}}"#,
            ),
            Some(r#"{"before": {"id": 2}, "after": null, "op": "d"}"#),
            None,
            Some(r#"{"after": {"id": 3}, "op": "r"}"#),
            Some(r#"{"after": {"id": 4}, "op": "x"}"#),
            Some(r#"{"before": null, "after": null, "op": "d"}"#),
            Some(r#"{"id": 5}"#),
        ];
        for (offset, value) in values.iter().enumerate() {
            records.push(0, offset as i64, None, None, value.map(str::as_bytes));
        }
        let decoded = decoder().decode(&records);
        assert_eq!(decoded.accepted, vec![0, 1, 1, 2, 4]);
        assert_eq!(decoded.weights, vec![1, -1, 1, -1, 1]);
        let rejected: Vec<usize> = decoded.rejected.iter().map(|(index, _)| *index).collect();
        assert_eq!(rejected, vec![5, 6, 7], "{:?}", decoded.rejected);
        let shown = pretty_format_batches(&[decoded.rows]).unwrap().to_string();
        let ids: Vec<&str> = shown
            .lines()
            .skip(3)
            .filter_map(|line| line.split('|').nth(1))
            .map(str::trim)
            .collect();
        assert_eq!(ids, vec!["1", "1", "2", "2", "3"], "{shown}");
    }
}
