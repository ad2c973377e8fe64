//! `FORMAT PLAIN ENCODE AVRO`: each record's value is one Avro record, one row, decoded
//! straight into Arrow arrays by arrow-avro's decoder.
//!
//! * With `schema.registry`, a value is in the registry's wire format: a zero byte, the
//!   writer schema's id (4 bytes, big-endian), then the Avro body. Each id is fetched
//!   from the registry once, before the first record naming it is decoded. A registry
//!   that cannot be reached stops the reader until it can (nothing is dead-lettered for
//!   it); an id the registry does not have makes its records dead letters.
//! * With `schema.definition`, a value is a bare Avro body written with that schema.
//!
//! Records written with different schemas (a subject's versions) all feed the same
//! columns: a column takes the writer's field of its name, cast to the column's type;
//! a column the writer does not have is NULL, a field without a column is ignored.
//! Records, arrays and maps go to `jsonb` columns as JSON.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arrow_avro::reader::ReaderBuilder;
use arrow_avro::schema::{AvroSchema, Fingerprint, FingerprintAlgorithm, SchemaStore};
use arrow_json::writer::{EncoderOptions, make_encoder};
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, new_null_array};
use datafusion::arrow::compute::{CastOptions, cast_with_options, concat_batches};
use datafusion::arrow::datatypes::{DataType, FieldRef, SchemaRef};
use weir_common::json::canonical_json_column;

use crate::decoder::{FormatDecoder, RecordRef, Rows, record_values};
use crate::json::{assemble, decoded_fields};
use crate::schema_registry::{RegistryError, SchemaRegistry};
use crate::source_format::AvroSchemaSource;

/// Rows decoded before the decoder hands over a batch.
const DECODER_BATCH_ROWS: usize = 8192;

/// The first byte of a value in the registry's wire format.
const REGISTRY_MAGIC: u8 = 0;

/// The first bytes of Avro's single-object encoding, which prefix a bare body (with the
/// schema's fingerprint) so that arrow-avro's decoder can read it.
const SINGLE_OBJECT_MAGIC: [u8; 2] = [0xC3, 0x01];

#[derive(Debug)]
pub(crate) struct AvroRows {
    schema: SchemaRef,
    framing: Framing,
    state: Mutex<State>,
}

#[derive(Debug)]
enum Framing {
    Registry(SchemaRegistry),
    /// A bare body follows this single-object prefix.
    Definition([u8; 10]),
}

#[derive(Debug)]
struct State {
    /// The writer schemas known, by registry id or by fingerprint.
    store: SchemaStore,
    /// Ids the registry does not have, or whose schema weir cannot read, with why.
    unusable: BTreeMap<u32, String>,
    /// A decoder over `store`, kept between batches; dropped after any error, since a
    /// failed record may leave it mid-row.
    decoder: Option<arrow_avro::reader::Decoder>,
}

impl AvroRows {
    /// A decoder into `schema` of values written with the schemas of `source`.
    pub fn new(schema: SchemaRef, source: &AvroSchemaSource) -> AvroRows {
        let (framing, store) = match source {
            AvroSchemaSource::Registry(registry) => (
                Framing::Registry(registry.clone()),
                SchemaStore::new_with_type(FingerprintAlgorithm::Id),
            ),
            AvroSchemaSource::Definition(definition) => {
                let mut store = SchemaStore::new();
                let fingerprint = store
                    .register(AvroSchema::new(definition.clone()))
                    .expect("a schema definition read at CREATE");
                let Fingerprint::Rabin(rabin) = fingerprint else {
                    unreachable!("a new schema store fingerprints with Rabin")
                };
                let mut prefix = [0; 10];
                prefix[..2].copy_from_slice(&SINGLE_OBJECT_MAGIC);
                prefix[2..].copy_from_slice(&rabin.to_le_bytes());
                (Framing::Definition(prefix), store)
            }
        };
        AvroRows {
            schema,
            framing,
            state: Mutex::new(State {
                store,
                unusable: BTreeMap::new(),
                decoder: None,
            }),
        }
    }

    /// Rows of `schema` from a batch decoded with one writer schema.
    fn rows(&self, decoded: &RecordBatch) -> Result<RecordBatch, String> {
        let cast = CastOptions {
            safe: false,
            ..CastOptions::default()
        };
        let columns = decoded_fields(&self.schema)
            .iter()
            .map(|field| match decoded.column_by_name(field.name()) {
                None => Ok(new_null_array(field.data_type(), decoded.num_rows())),
                Some(column) => cast_with_options(column, field.data_type(), &cast).map_err(|e| {
                    format!("field \"{}\" does not fit its column: {e}", field.name())
                }),
            })
            .collect::<Result<Vec<_>, String>>()?;
        let decoded_schema = decoded.schema();
        assemble(&self.schema, columns, |name| {
            match decoded_schema.fields().find(name) {
                None => Ok(new_null_array(&DataType::Utf8, decoded.num_rows())),
                Some((index, field)) => json_texts(field, decoded.column(index)),
            }
        })
    }
}

