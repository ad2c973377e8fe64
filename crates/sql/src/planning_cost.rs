//! Bounds on the statements that DataFusion would plan in time growing faster than their
//! length, checked on the parsed statement.
//!
//! Planning cannot be interrupted: a cancelled statement answers 57014 at once, but its
//! planning runs to its end on an executor thread. So a statement whose planning would
//! take long is refused with 54001 before it is planned. Measured on a 2-core machine
//! (release build, the other core busy):
//!
//! * **Deep expressions.** DataFusion works out each node's type and name from every node
//!   below it, so an expression costs the sum of its nodes' heights: `1 + … + 1` of 500
//!   terms took 0.5 s to plan, 1,000 terms 1.9 s, 2,000 terms 7.8 s. No expression may be
//!   more than [`MAX_EXPRESSION_DEPTH`] levels deep, and the heights of a statement's
//!   nodes more than [`SHALLOW`] levels high may add up to [`MAX_DEEP_WORK`] (about one
//!   expression 1,000 levels deep, or four 500 deep). Parentheses that only group are not
//!   levels, and long `AND`/`OR` chains are balanced first (see `boolean_chains`).
//! * **Set operations.** `UNION ALL` of 1,000 queries took 1.3 s, of 2,000 4.7 s: a query
//!   may hold [`MAX_SET_OPERATIONS`].
//! * **Joins.** 100 tables joined in one `FROM` took 0.3 s, 200 tables 1.7 s: a `FROM`
//!   may join [`MAX_JOINED_TABLES`].
//! * **Subscripts in a row** (`a[1][2]…`, one node here, nested calls in DataFusion):
//!   [`MAX_SUBSCRIPTS`].
//!
//! The heights are a model, not the cost itself (an operand that is a wide call, or the
//! same common table expression referenced many times, costs more than its height says),
//! so these bounds stop the shapes measured, not every slow statement.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, Query, SetExpr, TableFactor, TableWithJoins, Visit, Visitor,
};
use weir_common::{Result, SqlState, WeirError};

/// The deepest expression a statement may hold.
const MAX_EXPRESSION_DEPTH: usize = 1_000;

/// The height below which a node costs DataFusion little.
const SHALLOW: usize = 64;

/// The most the heights of a statement's nodes above [`SHALLOW`] may add up to.
const MAX_DEEP_WORK: usize = 500_000;

/// The most subscripts or field selections in a row (`a[1][2]…`): DataFusion plans them
/// as nested calls, in time in the cube of their number (as `depth`'s `MAX_CALL_DEPTH`).
const MAX_SUBSCRIPTS: usize = 200;

/// The most set operations (`UNION`, `INTERSECT`, `EXCEPT`) one query may hold.
const MAX_SET_OPERATIONS: usize = 1_000;

/// The most tables one `FROM` may join.
const MAX_JOINED_TABLES: usize = 100;

/// Refuses `statement` (or a sink's query) with 54001 if DataFusion would take long to plan
/// it.
pub(crate) fn check_planning_cost(statement: &impl Visit) -> Result<()> {
    let mut cost = Cost {
        // The outermost frame holds the expressions outside any query (`UPDATE … SET`).
        heights: vec![vec![]],
        deep_work: 0,
    };
    match statement.visit(&mut cost) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(hint) => Err(WeirError::new(
            SqlState::STATEMENT_TOO_COMPLEX,
            "statement too complex to plan",
        )
        .with_hint(hint)),
    }
}

struct Cost {
    /// For each query being visited, innermost last: for each expression being visited in
    /// it, innermost last, the height of its highest operand so far.
    heights: Vec<Vec<usize>>,
    /// The heights above [`SHALLOW`] of the nodes visited so far, added up.
    deep_work: usize,
}

