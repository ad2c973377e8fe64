//! `weir_catalog.source_dead_letters`: records Kafka sources could not decode, with the
//! reason, newest last; the oldest are dropped past a bound (see `crate::sources`).

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BinaryArray, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use weir_common::Result;
use weir_storage::{ReadSnapshot, Store};

use super::{SystemTable, object_names};
use crate::sources::read_dead_letters;

pub(super) fn table(store: Arc<Store>) -> SystemTable {
    let schema = Arc::new(Schema::new(vec![
        Field::new("source_name", DataType::Utf8, true),
        Field::new("view_name", DataType::Utf8, true),
        Field::new("topic", DataType::Utf8, false),
        Field::new("partition", DataType::Int32, false),
        Field::new("offset", DataType::Int64, false),
        Field::new("key", DataType::Binary, true),
        Field::new("value", DataType::Binary, true),
        Field::new("error", DataType::Utf8, false),
        Field::new(
            "recorded_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            false,
        ),
    ]));
    SystemTable::new("source_dead_letters", schema, Box::new(rows), store)
}

fn rows(snapshot: &ReadSnapshot, schema: &SchemaRef) -> Result<RecordBatch> {
    let names = object_names(snapshot)?;
    let name = |id: u32| names.get(&id).cloned();
    let letters = read_dead_letters(snapshot)?;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            letters
                .iter()
                .map(|l| name(l.source_id))
                .collect::<StringArray>(),
        ),
        Arc::new(
            letters
                .iter()
                .map(|l| name(l.reader_id))
                .collect::<StringArray>(),
        ),
        Arc::new(StringArray::from_iter_values(
            letters.iter().map(|l| &l.topic),
        )),
        Arc::new(Int32Array::from_iter_values(
            letters.iter().map(|l| l.letter.partition),
        )),
        Arc::new(Int64Array::from_iter_values(
            letters.iter().map(|l| l.letter.offset),
        )),
        Arc::new(
            letters
                .iter()
                .map(|l| l.letter.key.as_deref())
                .collect::<BinaryArray>(),
        ),
        Arc::new(
            letters
                .iter()
                .map(|l| l.letter.value.as_deref())
                .collect::<BinaryArray>(),
        ),
        Arc::new(StringArray::from_iter_values(
            letters.iter().map(|l| &l.letter.error),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(letters.iter().map(|l| l.letter.at))
                .with_timezone("+00:00"),
        ),
    ];
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}
