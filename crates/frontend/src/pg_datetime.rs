//! Date and time arithmetic typed as PostgreSQL types it.
//!
//! * `timestamp - timestamp` (and `timestamptz - timestamptz`) is an `interval` of days
//!   and time, as PostgreSQL's `timestamp_mi` computes it: the difference with its whole
//!   days taken out of the time (`justify_hours`), so `'2022-08-10 12:31:22.07' -
//!   '2022-07-19 12:31:23.07'` is `21 days 23:59:59`. DataFusion's is a duration
//!   (`527:59:59`), which also compares with an interval field by field. Differences of
//!   more than 2^63 nanoseconds are still exact (the timestamps are subtracted in 128 bits).
//! * `date - date` is an `integer` count of days (DataFusion's is a `bigint`).
//! * `date ± interval` is a `timestamp` (`date '2024-01-01' + interval '1 hour'` is
//!   `2024-01-01 01:00:00`), where DataFusion's is a date.
//! * `interval * number`, `number * interval` and `interval / number`, which DataFusion
//!   refuses, are PostgreSQL's `interval_mul` and `interval_div`: the months and days
//!   are multiplied and truncated, and what the truncation leaves (a month being 30
//!   days) goes down to days and then to the time, rounded to microseconds
//!   (`interval '1 mon' * 1.5` is `1 mon 15 days`). Dividing by zero fails with 22012,
//!   a result beyond an interval's fields with 22008.
//!
//! The SQL planner asks [`DatetimeArithmeticPlanner`] for each `+` and `-` as it plans
//! it, in batch queries and views alike, so the expressions around one are typed for its
//! new type. A text literal subtracted from or from a date or timestamp is read as one
//! (`ts - '2024-01-01'` is `timestamp - timestamp`), as PostgreSQL reads an unknown
//! literal.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, IntervalMonthDayNanoArray};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{
    DataType, Float64Type, IntervalMonthDayNano, IntervalMonthDayNanoType, IntervalUnit, TimeUnit,
    TimestampNanosecondType,
};
use datafusion::common::tree_node::TreeNode;
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr::{Cast, ScalarFunction};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, Operator, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion::sql::sqlparser::ast::BinaryOperator;

use weir_common::{SqlState, WeirError};

use crate::rule_support::invoke_on_arrays;

/// Plans date and time `+` and `-` as PostgreSQL types them.
#[derive(Debug)]
pub(crate) struct DatetimeArithmeticPlanner;

impl ExprPlanner for DatetimeArithmeticPlanner {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        let op = match expr.op {
            BinaryOperator::Plus => Operator::Plus,
            BinaryOperator::Minus => Operator::Minus,
            BinaryOperator::Multiply => Operator::Multiply,
            BinaryOperator::Divide => Operator::Divide,
            _ => return Ok(PlannerResult::Original(expr)),
        };
        if !may_be_datetime(&expr.left, schema) && !may_be_datetime(&expr.right, schema) {
            return Ok(PlannerResult::Original(expr));
        }
        Ok(match planned(&expr.left, op, &expr.right, schema) {
            Some(planned) => PlannerResult::Planned(planned),
            None => PlannerResult::Original(expr),
        })
    }
}

/// Whether `expr` may be a date, time or interval, found in one walk without typing
/// every `+` of a chain of thousands (`1 + 1 + …`), which would walk the chain again at
/// each link. Only columns, literals and casts of other types, and operators over them,
/// are known not to be; anything else (a function call, say) may be.
fn may_be_datetime(expr: &Expr, schema: &DFSchema) -> bool {
    expr.exists(|node| {
        Ok(match node {
            Expr::Column(_) | Expr::Literal(..) => {
                node.get_type(schema).map_or(true, |ty| is_datetime(&ty))
            }
            Expr::Cast(cast) => is_datetime(cast.field.data_type()),
            Expr::TryCast(cast) => is_datetime(cast.field.data_type()),
            Expr::BinaryExpr(_) | Expr::Alias(_) | Expr::Not(_) | Expr::Negative(_) => false,
            Expr::IsNull(_) | Expr::IsNotNull(_) | Expr::Between(_) | Expr::Like(_) => false,
            _ => true,
        })
    })
    .unwrap_or(true)
}

fn is_datetime(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Date32
            | DataType::Date64
            | DataType::Timestamp(..)
            | DataType::Time32(_)
            | DataType::Time64(_)
            | DataType::Interval(_)
            | DataType::Duration(_)
    )
}

