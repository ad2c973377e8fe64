//! Float values as SQL compares them, for the operators' key encodings.
//!
//! PostgreSQL's float comparison treats `-0` and `0` as equal, and every NaN as equal to
//! every other NaN and greater than any other value. Arrow's row encoding orders floats by
//! their IEEE total order instead, in which `-0 < 0` and a NaN with its sign bit set (what
//! `'Infinity' - 'Infinity'` yields on x86) sorts before `-Infinity`. Before a column is
//! encoded as a group, partition, join or order key, [`comparable`] maps every zero to `0`
//! and every NaN to the one positive quiet NaN, so that equal values get equal keys and
//! the keys sort as PostgreSQL sorts. Only keys are mapped: a row's own values keep their
//! bits, so `-0` is still shown as `-0`.

use std::sync::Arc;

use datafusion_common::arrow::array::{Array, ArrayRef, AsArray};
use datafusion_common::arrow::datatypes::{DataType, Float32Type, Float64Type};

/// `column` with its float values mapped as the module describes; other types unchanged.
pub fn comparable(column: &ArrayRef) -> ArrayRef {
    map_floats(column, true)
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

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion_common::arrow::array::Float64Array;
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
