//! Result columns as PostgreSQL describes and writes them, where that differs from what
//! `arrow-pg` does on its own: applied to each batch before encoding.
//!
//! * `jsonb` (UTF-8 text tagged `arrow.json`) is described with jsonb's type OID and
//!   written in canonical form; in binary format with jsonb's leading version byte.
//!
//! Text renderings of the columns a client reads as text:
//!
//! * Floats: PostgreSQL (with its default `extra_float_digits = 1`) prints the shortest
//!   text that reads back as the same value, in fixed notation unless the decimal exponent
//!   is below -4 or at least the type's precision (15 digits for float8, 6 for float4),
//!   then as `1e+20`; infinities are `Infinity`/`-Infinity`.
//! * Timestamps: fractional seconds only when not zero, trailing zeros dropped;
//!   `timestamptz` with its offset, `+00` (sessions show times in UTC).
//! * Intervals: `1 year 2 mons 3 days 04:05:06.5`, as `IntervalStyle = postgres` prints.

use std::sync::Arc;

use arrow_pg::datatypes::arrow_schema_to_pg_fields;
use datafusion::arrow::array::{ArrayRef, AsArray, BinaryArray, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Field, Float32Type, Float64Type, IntervalMonthDayNanoType, IntervalUnit, Schema,
    Time64MicrosecondType, TimeUnit, TimestampMicrosecondType,
};
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::FieldInfo;
use pgwire::error::PgWireResult;
use weir_common::Result;
use weir_common::json::{canonical_json_column, is_json};

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
    let batch = render_json(batch, format)?;
    Ok(render_for_text(batch, format))
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
/// renderings.
fn render_for_text(batch: RecordBatch, format: &Format) -> RecordBatch {
    let needs_rendering = batch.columns().iter().enumerate().any(|(index, column)| {
        format.is_text(index)
            && matches!(
                column.data_type(),
                DataType::Float32
                    | DataType::Float64
                    | DataType::Timestamp(_, _)
                    | DataType::Time64(_)
                    | DataType::Interval(IntervalUnit::MonthDayNano)
            )
    });
    if !needs_rendering {
        return batch;
    }
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .enumerate()
        .map(|(index, column)| match column.data_type() {
            DataType::Float64 if format.is_text(index) => {
                let values = column.as_primitive::<Float64Type>();
                render(values.iter().map(|v| v.map(|v| float_text(v, 15))))
            }
            DataType::Float32 if format.is_text(index) => {
                let values = column.as_primitive::<Float32Type>();
                render(values.iter().map(|v| v.map(float4_text)))
            }
            DataType::Timestamp(_, zone) if format.is_text(index) => {
                let with_zone = zone.is_some();
                match cast(column, &DataType::Timestamp(TimeUnit::Microsecond, None)) {
                    Ok(micros) => render(
                        micros
                            .as_primitive::<TimestampMicrosecondType>()
                            .iter()
                            .map(|v| v.map(|v| timestamp_text(v, with_zone))),
                    ),
                    Err(_) => column.clone(),
                }
            }
            DataType::Time64(_) if format.is_text(index) => {
                match cast(column, &DataType::Time64(TimeUnit::Microsecond)) {
                    Ok(micros) => render(
                        micros
                            .as_primitive::<Time64MicrosecondType>()
                            .iter()
                            .map(|v| v.map(time_text)),
                    ),
                    Err(_) => column.clone(),
                }
            }
            DataType::Interval(IntervalUnit::MonthDayNano) if format.is_text(index) => {
                let values = column.as_primitive::<IntervalMonthDayNanoType>();
                render(
                    values
                        .iter()
                        .map(|v| v.map(|v| interval_text(v.months, v.days, v.nanoseconds))),
                )
            }
            _ => column.clone(),
        })
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

fn render(values: impl Iterator<Item = Option<String>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>()) as ArrayRef
}

fn float4_text(value: f32) -> String {
    if !value.is_finite() {
        return special(value as f64);
    }
    // The shortest text of the f32, shown with float4's precision threshold.
    layout(&format!("{value:e}"), &value.to_string(), 6)
}

fn float_text(value: f64, precision: i32) -> String {
    if !value.is_finite() {
        return special(value);
    }
    layout(&format!("{value:e}"), &value.to_string(), precision)
}

