//! Arithmetic that fails where PostgreSQL's fails, instead of wrapping or going infinite.
//!
//! * `+`, `-`, `*` and unary minus of `smallint`, `integer` and `bigint` wrap in
//!   DataFusion; here they fail with 22003 "integer out of range" (or "smallint",
//!   "bigint"), and so does the one `/` that overflows (the minimum divided by -1).
//! * `+`, `-`, `*` and `/` of `real` and `double precision` give ±Infinity or 0 in
//!   DataFusion where the exact result is beyond the type; here, as in PostgreSQL's
//!   `float8pl` and its siblings, a finite operation whose result is infinite fails with
//!   22003 "value out of range: overflow", a product or quotient of non-zero values that
//!   comes out 0 with 22003 "value out of range: underflow", and a division by zero (of
//!   anything but NaN) with 22012. Infinite or NaN operands go through as IEEE says
//!   (`'Infinity' + 1` is `Infinity`).
//!
//! Each such operation is replaced by a checked function after type coercion, in batch
//! queries and views alike; inside a materialized view a failing row goes to
//! `weir_catalog.view_errors` like any other.
//!
//! A left-deep chain of such operations on one type (`a + b - c * d` is `(a + b) - (c *
//! d)`: a chain of two, with `c * d` a chain of one) becomes one call that computes its
//! steps left to right, as PostgreSQL does, each step checked. DataFusion works out a
//! call's name and type from its arguments', recursively, at every level of a tree, so a
//! chain of nested calls took time in the cube of its length to plan (a function's name
//! is a new string at each level); one call's name costs the chain's length.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, PrimitiveArray};
use datafusion::arrow::compute::kernels::numeric;
use datafusion::arrow::compute::{cast, try_binary};
use datafusion::arrow::datatypes::{DataType, Float32Type, Float64Type};
use datafusion::arrow::error::ArrowError;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, Operator, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use weir_common::{SqlState, WeirError};

/// `expr` with its operation checked, if it is one the module names; a binary operation
/// whose left operand is a checked chain of its type extends that chain.
pub(crate) fn checked_arithmetic(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let (op, args) = match &expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let op = match op {
                Operator::Plus => Checked::Plus,
                Operator::Minus => Checked::Minus,
                Operator::Multiply => Checked::Times,
                Operator::Divide => Checked::Divide,
                _ => return Ok(Transformed::no(expr)),
            };
            (op, vec![(**left).clone(), (**right).clone()])
        }
        Expr::Negative(operand) => (Checked::Negate, vec![(**operand).clone()]),
        _ => return Ok(Transformed::no(expr)),
    };
    let types: Vec<Option<DataType>> = args.iter().map(|arg| number_type(arg, schema)).collect();
    let Some(Some(data_type)) = types.first().cloned() else {
        return Ok(Transformed::no(expr));
    };
    let is_float = matches!(data_type, DataType::Float32 | DataType::Float64);
    // Negating a float cannot overflow.
    if (op == Checked::Negate && is_float) || types.iter().any(|ty| ty.as_ref() != Some(&data_type))
    {
        return Ok(Transformed::no(expr));
    }
    let (ops, args) = match (op, args.as_slice()) {
        (Checked::Negate, _) => (vec![op], args),
        (_, [left, right]) => match chain_of(left) {
            Some((chain, chain_args)) if !chain.is_negation() => {
                let mut ops = chain.ops.clone();
                ops.push(op);
                let mut args = chain_args.to_vec();
                args.push(right.clone());
                (ops, args)
            }
            _ => (vec![op], args),
        },
        _ => (vec![op], args),
    };
    let udf = ScalarUDF::new_from_impl(CheckedArithmetic {
        signature: Signature::any(args.len(), Volatility::Immutable),
        ops,
        data_type,
    });
    Ok(Transformed::yes(Expr::ScalarFunction(
        ScalarFunction::new_udf(Arc::new(udf), args),
    )))
}

/// The checked chain `expr` calls, and its arguments, if it is one.
fn chain_of(expr: &Expr) -> Option<(&CheckedArithmetic, &[Expr])> {
    match expr {
        Expr::ScalarFunction(call) => call
            .func
            .inner()
            .downcast_ref::<CheckedArithmetic>()
            .map(|chain| (chain, call.args.as_slice())),
        _ => None,
    }
}

