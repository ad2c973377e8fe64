//! Float and interval values as SQL compares them, for the operators' key encodings.
//!
//! PostgreSQL's float comparison treats `-0` and `0` as equal, and every NaN as equal to
//! every other NaN and greater than any other value. Arrow's row encoding orders floats by
//! their IEEE total order instead, in which `-0 < 0` and a NaN with its sign bit set (what
//! `'Infinity' - 'Infinity'` yields on x86) sorts before `-Infinity`. Before a column is
//! encoded as a group, partition, join or order key, [`comparable`] maps every zero to `0`
//! and every NaN to the one positive quiet NaN, so that equal values get equal keys and
//! the keys sort as PostgreSQL sorts. Only keys are mapped: a row's own values keep their
//! bits, so `-0` is still shown as `-0`.
//!
//! PostgreSQL compares intervals as one span, a month being 30 days and a day 24 hours
//! (`'1 mon' = '30 days'`, `'1 mon' < '31 days'`), where Arrow compares months, then days,
//! then nanoseconds. [`comparable`] also maps each interval to its *canonical* form, the
//! span written in months, days and nanoseconds of one sign, whose field-by-field order is
//! the span's. Keys that group rows, whose values are shown ([`groupable`]), keep their
//! intervals as they are: a group shows its own interval, so `'1 day'` and `'24 hours'`
//! are two groups (in PostgreSQL one).

use std::sync::Arc;

use datafusion_common::arrow::array::{Array, ArrayRef, AsArray};
use datafusion_common::arrow::datatypes::{
    DataType, Float32Type, Float64Type, IntervalMonthDayNano, IntervalMonthDayNanoType,
    IntervalUnit,
};

/// `column` with its float and interval values mapped as the module describes; other
/// types unchanged. For keys that are only compared: order keys and join keys.
pub fn comparable(column: &ArrayRef) -> ArrayRef {
    match column.data_type() {
        DataType::Interval(IntervalUnit::MonthDayNano) => Arc::new(
            column
                .as_primitive::<IntervalMonthDayNanoType>()
                .unary::<_, IntervalMonthDayNanoType>(canonical_interval),
        ),
        _ => map_floats(column, true),
    }
}

/// `column` with its float values mapped as the module describes: for keys that group
/// rows (group, partition and `DISTINCT` keys), whose values are shown.
pub fn groupable(column: &ArrayRef) -> ArrayRef {
    map_floats(column, true)
}

const NANOS_PER_DAY: i128 = 86_400_000_000_000;
const NANOS_PER_MONTH: i128 = 30 * NANOS_PER_DAY;

/// The span of `interval` as months, days and nanoseconds of one sign (each field
/// truncated towards zero), so that comparing fields in order compares spans. Spans
/// beyond what the fields hold (more than 2^31 months) saturate.
pub fn canonical_interval(interval: IntervalMonthDayNano) -> IntervalMonthDayNano {
    let span = i128::from(interval.months) * NANOS_PER_MONTH
        + i128::from(interval.days) * NANOS_PER_DAY
        + i128::from(interval.nanoseconds);
    let months = (span / NANOS_PER_MONTH).clamp(i32::MIN.into(), i32::MAX.into());
    let rest = span - months * NANOS_PER_MONTH;
    let days = (rest / NANOS_PER_DAY).clamp(i32::MIN.into(), i32::MAX.into());
    let nanoseconds = (rest - days * NANOS_PER_DAY).clamp(i64::MIN.into(), i64::MAX.into());
    IntervalMonthDayNano::new(months as i32, days as i32, nanoseconds as i64)
}

/// `column` with every NaN made the positive one, and zeros kept: for `min` and `max`,
/// whose result is a value of the column (the maximum of `-0` alone is `-0`).
pub fn one_nan(column: &ArrayRef) -> ArrayRef {
    map_floats(column, false)
}