fn special(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value > 0.0 {
        "Infinity".to_owned()
    } else {
        "-Infinity".to_owned()
    }
}

/// Chooses between the fixed text and the scientific one (`mantissa e exponent`, as Rust
/// writes it) the way PostgreSQL does.
fn layout(scientific: &str, fixed: &str, precision: i32) -> String {
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if exponent < -4 || exponent >= precision {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        fixed.to_owned()
    }
}

fn timestamp_text(micros: i64, with_zone: bool) -> String {
    let Some(time) = chrono::DateTime::from_timestamp_micros(micros) else {
        return micros.to_string();
    };
    let mut text = time.format("%Y-%m-%d %H:%M:%S").to_string();
    push_fraction(&mut text, micros.rem_euclid(1_000_000) as u64);
    if with_zone {
        text.push_str("+00");
    }
    text
}

fn time_text(micros: i64) -> String {
    let seconds = micros / 1_000_000;
    let mut text = format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    );
    push_fraction(&mut text, (micros % 1_000_000) as u64);
    text
}

/// Appends `.ffffff` without trailing zeros, or nothing for whole seconds.
fn push_fraction(text: &mut String, micros: u64) {
    if micros != 0 {
        let fraction = format!(".{micros:06}");
        text.push_str(fraction.trim_end_matches('0'));
    }
}

fn interval_text(months: i32, days: i32, nanoseconds: i64) -> String {
    let unit = |value: i64, singular: &str, plural: &str| {
        format!("{value} {}", if value == 1 { singular } else { plural })
    };
    let mut parts = Vec::new();
    let (years, months) = (months / 12, months % 12);
    if years != 0 {
        parts.push(unit(years.into(), "year", "years"));
    }
    if months != 0 {
        parts.push(unit(months.into(), "mon", "mons"));
    }
    if days != 0 {
        parts.push(unit(days.into(), "day", "days"));
    }
    if nanoseconds != 0 || parts.is_empty() {
        let sign = if nanoseconds < 0 { "-" } else { "" };
        let micros = (nanoseconds.unsigned_abs() / 1000) as i64;
        parts.push(format!("{sign}{}", time_text(micros)));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_postgresql_prints_them() {
        assert_eq!(float_text(250.0, 15), "250");
        assert_eq!(float_text(1.5, 15), "1.5");
        assert_eq!(float_text(0.1 + 0.2, 15), "0.30000000000000004");
        assert_eq!(float_text(1e20, 15), "1e+20");
        assert_eq!(float_text(123456789012345.0, 15), "123456789012345");
        assert_eq!(float_text(1e15, 15), "1e+15");
        assert_eq!(float_text(0.0001, 15), "0.0001");
        assert_eq!(float_text(0.00001, 15), "1e-05");
        assert_eq!(float_text(-2.5e-7, 15), "-2.5e-07");
        assert_eq!(float_text(f64::INFINITY, 15), "Infinity");
        assert_eq!(float_text(f64::NAN, 15), "NaN");
        assert_eq!(float4_text(1.1), "1.1");
        assert_eq!(float4_text(1e6), "1e+06");
        assert_eq!(float4_text(123456.0), "123456");
    }

    #[test]
    fn timestamps_print_as_postgresql_prints_them() {
        let micros = 1_704_164_645_000_000; // 2024-01-02 03:04:05
        assert_eq!(timestamp_text(micros, false), "2024-01-02 03:04:05");
        assert_eq!(
            timestamp_text(micros + 250_000, false),
            "2024-01-02 03:04:05.25"
        );
        assert_eq!(timestamp_text(micros, true), "2024-01-02 03:04:05+00");
    }

    #[test]
    fn intervals_print_as_postgresql_prints_them() {
        let hour = 3_600_000_000_000;
        assert_eq!(interval_text(0, 1, 0), "1 day");
        assert_eq!(interval_text(14, -2, 0), "1 year 2 mons -2 days");
        assert_eq!(
            interval_text(0, 1, 2 * hour + 3 * 60_000_000_000 + 4_500_000_000),
            "1 day 02:03:04.5"
        );
        assert_eq!(interval_text(0, 0, -hour), "-01:00:00");
        assert_eq!(interval_text(0, 0, 0), "00:00:00");
    }
}
