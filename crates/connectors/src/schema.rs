//! A source's columns: those declared, decoded from each record's value, then the record
//! metadata asked for with `INCLUDE`.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BinaryArray, Int32Array, Int64Array, RecordBatch, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use weir_common::{Result, WeirError};

use crate::records::Records;

/// Record metadata a source can include as a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metadata {
    Partition,
    Offset,
    Timestamp,
    Key,
}

impl Metadata {
    pub fn parse(item: &str) -> Result<Metadata> {
        match item {
            "partition" => Ok(Metadata::Partition),
            "offset" => Ok(Metadata::Offset),
            "timestamp" => Ok(Metadata::Timestamp),
            "key" => Ok(Metadata::Key),
            other => Err(WeirError::not_supported(format!("INCLUDE {other}"))
                .with_hint("A Kafka source can include partition, offset, timestamp and key.")),
        }
    }

    /// The column's name when the `INCLUDE` gives none (RisingWave's).
    pub fn default_name(self) -> &'static str {
        match self {
            Metadata::Partition => "_rw_kafka_partition",
            Metadata::Offset => "_rw_kafka_offset",
            Metadata::Timestamp => "_rw_kafka_timestamp",
            Metadata::Key => "_rw_kafka_key",
        }
    }

    fn data_type(self) -> DataType {
        match self {
            Metadata::Partition => DataType::Int32,
            Metadata::Offset => DataType::Int64,
            Metadata::Timestamp => {
                DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
            }
            Metadata::Key => DataType::Binary,
        }
    }

    /// The column of records `rows` (indexes into `records`).
    fn column(self, records: &Records, rows: &[usize]) -> ArrayRef {
        match self {
            Metadata::Partition => Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|&row| records.partitions[row]),
            )),
            Metadata::Offset => Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|&row| records.offsets[row]),
            )),
            Metadata::Timestamp => Arc::new(
                rows.iter()
                    .map(|&row| records.timestamps[row].map(|millis| millis * 1000))
                    .collect::<TimestampMicrosecondArray>()
                    .with_timezone("+00:00"),
            ),
            Metadata::Key => Arc::new(
                rows.iter()
                    .map(|&row| records.keys[row].as_deref())
                    .collect::<BinaryArray>(),
            ),
        }
    }
}

/// The declared columns and the metadata columns after them.
#[derive(Clone, Debug)]
pub struct SourceSchema {
    pub declared: SchemaRef,
    pub metadata: Vec<(Metadata, String)>,
    /// For a table fed by the source: its primary-key columns (positions among all
    /// columns). Each change is checked against the table's constraints before it is
    /// handed over, so that a record that breaks them is a dead letter.
    pub primary_key: Option<Vec<usize>>,
}

impl SourceSchema {
    /// Every column of the source.
    pub fn full(&self) -> SchemaRef {
        self.with_metadata(&self.declared)
    }

    /// `decoded` (the declared columns as a format decodes them) and the metadata columns.
    pub fn with_metadata(&self, decoded: &SchemaRef) -> SchemaRef {
        let mut fields: Vec<Field> = decoded
            .fields()
            .iter()
            .map(|field| field.as_ref().clone())
            .collect();
        for (item, name) in &self.metadata {
            fields.push(Field::new(name, item.data_type(), true));
        }
        Arc::new(Schema::new(fields))
    }

    /// The rows of `rows` (all columns, as handed over, with their `weights`) that cannot
    /// change the table the source feeds, and why: a NULL where the table has NOT NULL
    /// (an insert) or in the key (a delete). Nothing for a source.
    pub fn violations(&self, rows: &RecordBatch, weights: &[i64]) -> BTreeMap<usize, String> {
        let mut found = BTreeMap::new();
        let Some(key) = &self.primary_key else {
            return found;
        };
        for (column, field) in self.full().fields().iter().enumerate() {
            let array = rows.column(column);
            let in_key = key.contains(&column);
            if array.null_count() == 0 || (!in_key && field.is_nullable()) {
                continue;
            }
            for row in (0..rows.num_rows()).filter(|&row| array.is_null(row)) {
                let message = match weights[row] {
                    1 => format!(
                        "null value in column \"{}\" violates not-null constraint",
                        field.name()
                    ),
                    _ if in_key => format!("the delete's key column \"{}\" is NULL", field.name()),
                    _ => continue,
                };
                found.entry(row).or_insert(message);
            }
        }
        found
    }

    /// The metadata columns of records `rows`.
    pub fn metadata_columns(&self, records: &Records, rows: &[usize]) -> Vec<ArrayRef> {
        self.metadata
            .iter()
            .map(|(item, _)| item.column(records, rows))
            .collect()
    }
}