fn map_floats(column: &ArrayRef, zeros: bool) -> ArrayRef {
    match column.data_type() {
        DataType::Float64 => Arc::new(
            column
                .as_primitive::<Float64Type>()
                .unary::<_, Float64Type>(|v| match v {
                    _ if zeros && v == 0.0 => 0.0,
                    _ if v.is_nan() => f64::NAN,
                    _ => v,
                }),
        ),
        DataType::Float32 => Arc::new(
            column
                .as_primitive::<Float32Type>()
                .unary::<_, Float32Type>(|v| match v {
                    _ if zeros && v == 0.0 => 0.0,
                    _ if v.is_nan() => f32::NAN,
                    _ => v,
                }),
        ),
        _ => column.clone(),
    }
}

/// [`comparable`] of each of `columns`.
pub fn comparable_all(columns: &[ArrayRef]) -> Vec<ArrayRef> {
    columns.iter().map(comparable).collect()
}

/// [`groupable`] of each of `columns`.
pub fn groupable_all(columns: &[ArrayRef]) -> Vec<ArrayRef> {
    columns.iter().map(groupable).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion_common::arrow::array::{Float64Array, IntervalMonthDayNanoArray};
    use datafusion_common::arrow::row::{RowConverter, SortField};

    fn keys(values: Vec<Option<f64>>) -> Vec<Vec<u8>> {
        let column: ArrayRef = Arc::new(Float64Array::from(values));
        let encoder = RowConverter::new(vec![SortField::new(DataType::Float64)]).unwrap();
        let rows = encoder.convert_columns(&[comparable(&column)]).unwrap();
        rows.iter().map(|row| row.as_ref().to_vec()).collect()
    }

    #[test]
    fn zeros_share_a_key_and_so_do_nans() {
        let negative_nan = -f64::NAN;
        let keys = keys(vec![
            Some(-0.0),
            Some(0.0),
            Some(f64::NAN),
            Some(negative_nan),
        ]);
        assert_eq!(keys[0], keys[1]);
        assert_eq!(keys[2], keys[3]);
    }

    fn interval_keys(values: &[(i32, i32, i64)]) -> Vec<Vec<u8>> {
        let values = values
            .iter()
            .map(|&(m, d, n)| IntervalMonthDayNano::new(m, d, n));
        let column: ArrayRef = Arc::new(IntervalMonthDayNanoArray::from_iter_values(values));
        let data_type = DataType::Interval(IntervalUnit::MonthDayNano);
        let encoder = RowConverter::new(vec![SortField::new(data_type)]).unwrap();
        let rows = encoder.convert_columns(&[comparable(&column)]).unwrap();
        rows.iter().map(|row| row.as_ref().to_vec()).collect()
    }

    #[test]
    fn intervals_compare_as_spans() {
        const HOUR: i64 = 3_600_000_000_000;
        let keys = interval_keys(&[
            (1, 0, 0),          // 1 mon
            (0, 30, 0),         // 30 days
            (0, 31, 0),         // 31 days
            (0, 1, 0),          // 1 day
            (0, 0, 24 * HOUR),  // 24:00:00
            (0, 0, -HOUR),      // -01:00:00
            (0, -1, 23 * HOUR), // -1 days +23:00:00
            (-1, 29, 0),        // -1 mons +29 days
        ]);
        assert_eq!(keys[0], keys[1]);
        assert!(keys[0] < keys[2]);
        assert_eq!(keys[3], keys[4]);
        assert_eq!(keys[5], keys[6]);
        assert!(keys[7] < keys[5]);
    }

    #[test]
    fn groups_keep_their_intervals() {
        let day: ArrayRef = Arc::new(IntervalMonthDayNanoArray::from_iter_values([
            IntervalMonthDayNano::new(0, 0, 86_400_000_000_000),
        ]));
        assert_eq!(&groupable(&day), &day);
        assert_ne!(&comparable(&day), &day);
    }

    #[test]
    fn every_nan_sorts_above_infinity() {
        let keys = keys(vec![
            Some(-f64::NAN),
            Some(f64::INFINITY),
            Some(f64::NEG_INFINITY),
        ]);
        assert!(keys[0] > keys[1]);
        assert!(keys[2] < keys[1]);
    }
}
