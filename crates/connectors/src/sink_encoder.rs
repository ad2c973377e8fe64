//! Turning one epoch's changes of a sink's input into Kafka messages.
//!
//! The changes are first consolidated: a row inserted and deleted in the same epoch
//! sends nothing. Then, by format:
//! * append-only: each inserted row is one message (keyed by the primary key if the sink
//!   names one); a deleted row is an error, or dropped with `force_append_only`;
//! * upsert: per primary key, the row it now has, or a null value (a tombstone) if it has
//!   none any more;
//! * Debezium: per primary key, a change event `{"before", "after", "op", "ts_ms"}` with
//!   `op` `c` (insert), `u` (the key's row changed) or `d` (delete, followed by a
//!   tombstone, as Debezium sends it).
//!
//! Keys and rows are JSON objects of column name to value, written by arrow-json's
//! encoders straight from the Arrow columns; `jsonb` columns are embedded as JSON.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_json::writer::{Encoder, EncoderFactory, EncoderOptions, NullableEncoder, make_encoder};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{FieldRef, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::row::{RowConverter, SortField};
use weir_common::json::is_json;
use weir_common::{Result, SqlState, StreamChunk, WeirError};

use crate::sink_options::{SinkFormat, SinkOptions};

/// One Kafka message; a `None` value is a tombstone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkMessage {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

#[derive(Debug)]
pub struct SinkEncoder {
    format: SinkFormat,
    force_append_only: bool,
    schema: SchemaRef,
    /// Positions of the primary-key columns.
    key_columns: Vec<usize>,
    /// Each column's name as a JSON string followed by `:`.
    names: Vec<Vec<u8>>,
    rows: RowConverter,
    keys: RowConverter,
}

