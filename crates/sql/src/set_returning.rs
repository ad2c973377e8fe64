//! `generate_series` in a select list returns rows, as in PostgreSQL.
//!
//! PostgreSQL's `generate_series` is a set-returning function: `SELECT generate_series(1,
//! 3)` answers three rows. DataFusion's function of that name in a select list answers
//! one row holding a list, so every `generate_series(…)` that is a whole select-list
//! item is rewritten:
//! * in a select without `FROM`, with one series, to a read of DataFusion's table
//!   function `FROM generate_series(…) AS weir_series`, whose rows are made a batch at a
//!   time, so that a `LIMIT` stops it early;
//! * otherwise to `unnest(generate_series(…))`, which answers the list's elements as
//!   rows.

use std::ops::ControlFlow;

use crate::calls::call;
use crate::dialect::WeirDialect;
use datafusion::sql::sqlparser::ast::{
    Expr, Ident, ObjectNamePart, Query, SelectItem, SetExpr, Statement, TableWithJoins, VisitMut,
    VisitorMut,
};
use datafusion::sql::sqlparser::parser::Parser;

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
            let series = select.projection.iter_mut().filter_map(item_expr);
            let mut series: Vec<&mut Expr> = series.filter(|expr| is_series(expr)).collect();
            if let ([only], true) = (series.as_mut_slice(), select.from.is_empty())
                && let Some(from) = series_table(only)
            {
                **only =
                    Expr::CompoundIdentifier(vec![Ident::new(SERIES_ALIAS), Ident::new("value")]);
                select.from = vec![from];
                return;
            }
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

/// The name the series read in `FROM` goes by.
const SERIES_ALIAS: &str = "weir_series";

fn item_expr(item: &mut SelectItem) -> Option<&mut Expr> {
    match item {
        SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => Some(expr),
        _ => None,
    }
}

/// `FROM generate_series(…) AS weir_series` with the arguments of the call `series`,
/// which are printed and parsed again (sqlparser's text round-trips).
fn series_table(series: &Expr) -> Option<TableWithJoins> {
    let Expr::Function(function) = series else {
        return None;
    };
    let sql = format!(
        "SELECT * FROM generate_series{} AS {SERIES_ALIAS}",
        function.args
    );
    let mut statements = Parser::new(&WeirDialect)
        .with_recursion_limit(crate::depth::RECURSION_LIMIT)
        .try_with_sql(&sql)
        .and_then(|mut parser| parser.parse_statements())
        .ok()?;
    let Some(Statement::Query(query)) = statements.pop() else {
        return None;
    };
    let SetExpr::Select(select) = *query.body else {
        return None;
    };
    select.from.into_iter().next()
}

fn is_series(expr: &Expr) -> bool {
    let Expr::Function(function) = expr else {
        return false;
    };
    let name = function.name.0.last().and_then(ObjectNamePart::as_ident);
    name.is_some_and(|name| name.value.eq_ignore_ascii_case("generate_series"))
}

fn unnest(expr: Expr) -> Expr {
    call("unnest", vec![expr])
}

#[cfg(test)]
mod tests {
    use crate::parse_sql;

    #[test]
    fn select_list_series_are_unnested_and_keep_their_name() {
        let statement = parse_sql("SELECT generate_series(1, 3), 1 + 1 AS two").unwrap();
        assert_eq!(
            statement.to_string(),
            "SELECT weir_series.value AS \"generate_series\", 1 + 1 AS two \
             FROM generate_series(1, 3) AS weir_series"
        );
        let statement =
            parse_sql("SELECT x, generate_series(1, x) FROM (VALUES (2)) AS v(x)").unwrap();
        assert!(
            statement
                .to_string()
                .contains("unnest(generate_series(1, x))")
        );
        let statement = parse_sql(
            "SELECT * FROM generate_series(1, 3) UNION ALL SELECT generate_series(4, 5) AS g",
        )
        .unwrap();
        assert!(
            statement.to_string().contains(
                "SELECT weir_series.value AS g FROM generate_series(4, 5) AS weir_series"
            )
        );
        assert!(statement.to_string().contains("FROM generate_series(1, 3)"));
    }
}
