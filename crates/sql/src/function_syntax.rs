//! Calls DataFusion's planner reads otherwise than PostgreSQL, rewritten before planning:
//!
//! * `EXTRACT(field FROM x)` is the call `extract('field', x)`, the frontend's `numeric`
//!   extract (PostgreSQL's); DataFusion's planner would make it its `date_part`, whose
//!   answers are integers or doubles. The column keeps the name `extract`.
//! * `mod(a, b)`, which DataFusion lacks, is `a % b` (the remainder of the truncated
//!   division, as PostgreSQL's `mod`).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, ObjectNamePart,
    Statement, Value, visit_expressions_mut,
};

use crate::calls::call;

pub(crate) fn rewrite_calls(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Some((left, right)) = mod_arguments(expr) {
            *expr = Expr::Nested(Box::new(Expr::BinaryOp {
                left: Box::new(left),
                op: BinaryOperator::Modulo,
                right: Box::new(right),
            }));
        }
        if let Expr::Extract {
            field, expr: of, ..
        } = expr
        {
            let name = field.to_string();
            let name = name.trim_matches(|c| c == '\'' || c == '"').to_owned();
            let of = std::mem::replace(of.as_mut(), Expr::value(Value::Null));
            *expr = call(
                "extract",
                vec![Expr::value(Value::SingleQuotedString(name)), of],
            );
        }
        ControlFlow::<()>::Continue(())
    });
}

/// The two arguments of a call `mod(a, b)`.
fn mod_arguments(expr: &Expr) -> Option<(Expr, Expr)> {
    let Expr::Function(function) = expr else {
        return None;
    };
    let name = function.name.0.last().and_then(ObjectNamePart::as_ident)?;
    let FunctionArguments::List(list) = &function.args else {
        return None;
    };
    if !name.value.eq_ignore_ascii_case("mod") || function.over.is_some() {
        return None;
    }
    match list.args.as_slice() {
        [
            FunctionArg::Unnamed(FunctionArgExpr::Expr(left)),
            FunctionArg::Unnamed(FunctionArgExpr::Expr(right)),
        ] => Some((left.clone(), right.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::parse_sql;

    #[test]
    fn extract_is_a_call_named_extract() {
        let statement =
            parse_sql("SELECT extract(epoch FROM ts), EXTRACT(year FROM d) AS y FROM t").unwrap();
        assert_eq!(
            statement.to_string(),
            "SELECT extract('EPOCH', ts) AS \"extract\", extract('YEAR', d) AS y FROM t"
        );
    }

    #[test]
    fn mod_is_the_remainder_operator() {
        let statement = parse_sql("SELECT mod(7, 3) AS m").unwrap();
        assert_eq!(statement.to_string(), "SELECT (7 % 3) AS m");
    }
}
