//! Turns a batch of records into rows of the relation they feed.
//!
//! Each format (see [`SourceFormat`]) decodes a whole batch in one pass. If anything in
//! the batch is wrong (a value that is not what the format expects, a field of the wrong
//! type, a NULL in a NOT NULL column, a string too long for its `varchar(n)`), the batch
//! is decoded again record by record, so that each bad record is set aside with its own
//! error and the good ones go on; the slow path costs only batches that hold a bad record.
//!
//! A row carries a weight: +1 inserts it (or, in a table with a primary key, replaces the
//! row with its key), −1 deletes the row with its key (only its key columns are set).

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};

use crate::avro::AvroRows;
use crate::csv::CsvRows;
use crate::debezium::DebeziumRows;
use crate::json::JsonRows;
use crate::records::Records;
use crate::source_format::{Encode, SourceFormat};
use crate::upsert::UpsertRows;

/// One record handed to a format.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordRef<'a> {
    /// The record's position in its batch.
    pub index: usize,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
}

/// Rows decoded from records.
#[derive(Debug)]
pub(crate) struct Rows {
    pub batch: RecordBatch,
    /// +1 (insert or replace by key) or −1 (delete by key), per row.
    pub weights: Vec<i64>,
    /// For each row, the index of its record.
    pub records: Vec<usize>,
}

/// A format's decoding of a batch of records.
pub(crate) trait FormatDecoder: Send + std::fmt::Debug {
    /// The schema of the rows.
    fn schema(&self) -> &SchemaRef;

    /// Whether a record without a value means something (a delete) rather than being a
    /// bad record.
    fn takes_tombstones(&self) -> bool {
        false
    }

    /// Gets ready to decode `values` (a registry's schemas, say); `Err` if something
    /// outside the records is missing now and worth waiting for.
    fn fetch_schemas(&self, _values: &mut dyn Iterator<Item = &[u8]>) -> Result<(), String> {
        Ok(())
    }

    /// The rows of `records`, or the first error met.
    fn decode_records(&self, records: &[RecordRef<'_>]) -> Result<Rows, String>;
}

/// The rows of the records that decoded, and why the others did not.
#[derive(Debug)]
pub struct Decoded {
    pub rows: RecordBatch,
    /// +1 or −1 per row (see the module's documentation).
    pub weights: Vec<i64>,
    /// For each row, the index of its record; ascending.
    pub accepted: Vec<usize>,
    /// Records set aside, with the reason; ascending.
    pub rejected: Vec<(usize, String)>,
}

/// Decodes records of one format into rows of a fixed schema.
#[derive(Debug)]
pub struct Decoder {
    format: Box<dyn FormatDecoder>,
    max_record_bytes: usize,
}

impl Decoder {
    /// A decoder of `format` into the `declared` columns.
    pub fn new(format: &SourceFormat, declared: SchemaRef, max_record_bytes: usize) -> Decoder {
        let format: Box<dyn FormatDecoder> = match format {
            SourceFormat::Plain(Encode::Json) => Box::new(JsonRows::new(declared)),
            SourceFormat::Plain(Encode::Csv(options)) => {
                Box::new(CsvRows::new(declared, options.clone()))
            }
            SourceFormat::Plain(Encode::Avro(source)) => Box::new(AvroRows::new(declared, source)),
            SourceFormat::Upsert => Box::new(UpsertRows::new(declared)),
            SourceFormat::Debezium => Box::new(DebeziumRows::new(declared)),
        };
        Decoder {
            format,
            max_record_bytes,
        }
    }

    /// The schema of the decoded rows: the declared columns, all nullable if the format
    /// deletes rows by key.
    pub fn schema(&self) -> &SchemaRef {
        self.format.schema()
    }

    /// Fetches what decoding `records` needs from outside them (see
    /// [`FormatDecoder::fetch_schemas`]); an error means "try again later".
    pub fn fetch_schemas(&self, records: &Records) -> Result<(), String> {
        self.format.fetch_schemas(&mut records.values().flatten())
    }

    pub fn decode(&self, records: &Records) -> Decoded {
        let mut candidates = Vec::with_capacity(records.len());
        let mut rejected = Vec::new();
        for (index, value) in records.values().enumerate() {
            let record = RecordRef {
                index,
                key: records.keys[index].as_deref(),
                value,
            };
            match value {
                None if !self.format.takes_tombstones() => {
                    rejected.push((index, "the record has no value".to_owned()))
                }
                Some(value) if value.len() > self.max_record_bytes => rejected.push((
                    index,
                    format!(
                        "the record's value of {} bytes exceeds max_record_bytes ({})",
                        value.len(),
                        self.max_record_bytes
                    ),
                )),
                _ => candidates.push(record),
            }
        }
        if let Ok(rows) = self.format.decode_records(&candidates) {
            return Decoded {
                rows: rows.batch,
                weights: rows.weights,
                accepted: rows.records,
                rejected,
            };
        }
        let mut batches = Vec::new();
        let mut weights = Vec::new();
        let mut accepted = Vec::new();
        for candidate in candidates {
            match self.format.decode_records(&[candidate]) {
                Ok(rows) => {
                    batches.push(rows.batch);
                    weights.extend(rows.weights);
                    accepted.extend(rows.records);
                }
                Err(error) => rejected.push((candidate.index, error)),
            }
        }
        rejected.sort_unstable_by_key(|(index, _)| *index);
        let rows = concat_batches(self.format.schema(), &batches)
            .expect("rows decoded into one schema concatenate");
        Decoded {
            rows,
            weights,
            accepted,
            rejected,
        }
    }
}

/// The values of `records`, or an error if one has none.
pub(crate) fn record_values<'a>(records: &[RecordRef<'a>]) -> Result<Vec<&'a [u8]>, String> {
    records
        .iter()
        .map(|record| {
            record
                .value
                .ok_or_else(|| "the record has no value".to_owned())
        })
        .collect()
}

/// `schema` with every column nullable: the rows of a format that deletes by key, whose
/// deletes set only the key columns.
pub(crate) fn all_nullable(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| field.as_ref().clone().with_nullable(true))
        .collect();
    Arc::new(Schema::new(fields))
}