impl SinkEncoder {
    /// An encoder of changes with columns `schema` for a sink with `options`; the
    /// primary key must name columns of `schema`.
    pub fn new(schema: SchemaRef, options: &SinkOptions) -> Result<SinkEncoder> {
        let key_columns = options
            .primary_key
            .iter()
            .map(|name| {
                schema.index_of(name).map_err(|_| {
                    WeirError::new(
                        SqlState::UNDEFINED_COLUMN,
                        format!("primary_key column \"{name}\" is not a column of the sink"),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let sort_fields = |columns: &mut dyn Iterator<Item = usize>| {
            columns
                .map(|index| SortField::new(schema.field(index).data_type().clone()))
                .collect::<Vec<_>>()
        };
        let rows = RowConverter::new(sort_fields(&mut (0..schema.fields().len())))?;
        let keys = RowConverter::new(sort_fields(&mut key_columns.iter().copied()))?;
        let names = schema
            .fields()
            .iter()
            .map(|field| {
                let mut name = serde_json::to_vec(field.name()).expect("names serialize");
                name.push(b':');
                name
            })
            .collect();
        Ok(SinkEncoder {
            format: options.format,
            force_append_only: options.force_append_only,
            schema,
            key_columns,
            names,
            rows,
            keys,
        })
    }

    /// The messages that send `changes`; `ts_ms` stamps Debezium events.
    pub fn encode(&self, changes: &StreamChunk, ts_ms: i64) -> Result<Vec<SinkMessage>> {
        let net = self.consolidate(changes)?;
        let batch = changes.rows();
        let options = EncoderOptions::default()
            .with_explicit_nulls(true)
            .with_encoder_factory(Arc::new(JsonbAsJson));
        let fields = self.schema.fields();
        let mut encoders = fields
            .iter()
            .zip(batch.columns())
            .map(|(field, column)| make_encoder(field, column.as_ref(), &options))
            .collect::<std::result::Result<Vec<_>, ArrowError>>()?;
        let mut writer = ObjectWriter {
            names: &self.names,
            encoders: &mut encoders,
        };
        let all: Vec<usize> = (0..fields.len()).collect();
        let mut messages = Vec::new();
        match self.format {
            SinkFormat::AppendOnly => {
                for (row, weight) in net {
                    if weight < 0 {
                        if self.force_append_only {
                            continue;
                        }
                        return Err(WeirError::internal(
                            "an append-only sink's input retracted a row",
                        ));
                    }
                    for _ in 0..weight {
                        messages.push(SinkMessage {
                            key: (!self.key_columns.is_empty())
                                .then(|| writer.object(row, &self.key_columns)),
                            value: Some(writer.object(row, &all)),
                        });
                    }
                }
            }
            SinkFormat::Upsert | SinkFormat::Debezium => {
                for change in self.by_key(batch, &net)? {
                    let key = Some(writer.object(change.row(), &self.key_columns));
                    messages.extend(match self.format {
                        SinkFormat::Upsert => upsert(&mut writer, key, &change, &all),
                        _ => debezium(&mut writer, key, &change, &all, ts_ms),
                    });
                }
            }
        }
        Ok(messages)
    }

    /// Each changed row (its index in `changes`) with its net weight, in first-change
    /// order; rows whose changes cancel out are left out.
    fn consolidate(&self, changes: &StreamChunk) -> Result<Vec<(usize, i64)>> {
        let rows = self.rows.convert_columns(changes.rows().columns())?;
        let mut positions: HashMap<&[u8], usize> = HashMap::new();
        let mut net: Vec<(usize, i64)> = Vec::new();
        for (index, weight) in changes.weights().values().iter().enumerate() {
            match positions.get(rows.row(index).data()) {
                Some(&position) => net[position].1 += weight,
                None => {
                    positions.insert(rows.row(index).data(), net.len());
                    net.push((index, *weight));
                }
            }
        }
        net.retain(|(_, weight)| *weight != 0);
        Ok(net)
    }

    /// The net changes grouped by primary key, in first-change order.
    fn by_key(&self, batch: &RecordBatch, net: &[(usize, i64)]) -> Result<Vec<KeyChange>> {
        let key_arrays: Vec<_> = self
            .key_columns
            .iter()
            .map(|index| batch.column(*index).clone())
            .collect();
        let keys = self.keys.convert_columns(&key_arrays)?;
        let mut positions: HashMap<&[u8], usize> = HashMap::new();
        let mut changes: Vec<KeyChange> = Vec::new();
        for &(row, weight) in net {
            let position = *positions.entry(keys.row(row).data()).or_insert_with(|| {
                changes.push(KeyChange::default());
                changes.len() - 1
            });
            let change = &mut changes[position];
            match weight > 0 {
                true => change.after.push(row),
                false => change.before.push(row),
            }
        }
        Ok(changes)
    }
}

/// What one primary key's rows did in an epoch: the rows it lost and the rows it gained
/// (one each, unless the input breaks the key's uniqueness).
#[derive(Default)]
struct KeyChange {
    before: Vec<usize>,
    after: Vec<usize>,
}

impl KeyChange {
    fn row(&self) -> usize {
        self.after
            .first()
            .or(self.before.first())
            .copied()
            .expect("a change has a row")
    }
}

fn upsert(
    writer: &mut ObjectWriter,
    key: Option<Vec<u8>>,
    change: &KeyChange,
    all: &[usize],
) -> Vec<SinkMessage> {
    if change.after.is_empty() {
        return vec![SinkMessage { key, value: None }];
    }
    change
        .after
        .iter()
        .map(|row| SinkMessage {
            key: key.clone(),
            value: Some(writer.object(*row, all)),
        })
        .collect()
}

fn debezium(
    writer: &mut ObjectWriter,
    key: Option<Vec<u8>>,
    change: &KeyChange,
    all: &[usize],
    ts_ms: i64,
) -> Vec<SinkMessage> {
    let mut event = |before: Option<usize>, after: Option<usize>| {
        let op = match (before, after) {
            (Some(_), Some(_)) => "u",
            (None, _) => "c",
            (_, None) => "d",
        };
        let mut value = b"{\"before\":".to_vec();
        match before {
            Some(row) => value.extend(writer.object(row, all)),
            None => value.extend_from_slice(b"null"),
        }
        value.extend_from_slice(b",\"after\":");
        match after {
            Some(row) => value.extend(writer.object(row, all)),
            None => value.extend_from_slice(b"null"),
        }
        value.extend(format!(",\"op\":\"{op}\",\"ts_ms\":{ts_ms}}}").bytes());
        SinkMessage {
            key: key.clone(),
            value: Some(value),
        }
    };
    let pairs = change.before.len().max(change.after.len());
    let mut messages: Vec<SinkMessage> = (0..pairs)
        .map(|i| event(change.before.get(i).copied(), change.after.get(i).copied()))
        .collect();
    if change.after.is_empty() {
        messages.push(SinkMessage { key, value: None });
    }
    messages
}

/// Writes rows of a batch as JSON objects of some of its columns.
struct ObjectWriter<'a, 'e> {
    names: &'a [Vec<u8>],
    encoders: &'a mut [NullableEncoder<'e>],
}

impl ObjectWriter<'_, '_> {
    fn object(&mut self, row: usize, columns: &[usize]) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 * columns.len() + 2);
        out.push(b'{');
        for (n, &column) in columns.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&self.names[column]);
            let encoder = &mut self.encoders[column];
            match encoder.is_null(row) {
                true => out.extend_from_slice(b"null"),
                false => encoder.encode(row, &mut out),
            }
        }
        out.push(b'}');
        out
    }
}