/// The integer or float type of `expr`, if it has one. A checked operation knows its
/// type, so a chain of thousands of `+` is typed in one step a link, not by walking the
/// chain.
fn number_type(expr: &Expr, schema: &DFSchema) -> Option<DataType> {
    if let Some((chain, _)) = chain_of(expr) {
        return Some(chain.data_type.clone());
    }
    match expr.get_type(schema) {
        Ok(
            ty @ (DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Float32
            | DataType::Float64),
        ) => Some(ty),
        _ => None,
    }
}

#[derive(Debug, PartialEq, Eq, Hash, Clone, Copy)]
enum Checked {
    Plus,
    Minus,
    Times,
    Divide,
    Negate,
}

impl Checked {
    fn symbol(self) -> &'static str {
        match self {
            Checked::Plus => "+",
            Checked::Minus | Checked::Negate => "-",
            Checked::Times => "*",
            Checked::Divide => "/",
        }
    }
}

/// Numbers of one type combined left to right by `+ - * /` (`ops[i]` combines the result
/// so far with argument `i + 1`), or one number negated; each step fails as PostgreSQL's
/// operator does.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CheckedArithmetic {
    ops: Vec<Checked>,
    data_type: DataType,
    signature: Signature,
}

impl CheckedArithmetic {
    fn is_negation(&self) -> bool {
        self.ops == [Checked::Negate]
    }

    fn is_float(&self) -> bool {
        matches!(self.data_type, DataType::Float32 | DataType::Float64)
    }
}

impl ScalarUDFImpl for CheckedArithmetic {
    fn name(&self) -> &str {
        match (self.is_negation(), self.is_float()) {
            (true, _) => "int_negate",
            (false, false) => "int_arithmetic",
            (false, true) => "float_arithmetic",
        }
    }

    /// The chain as its operators, fully parenthesized: `((a + b) * c)`, `(- a)`; written
    /// in one pass, so a long chain's name costs its length.
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        let mut name = "(".repeat(self.ops.len());
        if self.is_negation() {
            name.push_str(&format!("- {})", args[0].schema_name()));
            return Ok(name);
        }
        name.push_str(&args[0].schema_name().to_string());
        for (op, arg) in self.ops.iter().zip(&args[1..]) {
            name.push_str(&format!(" {} {})", op.symbol(), arg.schema_name()));
        }
        Ok(name)
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.data_type.clone())
    }

    /// An operation with a NULL operand is NULL, without computing the other one: so
    /// `(i2 * -1) / NULL` does not fail on an overflow, as in PostgreSQL, whose planner
    /// folds it the same way.
    fn simplify(&self, args: Vec<Expr>, _info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        let null_operand = args
            .iter()
            .any(|arg| matches!(arg, Expr::Literal(value, _) if value.is_null()));
        Ok(match null_operand {
            true => ExprSimplifyResult::Simplified(Expr::Literal(
                ScalarValue::try_from(&self.data_type)?,
                None,
            )),
            false => ExprSimplifyResult::Original(args),
        })
    }

    /// Steps left to right, with one operand at a time made an array, so a chain of
    /// thousands of literals holds two arrays, not thousands.
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args
            .args
            .iter()
            .all(|arg| matches!(arg, ColumnarValue::Scalar(_)));
        let rows = if all_scalar { 1 } else { args.number_rows };
        let mut result = args.args[0].to_array(rows)?;
        if self.is_negation() {
            result = integer(Checked::Negate, &result, &result)?;
        }
        for (&op, operand) in self.ops.iter().zip(&args.args[1..]) {
            let operand = operand.to_array(rows)?;
            result = match self.is_float() {
                true => self.float(op, &result, &operand)?,
                false => integer(op, &result, &operand)?,
            };
        }
        Ok(match all_scalar {
            true => ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?),
            false => ColumnarValue::Array(result),
        })
    }
}

/// `left op right` of integers of one type (`-left` for negation).
fn integer(op: Checked, left: &ArrayRef, right: &ArrayRef) -> Result<ArrayRef> {
    let result = match op {
        Checked::Plus => numeric::add(left, right),
        Checked::Minus => numeric::sub(left, right),
        Checked::Times => numeric::mul(left, right),
        Checked::Divide => numeric::div(left, right),
        Checked::Negate => numeric::neg(left),
    };
    result.map_err(|error| match error {
        ArrowError::ArithmeticOverflow(_) => {
            integer_out_of_range(left.data_type()).into_datafusion()
        }
        other => other.into(),
    })
}