impl Visitor for Cost {
    type Break = String;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<String> {
        let (parts, set_operations) = set_parts(&query.body);
        if set_operations > MAX_SET_OPERATIONS {
            return ControlFlow::Break(format!(
                "A query holds more than {MAX_SET_OPERATIONS} UNION, INTERSECT or EXCEPT \
                 operations; load the rows into a table, or use VALUES."
            ));
        }
        if most_joined_tables(parts) > MAX_JOINED_TABLES {
            return ControlFlow::Break(format!(
                "A FROM joins more than {MAX_JOINED_TABLES} tables; join some of them in a \
                 view or a common table expression."
            ));
        }
        self.heights.push(vec![]);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<String> {
        self.heights.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<String> {
        self.open_expressions().push(0);
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &Expr) -> ControlFlow<String> {
        let open = self.open_expressions();
        let below = open.pop().unwrap_or(0);
        let height = match expr {
            Expr::Nested(_) => below,
            // `a[1][2]…` is one node here, and nested calls in DataFusion.
            Expr::CompoundFieldAccess { access_chain, .. } => {
                if access_chain.len() > MAX_SUBSCRIPTS {
                    return ControlFlow::Break(format!(
                        "An expression applies more than {MAX_SUBSCRIPTS} subscripts or \
                         field selections in a row; split it into steps."
                    ));
                }
                below + access_chain.len()
            }
            _ => below + 1,
        };
        if let Some(enclosing) = open.last_mut() {
            *enclosing = (*enclosing).max(height);
        }
        if height > MAX_EXPRESSION_DEPTH {
            return ControlFlow::Break(format!(
                "An expression nests more than {MAX_EXPRESSION_DEPTH} levels of operators, \
                 calls or CASEs; compute parts of it in a common table expression, or use \
                 IN (…) for long lists."
            ));
        }
        if height > SHALLOW {
            self.deep_work += height;
            if self.deep_work > MAX_DEEP_WORK {
                return ControlFlow::Break(format!(
                    "The statement's expressions are too deep to plan in all (their nodes \
                     more than {SHALLOW} levels high add up to more than {MAX_DEEP_WORK} \
                     levels); compute parts of them in common table expressions."
                ));
            }
        }
        ControlFlow::Continue(())
    }
}

impl Cost {
    /// The expressions being visited in the innermost query being visited (or outside
    /// any query).
    fn open_expressions(&mut self) -> &mut Vec<usize> {
        self.heights.last_mut().expect("the outermost frame stays")
    }
}

/// The parts of `body` joined by set operations, through parentheses, and the set
/// operations among them.
fn set_parts(body: &SetExpr) -> (Vec<&SetExpr>, usize) {
    let mut parts = vec![];
    let mut operations = 0;
    let mut pending = vec![body];
    while let Some(set) = pending.pop() {
        match set {
            SetExpr::SetOperation { left, right, .. } => {
                operations += 1;
                pending.extend([left.as_ref(), right.as_ref()]);
            }
            SetExpr::Query(query) => pending.push(&query.body),
            part => parts.push(part),
        }
    }
    (parts, operations)
}

/// The tables `from` joins, each as written (a parenthesized join is one).
fn tables_of(from: &TableWithJoins) -> impl Iterator<Item = &TableFactor> {
    std::iter::once(&from.relation).chain(from.joins.iter().map(|join| &join.relation))
}

/// The most tables a `FROM` of `parts` (a query's, see [`set_parts`]) joins, through
/// parenthesized joins.
fn most_joined_tables(parts: Vec<&SetExpr>) -> usize {
    parts
        .into_iter()
        .filter_map(|part| match part {
            SetExpr::Select(select) => Some(select),
            _ => None,
        })
        .map(|select| {
            let mut tables = 0;
            let mut pending: Vec<&TableFactor> = select.from.iter().flat_map(tables_of).collect();
            while let Some(table) = pending.pop() {
                match table {
                    TableFactor::NestedJoin {
                        table_with_joins, ..
                    } => pending.extend(tables_of(table_with_joins)),
                    _ => tables += 1,
                }
            }
            tables
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `parse` applied to `sql` on a thread with an executor thread's stack.
    fn on_statement_stack<T: Send + 'static>(
        sql: &str,
        parse: impl FnOnce(&str) -> T + Send + 'static,
    ) -> T {
        let sql = sql.to_owned();
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(move || parse(&sql))
            .unwrap()
            .join()
            .unwrap()
    }

    /// The hint of `sql`'s refusal, if it is refused.
    fn refusal(sql: &str) -> Option<String> {
        match on_statement_stack(sql, |sql| crate::parse(sql).map(drop)) {
            Ok(_) => None,
            Err(error) => {
                assert_eq!(error.state, SqlState::STATEMENT_TOO_COMPLEX, "{error}");
                Some(error.hint.unwrap_or_default())
            }
        }
    }

    fn sum(terms: usize) -> String {
        vec!["x"; terms].join(" + ")
    }

    #[test]
    fn deep_expressions_are_refused() {
        assert_eq!(
            refusal(&format!("SELECT {} FROM t", sum(MAX_EXPRESSION_DEPTH))),
            None
        );
        let hint = refusal(&format!("SELECT {} FROM t", sum(MAX_EXPRESSION_DEPTH + 1)));
        assert!(hint.unwrap().contains("nests more than 1000 levels"));
        // Parentheses that group are not levels; CASEs and calls are.
        let grouped = format!("SELECT {}x{} FROM t", "(".repeat(5_000), ")".repeat(5_000));
        assert_eq!(refusal(&grouped), None);
        let cases = |depth| {
            format!(
                "SELECT {}x{} FROM t",
                "CASE WHEN x > 0 THEN ".repeat(depth),
                " END".repeat(depth)
            )
        };
        // The innermost CASE is three levels high (`x > 0` is two).
        assert_eq!(refusal(&cases(MAX_EXPRESSION_DEPTH - 2)), None);
        assert!(refusal(&cases(MAX_EXPRESSION_DEPTH - 1)).is_some());
        let subscripts = |count| format!("SELECT NULL{}", "[1]".repeat(count));
        assert_eq!(refusal(&subscripts(MAX_SUBSCRIPTS)), None);
        assert!(
            refusal(&subscripts(MAX_SUBSCRIPTS + 1))
                .unwrap()
                .contains("subscripts")
        );
        // Stored definitions are not refused: they must open again.
        let stored = format!("SELECT {} FROM t", sum(2_000));
        assert!(on_statement_stack(&stored, |sql| crate::parse_sql(sql).is_ok()));
    }

    #[test]
    fn deep_expressions_add_up() {
        let items = |count, terms| vec![sum(terms); count].join(", ");
        assert_eq!(refusal(&format!("SELECT {} FROM t", items(4, 500))), None);
        let hint = refusal(&format!("SELECT {} FROM t", items(5, 500)));
        assert!(hint.unwrap().contains("too deep to plan in all"));
        // Shallow expressions cost nothing.
        assert_eq!(
            refusal(&format!("SELECT {} FROM t", items(2_000, SHALLOW))),
            None
        );
        // Subqueries' expressions are counted apart from those that hold them, but add up.
        let nested = format!("SELECT {} + (SELECT {} FROM t) FROM t", sum(900), sum(900));
        assert!(
            refusal(&nested)
                .unwrap()
                .contains("too deep to plan in all")
        );
        let nested = format!("SELECT {} + (SELECT {} FROM t) FROM t", sum(600), sum(600));
        assert_eq!(refusal(&nested), None);
    }

    #[test]
    fn long_unions_and_joins_are_refused() {
        let union = |count| vec!["SELECT 1"; count].join(" UNION ALL ");
        assert_eq!(refusal(&union(MAX_SET_OPERATIONS + 1)), None);
        assert!(
            refusal(&union(MAX_SET_OPERATIONS + 2))
                .unwrap()
                .contains("UNION")
        );
        let parenthesized = format!(
            "{}SELECT 1{}",
            "(SELECT 1 UNION ".repeat(600),
            ")".repeat(600)
        );
        assert!(refusal(&format!("{parenthesized} UNION {parenthesized}")).is_some());
        let joins = |count: usize| {
            let joined: Vec<String> = (1..count)
                .map(|i| format!("JOIN t t{i} ON t{i}.x = t0.x"))
                .collect();
            format!("SELECT 1 FROM t t0 {}", joined.join(" "))
        };
        assert_eq!(refusal(&joins(MAX_JOINED_TABLES)), None);
        assert!(
            refusal(&joins(MAX_JOINED_TABLES + 1))
                .unwrap()
                .contains("joins more")
        );
        let commas = (0..=MAX_JOINED_TABLES)
            .map(|i| format!("t t{i}"))
            .collect::<Vec<_>>();
        assert!(refusal(&format!("SELECT 1 FROM {}", commas.join(", "))).is_some());
    }
}