/// Writes `jsonb` columns (text holding canonical JSON) as the JSON they hold.
#[derive(Debug)]
struct JsonbAsJson;

impl EncoderFactory for JsonbAsJson {
    fn make_default_encoder<'a>(
        &self,
        field: &'a FieldRef,
        array: &'a dyn Array,
        _options: &'a EncoderOptions,
    ) -> std::result::Result<Option<NullableEncoder<'a>>, ArrowError> {
        if !is_json(field) {
            return Ok(None);
        }
        let text = array.as_string::<i32>();
        Ok(Some(NullableEncoder::new(
            Box::new(RawJson(text)),
            text.nulls().cloned(),
        )))
    }
}

struct RawJson<'a>(&'a datafusion::arrow::array::StringArray);

impl Encoder for RawJson<'_> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(self.0.value(idx).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    fn options(format: SinkFormat, key: &[&str]) -> SinkOptions {
        SinkOptions {
            topic: "t".into(),
            bootstrap_servers: "h:1".into(),
            properties: Default::default(),
            format,
            primary_key: key.iter().map(|k| k.to_string()).collect(),
            delivery: crate::Delivery::ExactlyOnce,
            force_append_only: false,
            progress_topic: "p".into(),
        }
    }

    fn changes(rows: &[(i64, Option<&str>, i64)]) -> StreamChunk {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(StringArray::from_iter(rows.iter().map(|r| r.1))),
            ],
        )
        .unwrap();
        StreamChunk::new(
            batch,
            Int64Array::from_iter_values(rows.iter().map(|r| r.2)),
        )
    }

    fn text(messages: &[SinkMessage]) -> Vec<(String, String)> {
        let show = |bytes: &Option<Vec<u8>>| {
            bytes
                .as_ref()
                .map_or("-".to_owned(), |b| String::from_utf8(b.clone()).unwrap())
        };
        messages
            .iter()
            .map(|m| (show(&m.key), show(&m.value)))
            .collect()
    }

    fn encode(
        format: SinkFormat,
        key: &[&str],
        rows: &[(i64, Option<&str>, i64)],
    ) -> Vec<(String, String)> {
        let chunk = changes(rows);
        let encoder = SinkEncoder::new(chunk.schema(), &options(format, key)).unwrap();
        text(&encoder.encode(&chunk, 7).unwrap())
    }

    #[test]
    fn append_only_sends_inserted_rows_and_cancels_pairs() {
        let sent = encode(
            SinkFormat::AppendOnly,
            &[],
            &[(1, Some("a\"b"), 2), (2, None, 1), (2, None, -1)],
        );
        let row = r#"{"id":1,"name":"a\"b"}"#.to_owned();
        assert_eq!(sent, [("-".to_owned(), row.clone()), ("-".to_owned(), row)]);
        let chunk = changes(&[(1, None, -1)]);
        let encoder =
            SinkEncoder::new(chunk.schema(), &options(SinkFormat::AppendOnly, &[])).unwrap();
        assert!(encoder.encode(&chunk, 0).is_err());
    }

    #[test]
    fn upsert_sends_latest_rows_and_tombstones() {
        let sent = encode(
            SinkFormat::Upsert,
            &["id"],
            &[
                (1, Some("old"), -1),
                (1, Some("new"), 1),
                (2, Some("gone"), -1),
            ],
        );
        assert_eq!(
            sent,
            [
                (
                    r#"{"id":1}"#.to_owned(),
                    r#"{"id":1,"name":"new"}"#.to_owned()
                ),
                (r#"{"id":2}"#.to_owned(), "-".to_owned()),
            ]
        );
    }

    #[test]
    fn debezium_pairs_changes_of_a_key() {
        let sent = encode(
            SinkFormat::Debezium,
            &["id"],
            &[
                (1, Some("old"), -1),
                (1, Some("new"), 1),
                (2, None, -1),
                (3, None, 1),
            ],
        );
        let values: Vec<&str> = sent.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(
            values,
            [
                r#"{"before":{"id":1,"name":"old"},"after":{"id":1,"name":"new"},"op":"u","ts_ms":7}"#,
                r#"{"before":{"id":2,"name":null},"after":null,"op":"d","ts_ms":7}"#,
                "-",
                r#"{"before":null,"after":{"id":3,"name":null},"op":"c","ts_ms":7}"#,
            ]
        );
        assert!(
            SinkEncoder::new(
                changes(&[]).schema(),
                &options(SinkFormat::Upsert, &["nope"])
            )
            .is_err()
        );
    }
}