impl CheckedArithmetic {
    /// Computed in `f64`; a `real` result is rounded to `f32` before it is checked, which
    /// gives `f32` arithmetic's own result for these operations.
    fn float(&self, op: Checked, left: &ArrayRef, right: &ArrayRef) -> Result<ArrayRef> {
        let as_f64 = |array: &ArrayRef| cast(array, &DataType::Float64);
        let (left, right) = (as_f64(left)?, as_f64(right)?);
        let (left, right) = (
            left.as_primitive::<Float64Type>(),
            right.as_primitive::<Float64Type>(),
        );
        let single = self.data_type == DataType::Float32;
        let result: PrimitiveArray<Float64Type> = try_binary(left, right, |x, y| {
            let exact = match op {
                Checked::Plus => x + y,
                Checked::Minus => x - y,
                Checked::Times => x * y,
                _ => x / y,
            };
            let result = match single {
                true => f64::from(exact as f32),
                false => exact,
            };
            match float_failure(op, x, y, result) {
                Some(failure) => Err(failure),
                None => Ok(result),
            }
        })
        .map_err(|error| match error {
            ArrowError::ArithmeticOverflow(what) => WeirError::new(
                SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                format!("value out of range: {what}"),
            )
            .into_datafusion(),
            other => other.into(),
        })?;
        Ok(match single {
            true => Arc::new(result.unary::<_, Float32Type>(|v| v as f32)),
            false => Arc::new(result),
        })
    }
}

/// Why PostgreSQL's `float8pl`, `float8mi`, `float8mul` or `float8div` of `x` and `y`
/// fails, given the rounded `result`.
fn float_failure(op: Checked, x: f64, y: f64, result: f64) -> Option<ArrowError> {
    let overflow = || ArrowError::ArithmeticOverflow("overflow".into());
    let underflow = || ArrowError::ArithmeticOverflow("underflow".into());
    match op {
        Checked::Divide if y == 0.0 && !x.is_nan() => Some(ArrowError::DivideByZero),
        Checked::Divide if result.is_infinite() && !x.is_infinite() => Some(overflow()),
        Checked::Divide if result == 0.0 && x != 0.0 && !y.is_infinite() => Some(underflow()),
        Checked::Divide => None,
        _ if result.is_infinite() && !x.is_infinite() && !y.is_infinite() => Some(overflow()),
        Checked::Times if result == 0.0 && x != 0.0 && y != 0.0 => Some(underflow()),
        _ => None,
    }
}

/// PostgreSQL's error for a result its integer type cannot hold.
fn integer_out_of_range(data_type: &DataType) -> WeirError {
    let name = match data_type {
        DataType::Int16 => "smallint",
        DataType::Int32 => "integer",
        _ => "bigint",
    };
    WeirError::new(
        SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
        format!("{name} out of range"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fails(op: Checked, x: f64, y: f64) -> Option<String> {
        let result = match op {
            Checked::Plus => x + y,
            Checked::Times => x * y,
            _ => x / y,
        };
        float_failure(op, x, y, result).map(|error| error.to_string())
    }

    #[test]
    fn floats_fail_where_postgresql_fails() {
        assert!(
            fails(Checked::Plus, 1e308, 1e308)
                .unwrap()
                .contains("overflow")
        );
        assert!(
            fails(Checked::Times, 1e-300, 1e-300)
                .unwrap()
                .contains("underflow")
        );
        assert!(
            fails(Checked::Divide, 1.0, 0.0)
                .unwrap()
                .contains("Divide by zero")
        );
        assert!(
            fails(Checked::Divide, 1e300, 1e-300)
                .unwrap()
                .contains("overflow")
        );
        assert!(
            fails(Checked::Divide, 1e-300, 1e300)
                .unwrap()
                .contains("underflow")
        );
    }

    #[test]
    fn infinities_and_nans_go_through() {
        assert_eq!(fails(Checked::Plus, f64::INFINITY, 1.0), None);
        assert_eq!(fails(Checked::Divide, f64::NAN, 0.0), None);
        assert_eq!(fails(Checked::Divide, 1.0, f64::INFINITY), None);
        assert_eq!(fails(Checked::Times, f64::INFINITY, 0.0), None);
        assert_eq!(fails(Checked::Times, 0.0, 5.0), None);
    }
}
