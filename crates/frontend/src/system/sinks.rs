//! `weir_catalog.sinks`: for each sink, its topic, how far its writer has delivered, how
//! many epochs' messages wait in its outbox, and its last error. Counts are since the
//! server started.

use std::sync::{Arc, Weak};

use datafusion::arrow::array::{
    ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use weir_storage::Store;

use super::{SystemTable, object_names};
use crate::maintainer::Maintainer;

pub(super) fn table(store: Arc<Store>, maintainer: Weak<Maintainer>) -> SystemTable {
    let timestamp = DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("sink_name", DataType::Utf8, true),
        Field::new("topic", DataType::Utf8, false),
        Field::new("delivered_epochs", DataType::Int64, false),
        Field::new("undelivered_epochs", DataType::Int64, false),
        Field::new("messages", DataType::Int64, false),
        Field::new("last_error", DataType::Utf8, true),
        Field::new("last_error_at", timestamp, true),
    ]));
    let rows = move |snapshot: &_, schema: &_| {
        let names = object_names(snapshot)?;
        let sinks = maintainer
            .upgrade()
            .map(|maintainer| maintainer.sink_reports())
            .unwrap_or_default();
        let int64 = |value: fn(&crate::sinks::SinkReport) -> u64| -> ArrayRef {
            Arc::new(Int64Array::from_iter_values(
                sinks.iter().map(|sink| value(sink) as i64),
            ))
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(
                sinks
                    .iter()
                    .map(|sink| names.get(&sink.id).cloned())
                    .collect::<StringArray>(),
            ),
            Arc::new(StringArray::from_iter_values(
                sinks.iter().map(|sink| &sink.topic),
            )),
            int64(|sink| sink.status.delivered),
            int64(|sink| sink.undelivered),
            int64(|sink| sink.status.messages),
            Arc::new(
                sinks
                    .iter()
                    .map(|sink| sink.status.last_error.clone())
                    .collect::<StringArray>(),
            ),
            Arc::new(
                sinks
                    .iter()
                    .map(|sink| sink.status.last_error_at)
                    .collect::<TimestampMicrosecondArray>()
                    .with_timezone("+00:00"),
            ),
        ];
        Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
    };
    SystemTable::new("sinks", schema, Box::new(rows), store)
}