/// `left op right` as PostgreSQL types it, where that differs from DataFusion.
fn planned(left: &Expr, op: Operator, right: &Expr, schema: &DFSchema) -> Option<Expr> {
    let (left_type, right_type) = (left.get_type(schema).ok()?, right.get_type(schema).ok()?);
    let cast = |expr: &Expr, to: DataType| Expr::Cast(Cast::new(Box::new(expr.clone()), to));
    let binary = |left: Expr, right: Expr| {
        Expr::BinaryExpr(BinaryExpr::new(Box::new(left), op, Box::new(right)))
    };
    let is_text_literal =
        |expr: &Expr| matches!(expr, Expr::Literal(ScalarValue::Utf8(Some(_)), _));
    let is_date_or_timestamp =
        |ty: &DataType| matches!(ty, DataType::Date32 | DataType::Timestamp(..));
    match (&left_type, op, &right_type) {
        (DataType::Timestamp(_, zone), Operator::Minus, DataType::Timestamp(..)) => {
            let udf = ScalarUDF::new_from_impl(TimestampMinus {
                zone: zone.clone(),
                signature: Signature::any(2, Volatility::Immutable),
            });
            Some(Expr::ScalarFunction(ScalarFunction::new_udf(
                Arc::new(udf),
                vec![left.clone(), right.clone()],
            )))
        }
        (DataType::Date32, Operator::Minus, DataType::Date32) => {
            Some(cast(&binary(left.clone(), right.clone()), DataType::Int32))
        }
        (DataType::Date32, Operator::Plus | Operator::Minus, DataType::Interval(_)) => {
            Some(binary(
                cast(left, DataType::Timestamp(TimeUnit::Nanosecond, None)),
                right.clone(),
            ))
        }
        (DataType::Interval(_), Operator::Plus, DataType::Date32) => Some(binary(
            left.clone(),
            cast(right, DataType::Timestamp(TimeUnit::Nanosecond, None)),
        )),
        (
            DataType::Interval(IntervalUnit::MonthDayNano),
            Operator::Multiply | Operator::Divide,
            factor,
        ) if is_factor(factor) => Some(scale_interval(left, op, right)),
        (factor, Operator::Multiply, DataType::Interval(IntervalUnit::MonthDayNano))
            if is_factor(factor) =>
        {
            Some(scale_interval(right, op, left))
        }
        // A date beside a timestamp is its midnight.
        (DataType::Timestamp(..), Operator::Minus, DataType::Date32) => {
            planned(left, op, &cast(right, left_type.clone()), schema)
        }
        (DataType::Date32, Operator::Minus, DataType::Timestamp(..)) => {
            planned(&cast(left, right_type.clone()), op, right, schema)
        }
        (ty, Operator::Minus, _) if is_date_or_timestamp(ty) && is_text_literal(right) => {
            planned(left, op, &cast(right, ty.clone()), schema)
        }
        (_, Operator::Minus, ty) if is_date_or_timestamp(ty) && is_text_literal(left) => {
            planned(&cast(left, ty.clone()), op, right, schema)
        }
        _ => None,
    }
}

/// Whether an interval may be scaled by a value of `data_type` (a NULL scales to NULL).
fn is_factor(data_type: &DataType) -> bool {
    data_type.is_numeric() || *data_type == DataType::Null
}

/// `interval op factor`, by [`IntervalScale`].
fn scale_interval(interval: &Expr, op: Operator, factor: &Expr) -> Expr {
    let udf = ScalarUDF::new_from_impl(IntervalScale {
        divide: op == Operator::Divide,
        signature: Signature::any(2, Volatility::Immutable),
    });
    let factor = Expr::Cast(Cast::new(Box::new(factor.clone()), DataType::Float64));
    Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(udf),
        vec![interval.clone(), factor],
    ))
}

/// PostgreSQL's `interval_mul` (or `interval_div`) of an interval and a double.
#[derive(Debug, PartialEq, Eq, Hash)]
struct IntervalScale {
    divide: bool,
    signature: Signature,
}

impl ScalarUDFImpl for IntervalScale {
    fn name(&self) -> &str {
        match self.divide {
            true => "interval_div",
            false => "interval_mul",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Interval(IntervalUnit::MonthDayNano))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        invoke_on_arrays(&args, |arrays| {
            let intervals = arrays[0].as_primitive::<IntervalMonthDayNanoType>();
            let factors = arrays[1].as_primitive::<Float64Type>();
            let scaled: IntervalMonthDayNanoArray = intervals
                .iter()
                .zip(factors.iter())
                .map(|pair| match pair {
                    (Some(interval), Some(factor)) => {
                        scaled(interval, factor, self.divide).map(Some)
                    }
                    _ => Ok(None),
                })
                .collect::<std::result::Result<_, WeirError>>()
                .map_err(WeirError::into_datafusion)?;
            Ok(Arc::new(scaled) as ArrayRef)
        })
    }
}

