//! Result columns as PostgreSQL describes and writes them, where that differs from what
//! `arrow-pg` does on its own: applied to each batch before encoding.
//!
//! * `jsonb` (UTF-8 text tagged `arrow.json`) is described with jsonb's type OID and
//!   written in canonical form; in binary format with jsonb's leading version byte.
//!
//! Records that would be longer than 1 GB as text are refused (see `record_text`).
//!
//! Floats, times and intervals a client reads as text are written as PostgreSQL writes
//! them (see [`weir_common::pg_text`]). Intervals read in binary are written here too:
//! `arrow-pg` writes a NULL interval as a zero one.

use std::sync::Arc;

use arrow_pg::datatypes::arrow_schema_to_pg_fields;
use datafusion::arrow::array::{ArrayRef, AsArray, BinaryArray, RecordBatch};
use datafusion::arrow::datatypes::{
    DataType, Field, IntervalMonthDayNanoType, IntervalUnit, Schema,
};
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::FieldInfo;
use pgwire::error::PgWireResult;
use weir_common::Result;
use weir_common::json::{canonical_json_column, is_json};
use weir_common::pg_text::pg_text;

/// The RowDescription of a result with `schema`, read in `format`.
pub(crate) fn result_fields(schema: &Schema, format: &Format) -> PgWireResult<Vec<FieldInfo>> {
    let fields = arrow_schema_to_pg_fields(schema, format, None)?;
    Ok(fields
        .into_iter()
        .zip(schema.fields())
        .map(|(info, field)| match is_json(field) {
            true => FieldInfo::new(
                info.name().to_owned(),
                None,
                None,
                Type::JSONB,
                info.format(),
            ),
            false => info,
        })
        .collect())
}

/// Replaces the columns PostgreSQL writes differently with its renderings.
pub(crate) fn render_values(batch: RecordBatch, format: &Format) -> Result<RecordBatch> {
    crate::record_text::check_record_lengths(&batch)?;
    let batch = render_json(batch, format)?;
    Ok(render_for_format(batch, format))
}

/// jsonb columns in canonical form: text, or binary with jsonb's version byte (1).
fn render_json(batch: RecordBatch, format: &Format) -> Result<RecordBatch> {
    let schema = batch.schema();
    if !schema.fields().iter().any(|field| is_json(field)) {
        return Ok(batch);
    }
    let mut columns = Vec::with_capacity(batch.num_columns());
    let mut fields = Vec::with_capacity(batch.num_columns());
    for (index, (column, field)) in batch.columns().iter().zip(schema.fields()).enumerate() {
        if !is_json(field) {
            columns.push(column.clone());
            fields.push(field.clone());
            continue;
        }
        let canonical = canonical_json_column(column)?;
        if format.is_text(index) {
            columns.push(canonical);
            fields.push(field.clone());
        } else {
            let binary: BinaryArray = canonical
                .as_string::<i32>()
                .iter()
                .map(|value| value.map(|text| [&[1u8][..], text.as_bytes()].concat()))
                .collect();
            columns.push(Arc::new(binary));
            fields.push(Arc::new(Field::new(field.name(), DataType::Binary, true)));
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Replaces float, time and interval columns read as text with their PostgreSQL
/// renderings, and interval columns read in binary with PostgreSQL's binary form.
fn render_for_format(batch: RecordBatch, format: &Format) -> RecordBatch {
    let rendered: Vec<Option<ArrayRef>> = batch
        .columns()
        .iter()
        .enumerate()
        .map(|(index, column)| match format.is_text(index) {
            true => pg_text(column),
            false => binary_interval(column),
        })
        .collect();
    if rendered.iter().all(Option::is_none) {
        return batch;
    }
    let columns: Vec<ArrayRef> = rendered
        .into_iter()
        .zip(batch.columns())
        .map(|(rendered, column)| rendered.unwrap_or_else(|| column.clone()))
        .collect();
    let fields: Vec<_> = batch
        .schema()
        .fields()
        .iter()
        .zip(&columns)
        .map(|(field, column)| {
            field
                .as_ref()
                .clone()
                .with_data_type(column.data_type().clone())
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    RecordBatch::try_new(schema, columns).unwrap_or(batch)
}

/// An interval column in PostgreSQL's binary form (microseconds, days, months, big
/// endian), its NULLs kept.
fn binary_interval(column: &ArrayRef) -> Option<ArrayRef> {
    let DataType::Interval(IntervalUnit::MonthDayNano) = column.data_type() else {
        return None;
    };
    let binary: BinaryArray = column
        .as_primitive::<IntervalMonthDayNanoType>()
        .iter()
        .map(|value| {
            value.map(|value| {
                let micros = (value.nanoseconds / 1000).to_be_bytes();
                [
                    &micros[..],
                    &value.days.to_be_bytes(),
                    &value.months.to_be_bytes(),
                ]
                .concat()
            })
        })
        .collect();
    Some(Arc::new(binary))
}
