//! Numbers as PostgreSQL types and computes them.
//!
//! * **Literal types.** An integer literal is `integer` when it fits in 32 bits, `bigint`
//!   when it fits in 64 and `numeric` beyond; a literal with a decimal point or an
//!   exponent is `numeric` (`0.1 + 0.2` is exactly `0.3`, `1e5` is `100000`). DataFusion's
//!   parser makes every integer `bigint` (beyond it `numeric`, see `weir_sql`'s `literals`) and, with
//!   `parse_float_as_decimal`, the others decimals, with a negative scale for `1e5` (one of
//!   more than 38 digits is a double, see `weir_sql`'s `literals`). An
//!   analyzer rule that runs before type coercion types them as PostgreSQL does, so
//!   `1 + 1` is an `integer`, `i4 * 2` stays `integer` and `pg_typeof(1)` is `integer`.
//!   `LIMIT`/`OFFSET` counts, `VALUES` rows and DML keep DataFusion's types (their
//!   schemas are fixed by the planner).
//! * **`numeric` meets `double precision` as a double**, as in PostgreSQL, in
//!   comparisons, `CASE`, `coalesce`, `nullif`, `greatest`, `least` and `IN`.
//! * **Overflow is an error**, of integers and of floats: a rule that runs after type
//!   coercion replaces `+ - * /` and negation by the checked functions of
//!   [`crate::checked_arithmetic`].
//! * **Casts to integers round**: `1.5::integer` is 2, `2.5::float8::integer` is 2
//!   (numeric half away from zero, double half to even), where Arrow's casts truncate.
//!
//! Both rules keep every rewritten expression's name, so the plan's columns keep theirs.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Float32Type, Float64Type};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr::{Cast, ScalarFunction};
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

use crate::checked_arithmetic::checked_arithmetic;
use crate::rule_support::{has_fixed_types, invoke_on_arrays, is_comparison, rewrite_expressions};

/// Types number literals as PostgreSQL does; runs before type coercion.
#[derive(Debug)]
pub(crate) struct TypeNumberLiterals;

impl AnalyzerRule for TypeNumberLiterals {
    fn name(&self) -> &str {
        "type_number_literals_as_postgres_does"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        rewrite_expressions(plan, has_fixed_types, |expr, schema| {
            expr.transform_down(type_literal)?
                .transform_data(|expr| expr.transform_up(|expr| prefer_float(expr, schema)))
        })
    }
}

/// Makes arithmetic fail on overflow and casts to integers round; runs after type
/// coercion.
#[derive(Debug)]
pub(crate) struct CheckArithmetic;

impl AnalyzerRule for CheckArithmetic {
    fn name(&self) -> &str {
        "check_arithmetic_as_postgres_does"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        rewrite_expressions(plan, has_fixed_types, |expr, schema| {
            expr.transform_up(|expr| {
                checked_arithmetic(expr, schema)?
                    .transform_data(|expr| round_before_integer_cast(expr, schema))
            })
        })
    }
}

/// `expr` with PostgreSQL's type where it is a number literal; the `1` of `count(*)` is
/// left as the planner made it, for the rules that recognise it.
fn type_literal(expr: Expr) -> Result<Transformed<Expr>> {
    let Expr::Literal(value, metadata) = expr else {
        return match expr {
            Expr::AggregateFunction(ref call)
                if call.func.name() == "count"
                    && matches!(
                        call.params.args.as_slice(),
                        [Expr::Literal(ScalarValue::Int64(Some(1)), _)]
                    ) =>
            {
                Ok(Transformed::new(expr, false, TreeNodeRecursion::Jump))
            }
            other => Ok(Transformed::no(other)),
        };
    };
    let typed = match value {
        ScalarValue::Int64(Some(value)) if i32::try_from(value).is_ok() => {
            ScalarValue::Int32(Some(value as i32))
        }
        // `1e5` and the like: the digits times a power of ten.
        ScalarValue::Decimal128(Some(digits), precision, scale) if scale < 0 => {
            let scaled = 10i128
                .checked_pow(u32::from(scale.unsigned_abs()))
                .and_then(|power| digits.checked_mul(power));
            let precision = precision + scale.unsigned_abs();
            match scaled {
                Some(value) if precision <= 38 => {
                    ScalarValue::Decimal128(Some(value), precision, 0)
                }
                // Longer literals are read as doubles before planning (see `weir_sql`).
                _ => ScalarValue::Decimal128(Some(digits), precision, scale),
            }
        }
        other => return Ok(Transformed::no(Expr::Literal(other, metadata))),
    };
    Ok(Transformed::yes(Expr::Literal(typed, metadata)))
}

fn is_float(expr: &Expr, schema: &DFSchema) -> bool {
    matches!(
        expr.get_type(schema),
        Ok(DataType::Float32 | DataType::Float64)
    )
}

