//! Calls DataFusion's planner reads otherwise than PostgreSQL, rewritten before planning:
//!
//! * `EXTRACT(field FROM x)` is the call `extract('field', x)`, the frontend's `numeric`
//!   extract (PostgreSQL's); DataFusion's planner would make it its `date_part`, whose
//!   answers are integers or doubles. The column keeps the name `extract`.
//! * `mod(a, b)`, which DataFusion lacks, is `a % b` (the remainder of the truncated
//!   division, as PostgreSQL's `mod`).
//! * A call inside another call's arguments that names a function by one of its other
//!   names (`ifnull` for `nvl`, `pow` for `power`) names it by its own. DataFusion names
//!   such a call by an alias, `ifnull(` the arguments' text `)`, and an argument's text
//!   holds its own alias and the expression under it, so nested calls made names that
//!   doubled at each level (20 levels of `ifnull` took 41 s to plan, and more exhausted
//!   memory). The outermost call keeps the name it was written with, so no result column
//!   is named otherwise.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::LazyLock;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, ObjectName,
    ObjectNamePart, Statement, Value, visit_expressions_mut,
};

use crate::calls::call;

/// DataFusion's scalar functions' other names, each with the function's own name.
static OWN_NAMES: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
    let mut functions = datafusion::functions::all_default_functions();
    functions.extend(datafusion::functions_nested::all_default_nested_functions());
    functions
        .iter()
        .flat_map(|function| {
            function
                .aliases()
                .iter()
                .map(|alias| (alias.to_lowercase(), function.name().to_owned()))
        })
        .collect()
});

pub(crate) fn rewrite_calls(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Function(function) = expr
            && let FunctionArguments::List(list) = &mut function.args
        {
            for arg in &mut list.args {
                if let FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))
                | FunctionArg::Named {
                    arg: FunctionArgExpr::Expr(arg),
                    ..
                } = arg
                {
                    let _ = visit_expressions_mut(arg, |inner| {
                        call_by_own_name(inner);
                        ControlFlow::<()>::Continue(())
                    });
                }
            }
        }
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

/// Names the function `expr` calls by its own name, if it is called by another.
fn call_by_own_name(expr: &mut Expr) {
    let Expr::Function(function) = expr else {
        return;
    };
    let [ObjectNamePart::Identifier(name)] = function.name.0.as_slice() else {
        return;
    };
    if let Some(own) = OWN_NAMES.get(&name.value.to_lowercase()) {
        function.name = ObjectName::from(vec![Ident::new(own)]);
    }
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
    fn nested_calls_name_functions_by_their_own_names() {
        let statement = parse_sql("SELECT ifnull(ifnull(x, pow(2, 3)), 1) FROM t").unwrap();
        assert_eq!(
            statement.to_string(),
            r#"SELECT ifnull(nvl(x, power(2, 3)), 1) AS "ifnull" FROM t"#
        );
    }

    #[test]
    fn mod_is_the_remainder_operator() {
        let statement = parse_sql("SELECT mod(7, 3) AS m").unwrap();
        assert_eq!(statement.to_string(), "SELECT (7 % 3) AS m");
    }
}
