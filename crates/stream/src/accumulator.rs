//! The running value of one aggregate in one group, under insertions *and* deletions.
//!
//! * `count`, `sum`, `avg`, `bool_and`, `bool_or` keep weighted sums and counts of
//!   non-null values (booleans as 0 and 1): a deletion subtracts what its insertion added.
//!   The sums of floats are exact, with NaN and the infinities counted apart (see
//!   [`crate::float_sum`]).
//! * `var_samp`, `var_pop`, `stddev_samp`, `stddev_pop` keep the count and the exact sums
//!   of their values and of their squares, so their results may differ from a one-pass
//!   computation in the last digits.
//! * `string_agg` and `array_agg` keep a multiset ordered by their `ORDER BY`; see
//!   [`crate::ordered_values`].
//! * `min`, `max` and `count(DISTINCT …)` keep a multiset (value → multiplicity) of the
//!   group's non-null values, values ordered as SQL orders them, so deleting the current
//!   minimum reveals the next one.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int64Type};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::ScalarValue;
use weir_common::comparable::{comparable, one_nan};
use weir_common::{Result, WeirError};

use crate::float_sum::FloatSum;
use crate::wide_sum::WideSum;

/// Which aggregate, and how its argument is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Function {
    /// `count(*)`: every row.
    CountRows,
    /// `count(x)`: rows where `x` is not null.
    Count,
    CountDistinct,
    Sum,
    Avg,
    Min,
    Max,
    BoolAnd,
    BoolOr,
    VarSamp,
    VarPop,
    StddevSamp,
    StddevPop,
    /// `string_agg` and `array_agg`: every value (or every non-null one) in a multiset
    /// ordered by the aggregate's `ORDER BY`; see [`crate::ordered_values`].
    Collect {
        keeps_nulls: bool,
    },
}

/// The argument values of one chunk, read once for all its rows.
pub(crate) enum Values {
    None,
    /// Whether each row's value is not null.
    Present(Vec<bool>),
    Integers(Vec<Option<i128>>),
    Floats(Vec<Option<f64>>),
    /// Decimal values as unscaled integers (the argument type has the scale).
    Decimals(Vec<Option<i128>>),
    /// Values in their ordered byte encoding.
    Encoded(Vec<Option<Vec<u8>>>),
}

impl Values {
    /// Reads `argument` as `function` needs it; `encoder` orders values for the multiset
    /// aggregates, after the `ordering` columns of an aggregate's `ORDER BY`.
    pub fn read(
        function: Function,
        argument: Option<&ArrayRef>,
        ordering: &[ArrayRef],
        encoder: Option<&RowConverter>,
    ) -> Result<Values> {
        let Some(argument) = argument else {
            return Ok(Values::None);
        };
        Ok(match function {
            Function::CountRows => Values::None,
            Function::Count => {
                Values::Present((0..argument.len()).map(|i| argument.is_valid(i)).collect())
            }
            Function::Min | Function::Max | Function::CountDistinct => {
                let encoder = encoder.expect("multiset aggregates have an encoder");
                // Distinct values are counted as SQL compares them; min and max keep
                // each value's zeros (the maximum of `-0` alone is `-0`).
                let argument = match function {
                    Function::CountDistinct => comparable(argument),
                    _ => one_nan(argument),
                };
                let rows = encoder.convert_columns(std::slice::from_ref(&argument))?;
                Values::Encoded(
                    (0..argument.len())
                        .map(|i| argument.is_valid(i).then(|| rows.row(i).as_ref().to_vec()))
                        .collect(),
                )
            }
            Function::Collect { keeps_nulls } => {
                let encoder = encoder.expect("collecting aggregates have an encoder");
                let mut columns = ordering.to_vec();
                columns.push(argument.clone());
                let rows = encoder.convert_columns(&columns)?;
                Values::Encoded(
                    (0..argument.len())
                        .map(|i| {
                            (keeps_nulls || argument.is_valid(i))
                                .then(|| rows.row(i).as_ref().to_vec())
                        })
                        .collect(),
                )
            }
            Function::BoolAnd | Function::BoolOr => {
                let values = argument.as_boolean();
                Values::Integers(values.iter().map(|v| v.map(i128::from)).collect())
            }
            Function::VarSamp | Function::VarPop | Function::StddevSamp | Function::StddevPop => {
                let values = cast(argument, &DataType::Float64)?;
                Values::Floats(values.as_primitive::<Float64Type>().iter().collect())
            }
            Function::Sum | Function::Avg => match argument.data_type() {
                DataType::Decimal128(_, _) => {
                    let values = argument.as_primitive::<Decimal128Type>();
                    Values::Decimals(values.iter().collect())
                }
                DataType::Float16 | DataType::Float32 | DataType::Float64 => {
                    let values = cast(argument, &DataType::Float64)?;
                    Values::Floats(values.as_primitive::<Float64Type>().iter().collect())
                }
                data_type if data_type.is_integer() => {
                    let values = cast(argument, &DataType::Int64)?;
                    Values::Integers(
                        values
                            .as_primitive::<Int64Type>()
                            .iter()
                            .map(|v| v.map(i128::from))
                            .collect(),
                    )
                }
                other => {
                    return Err(WeirError::not_supported(format!(
                        "sum and avg of {other} in a materialized view"
                    )));
                }
            },
        })
    }
}