/// `interval * factor` (or `/ factor`) as PostgreSQL 15 computes it, in microseconds.
fn scaled(
    interval: IntervalMonthDayNano,
    factor: f64,
    divide: bool,
) -> std::result::Result<IntervalMonthDayNano, WeirError> {
    if divide && factor == 0.0 {
        return Err(WeirError::new(
            SqlState::DIVISION_BY_ZERO,
            "division by zero",
        ));
    }
    let apply = |value: f64| match divide {
        true => value / factor,
        false => value * factor,
    };
    let out_of_range =
        || WeirError::new(SqlState::DATETIME_FIELD_OVERFLOW, "interval out of range");
    let whole = |value: f64| match value > f64::from(i32::MAX) || value < f64::from(i32::MIN) {
        // NaN compares false both ways, as in PostgreSQL, and truncates to 0.
        false => Ok(value.trunc() as i32),
        true => Err(out_of_range()),
    };
    let months = apply(f64::from(interval.months));
    let days = apply(f64::from(interval.days));
    let result_months = whole(months)?;
    let mut result_days = whole(days)?;
    let round_to_micros = |value: f64| (value * 1e6).round_ties_even() / 1e6;
    let month_remainder_days = round_to_micros((months - f64::from(result_months)) * 30.0);
    let seconds = (days - f64::from(result_days) + month_remainder_days
        - month_remainder_days.trunc())
        * 86_400.0;
    // Rounded to microseconds, whole days carried up.
    let mut seconds = round_to_micros(seconds);
    if seconds.abs() >= 86_400.0 {
        let carried = (seconds / 86_400.0).trunc();
        result_days = result_days
            .checked_add(carried as i32)
            .ok_or_else(out_of_range)?;
        seconds -= carried * 86_400.0;
    }
    result_days = result_days
        .checked_add(month_remainder_days.trunc() as i32)
        .ok_or_else(out_of_range)?;
    let micros = (apply((interval.nanoseconds / 1000) as f64) + seconds * 1e6).round_ties_even();
    // The nanoseconds of the result must fit in 64 bits.
    if !micros.is_finite() || micros.abs() >= 9.2e15 {
        return Err(out_of_range());
    }
    Ok(IntervalMonthDayNano::new(
        result_months,
        result_days,
        micros as i64 * 1000,
    ))
}

const NANOS_PER_DAY: i128 = 86_400_000_000_000;

/// `timestamp - timestamp` as an interval of whole days and the time left over, both of
/// the difference's sign.
#[derive(Debug, PartialEq, Eq, Hash)]
struct TimestampMinus {
    zone: Option<Arc<str>>,
    signature: Signature,
}

impl ScalarUDFImpl for TimestampMinus {
    fn name(&self) -> &str {
        "timestamp_mi"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Interval(IntervalUnit::MonthDayNano))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let nanoseconds = DataType::Timestamp(TimeUnit::Nanosecond, self.zone.clone());
        invoke_on_arrays(&args, |arrays| {
            // A timestamp beyond nanoseconds' range fails rather than turning NULL.
            let strict = CastOptions {
                safe: false,
                ..Default::default()
            };
            let left = cast_with_options(&arrays[0], &nanoseconds, &strict)?;
            let right = cast_with_options(&arrays[1], &nanoseconds, &strict)?;
            let (left, right) = (
                left.as_primitive::<TimestampNanosecondType>(),
                right.as_primitive::<TimestampNanosecondType>(),
            );
            let differences: IntervalMonthDayNanoArray = left
                .iter()
                .zip(right.iter())
                .map(|pair| match pair {
                    (Some(left), Some(right)) => Some(justified(left, right)),
                    _ => None,
                })
                .collect();
            Ok(Arc::new(differences) as ArrayRef)
        })
    }
}

/// `left - right` in nanoseconds as whole days and the rest, truncated towards zero.
fn justified(left: i64, right: i64) -> IntervalMonthDayNano {
    let difference = i128::from(left) - i128::from(right);
    // |difference| < 2^64 ns, about 213,500 days: both parts fit.
    let days = (difference / NANOS_PER_DAY) as i32;
    let rest = (difference % NANOS_PER_DAY) as i64;
    IntervalMonthDayNano::new(0, days, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000_000;
    const DAY: i64 = 86_400 * SECOND;

    #[test]
    fn intervals_scale_as_postgresql_scales_them() {
        let month = IntervalMonthDayNano::new(1, 0, 0);
        assert_eq!(
            scaled(month, 1.5, false).unwrap(),
            IntervalMonthDayNano::new(1, 15, 0)
        );
        let day = IntervalMonthDayNano::new(0, 1, 0);
        assert_eq!(
            scaled(day, 3.0, true).unwrap(),
            IntervalMonthDayNano::new(0, 0, 8 * 3600 * SECOND)
        );
        // The month's remainder is rounded to a millionth of a day first.
        let month_by_31 = scaled(month, 31.0, true).unwrap();
        assert_eq!(month_by_31.nanoseconds, 83_612_908_800_000);
        assert!(scaled(day, 0.0, true).is_err());
        assert!(scaled(month, 1e10, false).is_err());
    }

    #[test]
    fn a_difference_is_whole_days_and_the_rest_of_its_sign() {
        assert_eq!(
            justified(22 * DAY - SECOND, 0),
            IntervalMonthDayNano::new(0, 21, DAY - SECOND)
        );
        assert_eq!(
            justified(0, 22 * DAY - SECOND),
            IntervalMonthDayNano::new(0, -21, -(DAY - SECOND))
        );
        assert_eq!(justified(i64::MAX, i64::MIN).days, 213_503);
    }
}
