//! JSON record values decoded straight into Arrow arrays by arrow-json's decoder.
//!
//! A batch of records is decoded in one pass. If anything in the batch is wrong (a value
//! that is not one JSON object, a field of the wrong type, a NULL in a NOT NULL column, a
//! string too long for its `varchar(n)`), the batch is decoded again record by record, so
//! that each bad record is set aside with its own error and the good ones go on; the slow
//! path costs only batches that hold a bad record.
//!
//! Fields not among the columns are ignored. A `jsonb` column takes the field's JSON
//! value, whatever its shape, in canonical form (a second parse of those records, by
//! weir's own JSON reader).

use std::sync::Arc;

use arrow_json::ReaderBuilder;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use weir_common::json::{Json, Selector, is_json};
use weir_common::varchar::{check_varchar_length, varchar_length};

use crate::records::Records;

/// Decodes record values into rows of a fixed schema.
#[derive(Debug)]
pub struct JsonDecoder {
    schema: SchemaRef,
    /// The columns arrow-json decodes (all but `jsonb`), all nullable: NULLs in NOT NULL
    /// columns are found when the rows are checked against `schema`.
    decoded: SchemaRef,
    max_record_bytes: usize,
}

/// The rows of the records that decoded, and why the others did not.
#[derive(Debug)]
pub struct Decoded {
    pub rows: RecordBatch,
    /// For each row, the index of its record.
    pub accepted: Vec<usize>,
    /// Records set aside, with the reason.
    pub rejected: Vec<(usize, String)>,
}

impl JsonDecoder {
    pub fn new(schema: SchemaRef, max_record_bytes: usize) -> JsonDecoder {
        let decoded = schema
            .fields()
            .iter()
            .filter(|field| !is_json(field))
            .map(|field| field.as_ref().clone().with_nullable(true))
            .collect::<Vec<Field>>();
        JsonDecoder {
            schema,
            decoded: Arc::new(Schema::new(decoded)),
            max_record_bytes,
        }
    }

    pub fn decode(&self, records: &Records) -> Decoded {
        let mut candidates = Vec::with_capacity(records.len());
        let mut rejected = Vec::new();
        for (index, value) in records.values().enumerate() {
            match value {
                None => rejected.push((index, "the record has no value".to_owned())),
                Some(value) if value.len() > self.max_record_bytes => rejected.push((
                    index,
                    format!(
                        "the record's value of {} bytes exceeds max_record_bytes ({})",
                        value.len(),
                        self.max_record_bytes
                    ),
                )),
                Some(value) => candidates.push((index, value)),
            }
        }
        if let Ok(rows) = self.decode_values(&candidates) {
            return Decoded {
                rows,
                accepted: candidates.iter().map(|(index, _)| *index).collect(),
                rejected,
            };
        }
        let mut batches = Vec::new();
        let mut accepted = Vec::new();
        for candidate in candidates {
            match self.decode_values(&[candidate]) {
                Ok(rows) => {
                    batches.push(rows);
                    accepted.push(candidate.0);
                }
                Err(error) => rejected.push((candidate.0, error)),
            }
        }
        rejected.sort_unstable_by_key(|(index, _)| *index);
        let rows = concat_batches(&self.schema, &batches)
            .expect("rows decoded into one schema concatenate");
        Decoded {
            rows,
            accepted,
            rejected,
        }
    }

