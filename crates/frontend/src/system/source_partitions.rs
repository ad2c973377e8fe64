//! `weir_catalog.source_partitions`: for each reader of a Kafka source (one per
//! materialized view that reads it) and each partition, how far it has read and
//! committed, how far behind the topic it is, and its last error. Partition −1 carries
//! errors of the source as a whole, such as an unreachable broker. Counts are since the
//! server started.

use std::sync::{Arc, Weak};

use datafusion::arrow::array::{
    ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use weir_storage::Store;

use super::{SystemTable, object_names};
use crate::maintainer::Maintainer;

pub(super) fn table(store: Arc<Store>, maintainer: Weak<Maintainer>) -> SystemTable {
    let timestamp = DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("source_name", DataType::Utf8, true),
        Field::new("view_name", DataType::Utf8, true),
        Field::new("topic", DataType::Utf8, false),
        Field::new("partition", DataType::Int32, false),
        Field::new("committed_offset", DataType::Int64, true),
        Field::new("high_watermark", DataType::Int64, true),
        Field::new("lag", DataType::Int64, true),
        Field::new("records", DataType::Int64, false),
        Field::new("bytes", DataType::Int64, false),
        Field::new("dead_lettered", DataType::Int64, false),
        Field::new("last_error", DataType::Utf8, true),
        Field::new("last_error_at", timestamp, true),
    ]));
    let rows = move |snapshot: &_, schema: &_| {
        let names = object_names(snapshot)?;
        let name = |id: u32| names.get(&id).cloned();
        let readers = maintainer
            .upgrade()
            .map(|maintainer| maintainer.source_status())
            .unwrap_or_default();
        let int64 = |value: fn(&crate::sources::ReaderStatus) -> Option<i64>| -> ArrayRef {
            Arc::new(readers.iter().map(value).collect::<Int64Array>())
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(
                readers
                    .iter()
                    .map(|r| name(r.source))
                    .collect::<StringArray>(),
            ),
            Arc::new(
                readers
                    .iter()
                    .map(|r| name(r.owner))
                    .collect::<StringArray>(),
            ),
            Arc::new(StringArray::from_iter_values(
                readers.iter().map(|r| &r.topic),
            )),
            Arc::new(Int32Array::from_iter_values(
                readers.iter().map(|r| r.partition),
            )),
            int64(|r| r.status.committed),
            int64(|r| r.status.high_watermark),
            int64(|r| Some((r.status.high_watermark? - r.status.committed?).max(0))),
            int64(|r| Some(r.status.records as i64)),
            int64(|r| Some(r.status.bytes as i64)),
            int64(|r| Some(r.status.dead_lettered as i64)),
            Arc::new(
                readers
                    .iter()
                    .map(|r| r.status.last_error.clone())
                    .collect::<StringArray>(),
            ),
            Arc::new(
                readers
                    .iter()
                    .map(|r| r.status.last_error_at)
                    .collect::<TimestampMicrosecondArray>()
                    .with_timezone("+00:00"),
            ),
        ];
        Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
    };
    SystemTable::new("source_partitions", schema, Box::new(rows), store)
}
