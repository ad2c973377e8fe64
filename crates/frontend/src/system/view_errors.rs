//! `weir_catalog.view_errors`: rows materialized views left out because an expression
//! failed on them, newest last (see `crate::view_errors`).

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use weir_common::Result;
use weir_storage::{ReadSnapshot, Store};

use super::{SystemTable, object_names};
use crate::view_errors::read_view_errors;

pub(super) fn table(store: Arc<Store>) -> SystemTable {
    let schema = Arc::new(Schema::new(vec![
        Field::new("view_name", DataType::Utf8, true),
        Field::new("view_id", DataType::Int64, false),
        Field::new("operator", DataType::Int32, false),
        Field::new("error", DataType::Utf8, false),
        Field::new("row", DataType::Utf8, false),
        Field::new(
            "recorded_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            false,
        ),
    ]));
    SystemTable::new("view_errors", schema, Box::new(rows), store)
}

fn rows(snapshot: &ReadSnapshot, schema: &SchemaRef) -> Result<RecordBatch> {
    let names = object_names(snapshot)?;
    let errors = read_view_errors(snapshot)?;
    let name = |id: u32| names.get(&id).cloned();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            errors
                .iter()
                .map(|e| name(e.view_id))
                .collect::<StringArray>(),
        ),
        Arc::new(Int64Array::from_iter_values(
            errors.iter().map(|e| i64::from(e.view_id)),
        )),
        Arc::new(Int32Array::from_iter_values(
            errors.iter().map(|e| i32::from(e.operator)),
        )),
        Arc::new(StringArray::from_iter_values(
            errors.iter().map(|e| e.message.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            errors.iter().map(|e| e.row.as_str()),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(errors.iter().map(|e| e.recorded_at))
                .with_timezone("+00:00"),
        ),
    ];
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}
