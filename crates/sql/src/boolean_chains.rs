//! Long chains of `AND` or `OR` are planned as balanced trees.
//!
//! sqlparser reads `a OR b OR … OR z` as a tree as deep as the chain is long, and
//! DataFusion plans a tree in time in the square of its depth (each level's type and name
//! are worked out again from every level below it): 4,000 terms of `x = i OR …` took 4 s.
//! A chain of more than [`BALANCE_AT`] operands is rebuilt as a balanced tree of the same
//! operands in the same order, as deep as the logarithm of its length. `AND` and `OR` are
//! associative in SQL's three-valued logic, so every answer is the same, and the operands
//! are still computed left to right.
//!
//! One difference, listed in the README: weir computes the right operand of an `AND`/`OR`
//! only on the rows its left one leaves undecided when that operand is small (see the
//! frontend's `short_circuit`), and the right half of a long chain is not, so in a chain of
//! more than [`BALANCE_AT`] operands an early operand no longer guards a late one against
//! an error (`x <> 0 AND … AND 1 / x > 0` may fail with 22012).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, Value, VisitMut, VisitorMut};

/// The longest chain left as sqlparser reads it.
pub const BALANCE_AT: usize = 64;

/// Rebuilds each chain of more than [`BALANCE_AT`] `AND`s or `OR`s in `statement` as a
/// balanced tree.
pub(crate) fn balance_boolean_chains(statement: &mut impl VisitMut) {
    let _ = statement.visit(&mut Balance);
}

struct Balance;

impl VisitorMut for Balance {
    type Break = ();

    /// Visited before its operands, so a chain is rebuilt once, from its top.
    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Some(op) = chain_operator(expr)
            && chain_length(expr, &op) > BALANCE_AT
        {
            let chain = std::mem::replace(expr, Expr::value(Value::Null));
            *expr = balanced(operands(chain, &op), &op);
        }
        ControlFlow::Continue(())
    }
}

/// `AND` or `OR`, if `expr` is one.
fn chain_operator(expr: &Expr) -> Option<BinaryOperator> {
    match expr {
        Expr::BinaryOp {
            op: op @ (BinaryOperator::And | BinaryOperator::Or),
            ..
        } => Some(op.clone()),
        _ => None,
    }
}

/// How many operands the chain of `op` down `expr`'s left side joins.
fn chain_length(expr: &Expr, op: &BinaryOperator) -> usize {
    let mut length = 1;
    let mut current = expr;
    while let Expr::BinaryOp { left, op: next, .. } = current
        && next == op
    {
        length += 1;
        current = left;
    }
    length
}

/// The operands of the chain of `op` down `expr`'s left side, in order.
fn operands(expr: Expr, op: &BinaryOperator) -> Vec<Expr> {
    let mut operands = vec![];
    let mut current = expr;
    loop {
        match current {
            Expr::BinaryOp {
                left,
                op: next,
                right,
            } if next == *op => {
                operands.push(*right);
                current = *left;
            }
            other => {
                operands.push(other);
                break;
            }
        }
    }
    operands.reverse();
    operands
}

/// `operands` joined by `op`, halves under each node.
fn balanced(mut operands: Vec<Expr>, op: &BinaryOperator) -> Expr {
    if operands.len() == 1 {
        return operands.pop().expect("one operand");
    }
    let right = operands.split_off(operands.len() / 2);
    Expr::BinaryOp {
        left: Box::new(balanced(operands, op)),
        op: op.clone(),
        right: Box::new(balanced(right, op)),
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::ast::{SelectItem, SetExpr, Statement};

    use super::*;

    /// How many levels of operators `expr` has.
    fn depth(expr: &Expr) -> usize {
        match expr {
            Expr::BinaryOp { left, right, .. } => 1 + depth(left).max(depth(right)),
            _ => 1,
        }
    }

    /// The first expression `sql` selects, as parsed.
    fn selected(sql: &str) -> Expr {
        let Statement::Query(query) = crate::parse_sql(sql).unwrap() else {
            panic!("a query")
        };
        let SetExpr::Select(select) = *query.body else {
            panic!("a select")
        };
        match select.projection.into_iter().next() {
            Some(SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) => expr,
            _ => panic!("an expression"),
        }
    }

    fn chain(op: &str, terms: usize) -> String {
        (0..terms)
            .map(|i| format!("x = {i}"))
            .collect::<Vec<_>>()
            .join(op)
    }

    #[test]
    fn long_chains_are_balanced_and_keep_their_order() {
        let or = chain(" OR ", 1_000);
        let expr = selected(&format!("SELECT {or} FROM t"));
        assert_eq!(depth(&expr), 12);
        // Written out, the balanced tree is the same chain.
        assert_eq!(expr.to_string(), or);
    }

    #[test]
    fn short_chains_and_other_operators_stay_as_written() {
        let and = chain(" AND ", BALANCE_AT);
        assert_eq!(
            depth(&selected(&format!("SELECT {and} FROM t"))),
            BALANCE_AT + 1
        );
        let longer = chain(" AND ", BALANCE_AT + 1);
        assert_eq!(depth(&selected(&format!("SELECT {longer} FROM t"))), 9);
        let sum = vec!["x"; 100].join(" + ");
        assert_eq!(depth(&selected(&format!("SELECT {sum} FROM t"))), 100);
    }
}