/// The state of one aggregate in one group.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Accumulator {
    /// Weighted count of the rows (or non-null values) seen.
    pub count: i64,
    /// Weighted sum of integer or decimal values (of booleans as 0 and 1).
    pub integer_sum: WideSum,
    /// Weighted sums of float values and of their squares.
    pub floats: FloatSum,
    /// Multiplicity of each distinct non-null value, for min, max and count distinct.
    pub multiset: BTreeMap<Vec<u8>, i64>,
}

impl Accumulator {
    /// Adds row `row` of `values` with `weight` (negative to delete).
    pub fn update(&mut self, function: Function, values: &Values, row: usize, weight: i64) {
        match (function, values) {
            (Function::CountRows, _) => self.count += weight,
            (_, Values::Integers(v)) | (_, Values::Decimals(v)) => {
                if let Some(value) = v[row] {
                    self.count += weight;
                    self.integer_sum.add(value, weight);
                }
            }
            (_, Values::Floats(v)) => {
                if let Some(value) = v[row] {
                    self.count += weight;
                    let squares = matches!(
                        function,
                        Function::VarSamp
                            | Function::VarPop
                            | Function::StddevSamp
                            | Function::StddevPop
                    );
                    self.floats.add(value, weight, squares);
                }
            }
            (_, Values::Present(present)) => {
                if present[row] {
                    self.count += weight;
                }
            }
            (_, Values::Encoded(v)) => {
                if let Some(value) = &v[row] {
                    let multiplicity = self.multiset.entry(value.clone()).or_insert(0);
                    *multiplicity += weight;
                    if *multiplicity == 0 {
                        self.multiset.remove(value);
                    }
                }
            }
            (_, Values::None) => {}
        }
    }

    /// The aggregate's value, of type `output`; `input` is the argument's type and
    /// `decoder` reads multiset values back.
    pub fn value(
        &self,
        function: Function,
        input: Option<&DataType>,
        output: &DataType,
        decoder: Option<&RowConverter>,
    ) -> Result<ScalarValue> {
        let value = match function {
            Function::CountRows | Function::Count => ScalarValue::Int64(Some(self.count)),
            Function::CountDistinct => ScalarValue::Int64(Some(self.multiset.len() as i64)),
            Function::Sum | Function::Avg | Function::BoolAnd | Function::BoolOr
                if self.count == 0 =>
            {
                ScalarValue::Null
            }
            Function::BoolAnd => ScalarValue::Boolean(Some(
                self.integer_sum.exact() == Some(i128::from(self.count)),
            )),
            Function::BoolOr => ScalarValue::Boolean(Some(self.integer_sum.exact() != Some(0))),
            Function::VarSamp | Function::VarPop | Function::StddevSamp | Function::StddevPop => {
                let sample = matches!(function, Function::VarSamp | Function::StddevSamp);
                let variance = self.floats.variance(self.count, sample);
                ScalarValue::Float64(variance.map(|variance| match function {
                    Function::StddevSamp | Function::StddevPop => variance.sqrt(),
                    _ => variance,
                }))
            }
            Function::Sum => match input {
                Some(DataType::Decimal128(_, scale)) => {
                    let DataType::Decimal128(precision, _) = output else {
                        return Err(WeirError::internal("a decimal sum is not a decimal"));
                    };
                    let sum = self
                        .integer_sum
                        .exact()
                        .filter(|sum| sum.unsigned_abs() < 10u128.pow(u32::from(*precision)))
                        .ok_or_else(numeric_overflow)?;
                    ScalarValue::Decimal128(Some(sum), *precision, *scale)
                }
                Some(DataType::Float16 | DataType::Float32 | DataType::Float64) => {
                    ScalarValue::Float64(Some(self.floats.sum()))
                }
                _ => ScalarValue::Int64(Some(
                    self.integer_sum
                        .exact()
                        .and_then(|sum| i64::try_from(sum).ok())
                        .ok_or_else(|| {
                            WeirError::new(
                                weir_common::SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                                "bigint out of range",
                            )
                        })?,
                )),
            },
            Function::Avg => match (input, output) {
                (
                    Some(DataType::Decimal128(_, scale)),
                    DataType::Decimal128(precision, out_scale),
                ) => {
                    let shift = 10i128.pow(u32::try_from(out_scale - scale).unwrap_or(0));
                    let count = i128::from(self.count);
                    // Round half away from zero, as PostgreSQL's numeric division does.
                    let quotient = self
                        .integer_sum
                        .exact()
                        .and_then(|sum| sum.checked_mul(shift)?.checked_mul(2))
                        .and_then(|twice| twice.checked_add(twice.signum() * count))
                        .map(|rounded| rounded / (2 * count))
                        .filter(|avg| avg.unsigned_abs() < 10u128.pow(u32::from(*precision)))
                        .ok_or_else(numeric_overflow)?;
                    ScalarValue::Decimal128(Some(quotient), *precision, *out_scale)
                }
                (Some(DataType::Float16 | DataType::Float32 | DataType::Float64), _) => {
                    ScalarValue::Float64(Some(self.floats.sum() / self.count as f64))
                }
                _ => ScalarValue::Float64(Some(self.integer_sum.to_f64() / self.count as f64)),
            },
            Function::Collect { .. } => {
                return Err(WeirError::internal(
                    "string_agg and array_agg are read through ordered_values",
                ));
            }
            Function::Min | Function::Max => {
                let entry = match function {
                    Function::Min => self.multiset.keys().next(),
                    _ => self.multiset.keys().next_back(),
                };
                match (entry, decoder) {
                    (Some(bytes), Some(decoder)) => {
                        let parser = decoder.parser();
                        let columns = decoder.convert_rows([parser.parse(bytes)])?;
                        ScalarValue::try_from_array(&columns[0], 0)?
                    }
                    _ => ScalarValue::Null,
                }
            }
        };
        if value.data_type() == *output || value.is_null() {
            return Ok(match value.is_null() {
                true => ScalarValue::try_from(output)?,
                false => value,
            });
        }
        Ok(value.cast_to(output)?)
    }
}

