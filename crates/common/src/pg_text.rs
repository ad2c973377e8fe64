//! Values written as text the way PostgreSQL writes them, where Arrow's display differs:
//! for result columns a client reads as text, and for casts to `text`.
//!
//! * Floats: PostgreSQL (with its default `extra_float_digits = 1`) prints the shortest
//!   text that reads back as the same value, in fixed notation unless the decimal exponent
//!   is below -4 or at least the type's precision (15 digits for float8, 6 for float4),
//!   then as `1e+20`; infinities are `Infinity`/`-Infinity`, and `-0` is `-0`.
//! * Timestamps: fractional seconds only when not zero, trailing zeros dropped;
//!   `timestamptz` with its offset, `+00` (sessions show times in UTC).
//! * Intervals: `1 year 2 mons 3 days 04:05:06.5`, as `IntervalStyle = postgres` prints,
//!   a field after a negative one signed (`-1 days +02:00:00`).

use std::sync::Arc;

use datafusion_common::arrow::array::{ArrayRef, AsArray, StringArray};
use datafusion_common::arrow::compute::cast;
use datafusion_common::arrow::datatypes::{
    DataType, Float32Type, Float64Type, IntervalMonthDayNanoType, IntervalUnit,
    Time64MicrosecondType, TimeUnit, TimestampMicrosecondType,
};

/// `column` as PostgreSQL's text, if its type is one PostgreSQL writes otherwise than
/// Arrow does; `None` for the others.
pub fn pg_text(column: &ArrayRef) -> Option<ArrayRef> {
    Some(match column.data_type() {
        DataType::Float64 => {
            let values = column.as_primitive::<Float64Type>();
            render(values.iter().map(|v| v.map(|v| float_text(v, 15))))
        }
        DataType::Float32 => {
            let values = column.as_primitive::<Float32Type>();
            render(values.iter().map(|v| v.map(float4_text)))
        }
        DataType::Timestamp(_, zone) => {
            let with_zone = zone.is_some();
            let micros = cast(column, &DataType::Timestamp(TimeUnit::Microsecond, None)).ok()?;
            render(
                micros
                    .as_primitive::<TimestampMicrosecondType>()
                    .iter()
                    .map(|v| v.map(|v| timestamp_text(v, with_zone))),
            )
        }
        DataType::Time64(_) => {
            let micros = cast(column, &DataType::Time64(TimeUnit::Microsecond)).ok()?;
            render(
                micros
                    .as_primitive::<Time64MicrosecondType>()
                    .iter()
                    .map(|v| v.map(time_text)),
            )
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let values = column.as_primitive::<IntervalMonthDayNanoType>();
            render(
                values
                    .iter()
                    .map(|v| v.map(|v| interval_text(v.months, v.days, v.nanoseconds))),
            )
        }
        _ => return None,
    })
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

/// As PostgreSQL's `EncodeInterval` writes it: a field after a negative one is signed
/// (`-1 mons +3 days`, `-1 days +02:00:00`).
fn interval_text(months: i32, days: i32, nanoseconds: i64) -> String {
    let mut parts = Vec::new();
    let mut after_negative = false;
    let (years, months) = (months / 12, months % 12);
    for (value, singular, plural) in [
        (years, "year", "years"),
        (months, "mon", "mons"),
        (days, "day", "days"),
    ] {
        if value != 0 {
            let sign = if after_negative && value > 0 { "+" } else { "" };
            let unit = if value == 1 { singular } else { plural };
            parts.push(format!("{sign}{value} {unit}"));
            after_negative = value < 0;
        }
    }
    if nanoseconds != 0 || parts.is_empty() {
        let sign = match (nanoseconds < 0, after_negative) {
            (true, _) => "-",
            (false, true) => "+",
            (false, false) => "",
        };
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
        assert_eq!(interval_text(-1, 3, 0), "-1 mons +3 days");
        assert_eq!(interval_text(0, -1, 2 * hour), "-1 days +02:00:00");
        assert_eq!(interval_text(-14, 0, -hour), "-1 years -2 mons -01:00:00");
    }
}
