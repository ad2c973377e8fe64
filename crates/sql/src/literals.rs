//! Literals DataFusion's planner would read otherwise than PostgreSQL, rewritten before
//! planning:
//!
//! * `interval '…'` is read as a cast of its text, so that it goes through weir's reading
//!   of PostgreSQL's interval input (`1 day 02:00:00`, `-1 mons +3 days`, ISO 8601), as
//!   `'…'::interval` does; DataFusion's planner would read the text itself, and knows
//!   fewer forms. A literal with a field qualifier (`interval '1' day`) is left to it.
//! * A number literal is `numeric` (see the frontend's `pg_numbers`), but one that needs
//!   more than 38 digits (`1e308`, `1e-50`) does not fit weir's `numeric`, and is read
//!   as `double precision` instead of being refused. An integer literal beyond `bigint`
//!   that DataFusion would read as an unsigned 64-bit integer (`9999999999999999999`) is
//!   `numeric` too, so that `-` and the functions of numbers take it.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    CastKind, DataType, ExactNumberInfo, Expr, Interval, Statement, UnaryOperator, Value,
    ValueWithSpan, visit_expressions_mut,
};

/// The most digits weir's `numeric` holds (Arrow's `Decimal128`).
const NUMERIC_DIGITS: i64 = 38;

pub(crate) fn rewrite_literals(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Value(ValueWithSpan {
            value: Value::Number(number, _),
            ..
        }) = expr
            && digits_needed(number) > NUMERIC_DIGITS
        {
            *expr = Expr::Cast {
                kind: CastKind::DoubleColon,
                expr: Box::new(Expr::value(Value::SingleQuotedString(number.clone()))),
                data_type: DataType::DoublePrecision,
                array: false,
                format: None,
            };
            return ControlFlow::Continue(());
        }
        // Visited after its operand: `-9223372036854775808` is bigint's minimum, as in
        // PostgreSQL, which negates the constant before typing it.
        if let Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr: operand,
        } = expr
            && let Expr::Cast { expr: number, .. } = operand.as_ref()
            && let Expr::Value(ValueWithSpan {
                value: Value::Number(digits, long),
                ..
            }) = number.as_ref()
            && digits.parse::<i64>().is_err()
            && format!("-{digits}").parse::<i64>().is_ok()
        {
            *expr = Expr::value(Value::Number(format!("-{digits}"), *long));
            return ControlFlow::Continue(());
        }
        if let Expr::Value(ValueWithSpan {
            value: Value::Number(number, _),
            ..
        }) = expr
            && number.parse::<i64>().is_err()
            && number.parse::<u64>().is_ok()
        {
            *expr = Expr::Cast {
                kind: CastKind::DoubleColon,
                expr: Box::new(expr.clone()),
                data_type: DataType::Numeric(ExactNumberInfo::PrecisionAndScale(20, 0)),
                array: false,
                format: None,
            };
            return ControlFlow::Continue(());
        }
        if let Expr::Interval(Interval {
            value,
            leading_field: None,
            leading_precision: None,
            last_field: None,
            fractional_seconds_precision: None,
        }) = expr
            && let Expr::Value(ValueWithSpan {
                value: Value::SingleQuotedString(_),
                ..
            }) = value.as_ref()
        {
            *expr = Expr::Cast {
                kind: CastKind::DoubleColon,
                expr: value.clone(),
                data_type: DataType::Interval {
                    fields: None,
                    precision: None,
                },
                array: false,
                format: None,
            };
        }
        ControlFlow::<()>::Continue(())
    });
}

/// How many decimal digits, before and after the point, `number` (`12.5`, `1e308`,
/// `.5E-3`) needs to be written without an exponent; 0 for an integer without one, which
/// DataFusion reads itself.
fn digits_needed(number: &str) -> i64 {
    let (mantissa, exponent) = match number.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, exponent.parse::<i64>().unwrap_or(i64::MAX)),
        None if !number.contains('.') => return 0,
        None => (number, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let significant = format!("{whole}{fraction}");
    let significant = significant.trim_start_matches('0');
    let digits = significant.len() as i64;
    let scale = (fraction.len() as i64).saturating_sub(exponent);
    match scale >= 0 {
        true => digits.max(scale),
        false => digits.saturating_add(scale.saturating_neg()),
    }
}

#[cfg(test)]
mod tests {
    use super::digits_needed;

    #[test]
    fn counts_the_digits_a_number_needs() {
        assert_eq!(digits_needed("12"), 0);
        assert_eq!(digits_needed("12.5"), 3);
        assert_eq!(digits_needed("0.001"), 3);
        assert_eq!(digits_needed("1e5"), 6);
        assert_eq!(digits_needed("2.5e-3"), 4);
        assert_eq!(digits_needed("1e308"), 309);
        assert_eq!(digits_needed("1e-50"), 50);
        assert_eq!(digits_needed("1e99999999999999999999"), i64::MAX);
    }
}