    /// The rows of `values`, one per value, or the first error met.
    fn decode_values(&self, values: &[(usize, &[u8])]) -> Result<RecordBatch, String> {
        // Room for one row more than expected, so that a value holding two documents
        // shows as one row too many rather than stopping the decoder early.
        let mut decoder = ReaderBuilder::new(self.decoded.clone())
            .with_batch_size(values.len() + 1)
            .build_decoder()
            .map_err(|e| e.to_string())?;
        for (count, (_, value)) in values.iter().enumerate() {
            let read = decoder.decode(value).map_err(|e| e.to_string())?;
            if decoder.has_partial_record() {
                return Err("the value is not a complete JSON document".to_owned());
            }
            if decoder.len() != count + 1 || read != value.len() {
                return Err("the value is not exactly one JSON object".to_owned());
            }
        }
        let decoded = match decoder.flush().map_err(|e| e.to_string())? {
            Some(batch) => batch,
            None => RecordBatch::new_empty(self.decoded.clone()),
        };
        let mut columns = Vec::with_capacity(self.schema.fields().len());
        let mut next_decoded = 0;
        for field in self.schema.fields() {
            let column = match is_json(field) {
                true => json_column(field.name(), values)?,
                false => {
                    next_decoded += 1;
                    decoded.column(next_decoded - 1).clone()
                }
            };
            if let Some(limit) = varchar_length(field) {
                check_varchar_length(&column, limit).map_err(|e| e.message)?;
            }
            columns.push(column);
        }
        RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| {
            let text = e.to_string();
            match text.split('\'').nth(1) {
                Some(column) if text.contains("non-nullable") => {
                    format!("null value in column \"{column}\" violates not-null constraint")
                }
                _ => text,
            }
        })
    }
}

/// The canonical JSON of field `name` of each value; NULL where the field is missing or
/// JSON `null`.
fn json_column(name: &str, values: &[(usize, &[u8])]) -> Result<ArrayRef, String> {
    let mut texts = Vec::with_capacity(values.len());
    for (_, value) in values {
        let text = std::str::from_utf8(value).map_err(|e| e.to_string())?;
        let document = Json::parse(text).map_err(|e| e.message)?;
        let field = document
            .select(Selector::Key(name))
            .map(|json| json.to_string())
            .filter(|json| json != "null");
        texts.push(field);
    }
    Ok(Arc::new(StringArray::from(texts)))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::DataType;
    use datafusion::arrow::util::pretty::pretty_format_batches;

    use super::*;

    fn decoder() -> JsonDecoder {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("price", DataType::Float64, true),
        ]);
        JsonDecoder::new(Arc::new(schema), 100)
    }

    fn records(values: &[&str]) -> Records {
        let mut records = Records::default();
        for (offset, value) in values.iter().enumerate() {
            records.push(0, offset as i64, None, None, Some(value.as_bytes()));
        }
        records
    }

    #[test]
    fn good_records_decode_in_one_pass() {
        let decoded = decoder().decode(&records(&[
            r#"{"id": 1, "name": "a", "price": 1.5}"#,
            r#"{"id": 2, "extra": [1, 2]}"#,
        ]));
        assert!(decoded.rejected.is_empty());
        assert_eq!(decoded.accepted, vec![0, 1]);
        let shown = pretty_format_batches(&[decoded.rows]).unwrap().to_string();
        assert!(shown.contains("| 2  |      |       |"), "{shown}");
    }

    #[test]
    fn each_bad_record_is_set_aside_with_its_reason() {
        let long = format!(r#"{{"id": 9, "name": "{}"}}"#, "x".repeat(200));
        let decoded = decoder().decode(&records(&[
            r#"{"id": 1}"#,
            r#"{"id": "#,
            r#"{"id": "one"}"#,
            r#"{"name": "no id"}"#,
            r#"{"id": 2} {"id": 3}"#,
            &long,
            r#"[1, 2]"#,
            r#"{"id": 4}"#,
        ]));
        assert_eq!(decoded.accepted, vec![0, 7]);
        let reasons: Vec<(usize, &str)> = decoded
            .rejected
            .iter()
            .map(|(index, reason)| (*index, reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 6, "{reasons:?}");
        assert!(reasons[0].1.contains("complete"), "{reasons:?}");
        assert!(reasons[2].1.contains("not-null"), "{reasons:?}");
        assert!(reasons[3].1.contains("exactly one"), "{reasons:?}");
        assert!(reasons[4].1.contains("max_record_bytes"), "{reasons:?}");
        assert_eq!(decoded.rows.num_rows(), 2);
    }
}