impl FormatDecoder for AvroRows {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn fetch_schemas(&self, values: &mut dyn Iterator<Item = &[u8]>) -> Result<(), String> {
        let Framing::Registry(registry) = &self.framing else {
            return Ok(());
        };
        let mut state = self.state.lock().expect("the Avro decoder's lock");
        for id in values.filter_map(registry_id) {
            if state.store.lookup(&Fingerprint::Id(id)).is_some()
                || state.unusable.contains_key(&id)
            {
                continue;
            }
            let usable = registry.schema_by_id(id).and_then(|schema| {
                arrow_schema(&schema)
                    .map(|_| schema)
                    .map_err(|e| RegistryError::NotFound(format!("schema id {id}: {e}")))
            });
            match usable {
                Ok(schema) => {
                    state
                        .store
                        .set(Fingerprint::Id(id), AvroSchema::new(schema))
                        .map_err(|e| e.to_string())?;
                    state.decoder = None;
                }
                Err(RegistryError::NotFound(why)) => {
                    state.unusable.insert(id, why);
                }
                Err(RegistryError::Unreachable(why)) => return Err(why),
            }
        }
        Ok(())
    }

    fn decode_records(&self, records: &[RecordRef<'_>]) -> Result<Rows, String> {
        let values = record_values(records)?;
        let mut state = self.state.lock().expect("the Avro decoder's lock");
        let mut decoder = match state.decoder.take() {
            Some(decoder) => decoder,
            None if state.store.fingerprints().is_empty() => {
                // Only records naming unusable ids can be here.
                let id = values.first().and_then(|value| registry_id(value));
                return Err(state.unusable_reason(id));
            }
            None => ReaderBuilder::new()
                .with_batch_size(DECODER_BATCH_ROWS)
                .with_writer_schema_store(state.store.clone())
                .build_decoder()
                .map_err(|e| e.to_string())?,
        };
        let mut batches = Vec::new();
        for value in &values {
            let body = match &self.framing {
                Framing::Registry(_) => {
                    let id = registry_id(value);
                    if id.is_none_or(|id| state.store.lookup(&Fingerprint::Id(id)).is_none()) {
                        return Err(state.unusable_reason(id));
                    }
                    *value
                }
                Framing::Definition(prefix) => {
                    feed(&mut decoder, prefix, &mut batches)?;
                    *value
                }
            };
            let before = decoded_rows(&decoder, &batches);
            let fed = feed(&mut decoder, body, &mut batches);
            match (fed, decoded_rows(&decoder, &batches) - before) {
                (Ok(()), 1) => {}
                (_, 1..) => {
                    return Err(
                        "the value is not exactly one Avro record: bytes follow it".to_owned()
                    );
                }
                (Err(error), _) => return Err(error),
                (Ok(()), _) => return Err("the value ends inside its Avro record".to_owned()),
            }
        }
        if let Some(batch) = decoder.flush().map_err(|e| e.to_string())? {
            batches.push(batch);
        }
        state.decoder = Some(decoder);
        let rows = batches
            .iter()
            .map(|batch| self.rows(batch))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Rows {
            batch: concat_batches(&self.schema, &rows).map_err(|e| e.to_string())?,
            weights: vec![1; records.len()],
            records: records.iter().map(|record| record.index).collect(),
        })
    }
}

impl State {
    /// Why a record naming schema `id` (none: not in the wire format) cannot be decoded.
    fn unusable_reason(&self, id: Option<u32>) -> String {
        match id {
            None => "the value is not in the schema registry's wire format (a zero byte and a 4-byte schema id first)".to_owned(),
            Some(id) => self
                .unusable
                .get(&id)
                .cloned()
                .unwrap_or_else(|| format!("schema id {id} was not fetched from the registry")),
        }
    }
}