fn is_decimal(expr: &Expr, schema: &DFSchema) -> bool {
    matches!(
        expr.get_type(schema),
        Ok(DataType::Decimal128(_, _) | DataType::Decimal256(_, _))
    )
}

/// Where `numeric` meets `double precision` — in a comparison, `CASE`, `coalesce`,
/// `IN` — PostgreSQL computes in `double precision` (DataFusion would cast the double to
/// a decimal, which fails on NaN and the infinities): the numeric operands are cast.
fn prefer_float(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let to_float = |operands: &mut [&mut Expr]| -> bool {
        let mixed = operands.iter().any(|e| is_float(e, schema))
            && operands.iter().any(|e| is_decimal(e, schema));
        if mixed {
            for operand in operands.iter_mut().filter(|e| is_decimal(e, schema)) {
                **operand = Expr::Cast(Cast::new(Box::new(operand.clone()), DataType::Float64));
            }
        }
        mixed
    };
    let mut expr = expr;
    let changed = match &mut expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if is_comparison(op) => {
            to_float(&mut [left.as_mut(), right.as_mut()])
        }
        Expr::Case(case) => {
            let mut results: Vec<&mut Expr> = case
                .when_then_expr
                .iter_mut()
                .map(|(_, then)| then.as_mut())
                .collect();
            results.extend(case.else_expr.as_deref_mut());
            to_float(&mut results)
        }
        Expr::InList(list) => {
            let mut operands: Vec<&mut Expr> = list.list.iter_mut().collect();
            operands.push(list.expr.as_mut());
            to_float(&mut operands)
        }
        Expr::ScalarFunction(call)
            if matches!(
                call.func.name(),
                "coalesce" | "nullif" | "greatest" | "least"
            ) =>
        {
            to_float(&mut call.args.iter_mut().collect::<Vec<_>>())
        }
        _ => false,
    };
    Ok(Transformed::new_transformed(expr, changed))
}

/// A cast of a `double precision` or `numeric` to an integer rounds, as PostgreSQL's
/// does (a double half to even, a numeric half away from zero); Arrow's truncates.
fn round_before_integer_cast(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::Cast(Cast { expr: inner, field }) = &expr else {
        return Ok(Transformed::no(expr));
    };
    let to_integer = matches!(
        field.data_type(),
        DataType::Int16 | DataType::Int32 | DataType::Int64
    );
    let from_fraction = matches!(
        inner.get_type(schema),
        Ok(DataType::Float32 | DataType::Float64 | DataType::Decimal128(_, _))
    );
    let rounded_already = matches!(inner.as_ref(), Expr::ScalarFunction(call) if call.func.name() == "pg_round_to_integer");
    if !to_integer || !from_fraction || rounded_already {
        return Ok(Transformed::no(expr));
    }
    let udf = ScalarUDF::new_from_impl(RoundToInteger {
        signature: Signature::any(1, Volatility::Immutable),
    });
    let rounded = Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(udf),
        vec![(**inner).clone()],
    ));
    Ok(Transformed::yes(Expr::Cast(Cast {
        expr: Box::new(rounded),
        field: field.clone(),
    })))
}

/// `pg_round_to_integer`: a float or decimal rounded to a whole number, in its own type.
#[derive(Debug, PartialEq, Eq, Hash)]
struct RoundToInteger {
    signature: Signature,
}

impl ScalarUDFImpl for RoundToInteger {
    fn name(&self) -> &str {
        "pg_round_to_integer"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        invoke_on_arrays(&args, |arrays| round_to_integer(&arrays[0]))
    }
}

/// Floats rounded half to even, decimals half away from zero, to whole numbers.
fn round_to_integer(values: &ArrayRef) -> Result<ArrayRef> {
    Ok(match values.data_type() {
        DataType::Float64 => Arc::new(
            values
                .as_primitive::<Float64Type>()
                .unary::<_, Float64Type>(f64::round_ties_even),
        ),
        DataType::Float32 => Arc::new(
            values
                .as_primitive::<Float32Type>()
                .unary::<_, Float32Type>(f32::round_ties_even),
        ),
        DataType::Decimal128(precision, scale) if *scale > 0 => {
            let unit = 10i128.pow(u32::from(scale.unsigned_abs()));
            let half = unit / 2;
            let round = |v: i128| {
                let whole = v / unit * unit;
                match (v - whole).abs() >= half {
                    true => whole + v.signum() * unit,
                    false => whole,
                }
            };
            Arc::new(
                values
                    .as_primitive::<Decimal128Type>()
                    .unary::<_, Decimal128Type>(round)
                    .with_precision_and_scale(*precision, *scale)?,
            )
        }
        _ => values.clone(),
    })
}
