//! A source's columns: those declared, decoded from each record's value, then the record
//! metadata asked for with `INCLUDE`.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BinaryArray, Int32Array, Int64Array, TimestampMicrosecondArray,
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
}

impl SourceSchema {
    /// Every column of the source.
    pub fn full(&self) -> SchemaRef {
        let mut fields: Vec<Field> = self
            .declared
            .fields()
            .iter()
            .map(|field| field.as_ref().clone())
            .collect();
        for (item, name) in &self.metadata {
            fields.push(Field::new(name, item.data_type(), true));
        }
        Arc::new(Schema::new(fields))
    }

    /// The metadata columns of records `rows`.
    pub fn metadata_columns(&self, records: &Records, rows: &[usize]) -> Vec<ArrayRef> {
        self.metadata
            .iter()
            .map(|(item, _)| item.column(records, rows))
            .collect()
    }
}
