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
//!
//! The SQL planner asks [`DatetimeArithmeticPlanner`] for each `+` and `-` as it plans
//! it, in batch queries and views alike, so the expressions around one are typed for its
//! new type. A text literal subtracted from or from a date or timestamp is read as one
//! (`ts - '2024-01-01'` is `timestamp - timestamp`), as PostgreSQL reads an unknown
//! literal.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, IntervalMonthDayNanoArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, IntervalMonthDayNano, IntervalUnit, TimeUnit, TimestampNanosecondType,
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
        (DataType::Date32, _, DataType::Interval(_)) => Some(binary(
            cast(left, DataType::Timestamp(TimeUnit::Nanosecond, None)),
            right.clone(),
        )),
        (DataType::Interval(_), Operator::Plus, DataType::Date32) => Some(binary(
            left.clone(),
            cast(right, DataType::Timestamp(TimeUnit::Nanosecond, None)),
        )),
        (ty, Operator::Minus, _) if is_date_or_timestamp(ty) && is_text_literal(right) => {
            planned(left, op, &cast(right, ty.clone()), schema)
        }
        (_, Operator::Minus, ty) if is_date_or_timestamp(ty) && is_text_literal(left) => {
            planned(&cast(left, ty.clone()), op, right, schema)
        }
        _ => None,
    }
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
            let left = cast(&arrays[0], &nanoseconds)?;
            let right = cast(&arrays[1], &nanoseconds)?;
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