/// PostgreSQL's error for a numeric value beyond its type's precision.
fn numeric_overflow() -> WeirError {
    WeirError::new(
        weir_common::SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
        "numeric field overflow",
    )
}

/// An encoder of `data_type` values in SQL order, for the multiset aggregates.
pub(crate) fn value_encoder(data_type: &DataType) -> Result<Arc<RowConverter>> {
    Ok(Arc::new(RowConverter::new(vec![SortField::new(
        data_type.clone(),
    )])?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int32Array;

    #[test]
    fn min_survives_deleting_the_current_minimum() {
        let encoder = value_encoder(&DataType::Int32).unwrap();
        let column: ArrayRef = Arc::new(Int32Array::from(vec![Some(5), Some(3), None]));
        let values = Values::read(Function::Min, Some(&column), &[], Some(&encoder)).unwrap();
        let mut min = Accumulator::default();
        for row in 0..3 {
            min.update(Function::Min, &values, row, 1);
        }
        let read = |acc: &Accumulator| {
            acc.value(
                Function::Min,
                Some(&DataType::Int32),
                &DataType::Int32,
                Some(&encoder),
            )
            .unwrap()
        };
        assert_eq!(read(&min), ScalarValue::Int32(Some(3)));
        min.update(Function::Min, &values, 1, -1);
        assert_eq!(read(&min), ScalarValue::Int32(Some(5)));
        min.update(Function::Min, &values, 0, -1);
        assert_eq!(read(&min), ScalarValue::Int32(None));
    }

    #[test]
    fn sums_and_averages_retract() {
        let column: ArrayRef = Arc::new(Int32Array::from(vec![Some(4), Some(6), None]));
        let values = Values::read(Function::Avg, Some(&column), &[], None).unwrap();
        let mut avg = Accumulator::default();
        for row in 0..3 {
            avg.update(Function::Avg, &values, row, 1);
        }
        let read = |acc: &Accumulator, f| {
            acc.value(f, Some(&DataType::Int32), &DataType::Float64, None)
                .unwrap()
        };
        assert_eq!(read(&avg, Function::Avg), ScalarValue::Float64(Some(5.0)));
        avg.update(Function::Avg, &values, 0, -1);
        assert_eq!(read(&avg, Function::Avg), ScalarValue::Float64(Some(6.0)));
        avg.update(Function::Avg, &values, 1, -1);
        assert_eq!(read(&avg, Function::Avg), ScalarValue::Float64(None));
    }
}
