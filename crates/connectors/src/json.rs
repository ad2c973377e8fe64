//! JSON record values decoded straight into Arrow arrays by arrow-json's decoder.
//!
//! Fields not among the columns are ignored. A `jsonb` column takes the field's JSON
//! value, whatever its shape, in canonical form (a second parse of those records, by
//! weir's own JSON reader).

use std::sync::Arc;

use arrow_json::ReaderBuilder;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{Field, Fields, Schema, SchemaRef};
use weir_common::json::{Json, Selector, is_json};
use weir_common::varchar::{check_varchar_length, varchar_length};

use crate::decoder::{FormatDecoder, RecordRef, Rows, record_values};

/// `FORMAT PLAIN ENCODE JSON`: each record's value is one JSON object, one row.
#[derive(Debug)]
pub(crate) struct JsonRows {
    schema: SchemaRef,
    /// The columns arrow-json decodes (all but `jsonb`), all nullable: NULLs in NOT NULL
    /// columns are found when the rows are checked against `schema`.
    decoded: SchemaRef,
}

impl JsonRows {
    pub fn new(schema: SchemaRef) -> JsonRows {
        JsonRows {
            decoded: Arc::new(Schema::new(decoded_fields(&schema))),
            schema,
        }
    }

    /// The rows of `values`, one per value.
    pub fn rows(&self, values: &[&[u8]]) -> Result<RecordBatch, String> {
        let decoded = decode_objects(&self.decoded, values)?;
        assemble(&self.schema, decoded.columns().to_vec(), |name| {
            json_column(values, &[name])
        })
    }
}

impl FormatDecoder for JsonRows {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn decode_records(&self, records: &[RecordRef<'_>]) -> Result<Rows, String> {
        let values = record_values(records)?;
        Ok(Rows {
            batch: self.rows(&values)?,
            weights: vec![1; records.len()],
            records: records.iter().map(|record| record.index).collect(),
        })
    }
}

/// The fields of `schema` that arrow-json decodes (all but `jsonb`), nullable.
pub(crate) fn decoded_fields(schema: &SchemaRef) -> Fields {
    schema
        .fields()
        .iter()
        .filter(|field| !is_json(field))
        .map(|field| field.as_ref().clone().with_nullable(true))
        .collect::<Vec<Field>>()
        .into()
}

/// `values`, each exactly one JSON object, decoded into rows of `decoded` (types
/// arrow-json knows).
pub(crate) fn decode_objects(decoded: &SchemaRef, values: &[&[u8]]) -> Result<RecordBatch, String> {
    // Room for one row more than expected, so that a value holding two documents shows
    // as one row too many rather than stopping the decoder early.
    let mut decoder = ReaderBuilder::new(decoded.clone())
        .with_batch_size(values.len() + 1)
        .build_decoder()
        .map_err(|e| e.to_string())?;
    for (count, value) in values.iter().enumerate() {
        let read = decoder.decode(value).map_err(|e| e.to_string())?;
        if decoder.has_partial_record() {
            return Err("the value is not a complete JSON document".to_owned());
        }
        if decoder.len() != count + 1 || read != value.len() {
            return Err("the value is not exactly one JSON object".to_owned());
        }
    }
    Ok(match decoder.flush().map_err(|e| e.to_string())? {
        Some(batch) => batch,
        None => RecordBatch::new_empty(decoded.clone()),
    })
}

/// Rows of `schema` from the `decoded` columns of its non-`jsonb` fields, in order, and
/// each `jsonb` column made by `json`; checks `varchar(n)` lengths and NOT NULL.
pub(crate) fn assemble(
    schema: &SchemaRef,
    decoded: Vec<ArrayRef>,
    json: impl Fn(&str) -> Result<ArrayRef, String>,
) -> Result<RecordBatch, String> {
    let mut decoded = decoded.into_iter();
    let mut columns = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let column = match is_json(field) {
            true => json(field.name())?,
            false => decoded
                .next()
                .expect("a decoded column per non-jsonb field"),
        };
        if let Some(limit) = varchar_length(field) {
            check_varchar_length(&column, limit).map_err(|e| e.message)?;
        }
        columns.push(column);
    }
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| {
        let text = e.to_string();
        match text.split('\'').nth(1) {
            Some(column) if text.contains("non-nullable") => {
                format!("null value in column \"{column}\" violates not-null constraint")
            }
            _ => text,
        }
    })
}

/// The canonical JSON at `path` in each value; NULL where it is missing or JSON `null`.
pub(crate) fn json_column(values: &[&[u8]], path: &[&str]) -> Result<ArrayRef, String> {
    let mut texts = Vec::with_capacity(values.len());
    for value in values {
        let text = std::str::from_utf8(value).map_err(|e| e.to_string())?;
        let mut found = Some(Json::parse(text).map_err(|e| e.message)?);
        for key in path {
            found = found.and_then(|json| json.select(Selector::Key(key)));
        }
        texts.push(
            found
                .map(|json| json.to_string())
                .filter(|json| json != "null"),
        );
    }
    Ok(Arc::new(StringArray::from(texts)))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::DataType;
    use datafusion::arrow::util::pretty::pretty_format_batches;

    use super::*;
    use crate::decoder::Decoder;
    use crate::records::Records;
    use crate::source_format::{Encode, SourceFormat};

    fn decoder() -> Decoder {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("price", DataType::Float64, true),
        ]);
        Decoder::new(&SourceFormat::Plain(Encode::Json), Arc::new(schema), 100)
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