/// The schema id a value in the registry's wire format names.
fn registry_id(value: &[u8]) -> Option<u32> {
    match value {
        [REGISTRY_MAGIC, a, b, c, d, ..] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

/// Rows decoded so far: those handed over and those in the decoder.
fn decoded_rows(decoder: &arrow_avro::reader::Decoder, batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum::<usize>() + decoder.batch_size()
        - decoder.capacity()
}

/// Feeds all of `bytes` to `decoder`, handing over a batch whenever the decoder is full
/// (or must switch writer schemas).
fn feed(
    decoder: &mut arrow_avro::reader::Decoder,
    bytes: &[u8],
    batches: &mut Vec<RecordBatch>,
) -> Result<(), String> {
    let mut at = 0;
    while at < bytes.len() {
        let read = decoder.decode(&bytes[at..]).map_err(|e| e.to_string())?;
        at += read;
        if decoder.batch_is_full() {
            batches.extend(decoder.flush().map_err(|e| e.to_string())?);
        } else if read == 0 {
            return Err("the value ends inside its Avro record".to_owned());
        }
    }
    Ok(())
}

/// Each value of `column` as canonical JSON text, NULL for NULL.
fn json_texts(field: &FieldRef, column: &ArrayRef) -> Result<ArrayRef, String> {
    let options = EncoderOptions::default();
    let mut encoder = make_encoder(field, column.as_ref(), &options).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let texts: StringArray = (0..column.len())
        .map(|row| {
            (!encoder.is_null(row)).then(|| {
                out.clear();
                encoder.encode(row, &mut out);
                String::from_utf8_lossy(&out).into_owned()
            })
        })
        .collect();
    canonical_json_column(&(Arc::new(texts) as ArrayRef)).map_err(|e| e.message)
}

/// The Arrow schema of the rows of Avro schema `definition` (JSON text), which must be a
/// record.
pub(crate) fn arrow_schema(definition: &str) -> Result<SchemaRef, String> {
    let parsed: serde_json::Value = serde_json::from_str(definition)
        .map_err(|e| format!("the Avro schema is not JSON: {e}"))?;
    if parsed.get("type").and_then(serde_json::Value::as_str) != Some("record") {
        return Err("the Avro schema must be a record, whose fields become columns".to_owned());
    }
    let mut store = SchemaStore::new();
    store
        .register(AvroSchema::new(definition.to_owned()))
        .map_err(|e| e.to_string())?;
    let decoder = ReaderBuilder::new()
        .with_writer_schema_store(store)
        .build_decoder()
        .map_err(|e| e.to_string())?;
    Ok(decoder.schema())
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::{Field, Schema};

    use super::*;
    use crate::decoder::Decoder;
    use crate::records::Records;
    use crate::source_format::{Encode, SourceFormat};

    const SCHEMA: &str = r#"{"type": "record", "name": "T", "fields": [
        {"name": "id", "type": "long"}, {"name": "name", "type": ["null", "string"]}]}"#;

    fn decoder() -> Decoder {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]);
        let format = SourceFormat::Plain(Encode::Avro(AvroSchemaSource::Definition(
            SCHEMA.to_owned(),
        )));
        Decoder::new(&format, Arc::new(schema), 100)
    }

    fn records(values: &[&[u8]]) -> Records {
        let mut records = Records::default();
        for (offset, value) in values.iter().enumerate() {
            records.push(0, offset as i64, None, None, Some(value));
        }
        records
    }

    #[test]
    fn bare_bodies_decode_and_bad_ones_are_set_aside() {
        // id 1, name "ab"; id -2, name NULL (zig-zag longs, a union's branch first).
        let good: [&[u8]; 2] = [&[0x02, 0x02, 0x04, b'a', b'b'], &[0x03, 0x00]];
        let decoded = decoder().decode(&records(&[
            good[0],
            &[0x02, 0x02, 0x08, b'a'],
            good[1],
            &[0x02, 0x00, 0x00],
            &[0x02, 0x04],
        ]));
        assert_eq!(decoded.accepted, vec![0, 2]);
        let reasons: Vec<&str> = decoded.rejected.iter().map(|(_, r)| r.as_str()).collect();
        assert_eq!(decoded.rejected.len(), 3, "{reasons:?}");
        assert!(reasons[0].contains("ends inside"), "{reasons:?}");
        assert!(reasons[1].contains("bytes follow"), "{reasons:?}");
        let shown = datafusion::arrow::util::pretty::pretty_format_batches(&[decoded.rows])
            .unwrap()
            .to_string();
        assert!(shown.contains("| 1  | ab   |"), "{shown}");
        assert!(shown.contains("| -2 |      |"), "{shown}");
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let decoder = decoder();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2000 {
            let len = (next() % 24) as usize;
            let value: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let decoded = decoder.decode(&records(&[&value]));
            assert_eq!(decoded.accepted.len() + decoded.rejected.len(), 1);
        }
    }
}
