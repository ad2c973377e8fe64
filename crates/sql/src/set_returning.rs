//! `generate_series` in a select list returns rows, as in PostgreSQL.
//!
//! PostgreSQL's `generate_series` is a set-returning function: `SELECT generate_series(1,
//! 3)` answers three rows. DataFusion's function of that name in a select list answers
//! one row holding a list, so every `generate_series(…)` that is a whole select-list
//! item is rewritten to `unnest(generate_series(…))`, which answers the list's elements
//! as rows. (In `FROM`, DataFusion's table function of the same name already returns
//! rows, and stops early under a `LIMIT`.)

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident,
    ObjectName, ObjectNamePart, Query, SelectItem, SetExpr, Statement, VisitMut, VisitorMut,
};

/// Rewrites every select list of `statement`.
pub(crate) fn expand_series(statement: &mut Statement) {
    let _ = statement.visit(&mut SeriesExpander);
}

struct SeriesExpander;

impl VisitorMut for SeriesExpander {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        expand_in(&mut query.body);
        ControlFlow::Continue(())
    }
}

fn expand_in(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            for item in &mut select.projection {
                if let SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } = item
                    && is_series(expr)
                {
                    *expr = unnest(expr.clone());
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            expand_in(left);
            expand_in(right);
        }
        _ => {}
    }
}

fn is_series(expr: &Expr) -> bool {
    let Expr::Function(function) = expr else {
        return false;
    };
    let name = function.name.0.last().and_then(ObjectNamePart::as_ident);
    name.is_some_and(|name| name.value.eq_ignore_ascii_case("generate_series"))
}

fn unnest(expr: Expr) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new("unnest")]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(expr))],
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

#[cfg(test)]
mod tests {
    use crate::parse_sql;

    #[test]
    fn select_list_series_are_unnested_and_keep_their_name() {
        let statement = parse_sql("SELECT generate_series(1, 3), 1 + 1 AS two").unwrap();
        assert_eq!(
            statement.to_string(),
            "SELECT unnest(generate_series(1, 3)) AS \"generate_series\", 1 + 1 AS two"
        );
        let statement = parse_sql(
            "SELECT * FROM generate_series(1, 3) UNION ALL SELECT generate_series(4, 5) AS g",
        )
        .unwrap();
        assert!(
            statement
                .to_string()
                .contains("unnest(generate_series(4, 5)) AS g")
        );
        assert!(statement.to_string().contains("FROM generate_series(1, 3)"));
    }
}
