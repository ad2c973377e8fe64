//! `AND` and `OR` compute their right operand only on the rows where the left one does not
//! decide, as PostgreSQL does row by row, so that a guard works: in
//! `x <> 0 AND 10 / x > 1` no row with `x = 0` divides. DataFusion computes both operands
//! over a whole batch (unless the left one decides every row of it), so the division
//! fails the statement.
//!
//! An optimizer rule, the last one (DataFusion's simplifier writes some `CASE`s as
//! `AND`/`OR`), rewrites each `a AND b` whose `b` may fail — it divides, calls a
//! function, or casts text or to a narrower number — into `CASE a WHEN true THEN b WHEN false THEN false ELSE NULL AND b END`
//! (and `a OR b` alike), whose branches are computed on their own rows. `a` is computed
//! once; `b` is written twice, so a `b` of more than [`MOST_NODES`] nodes is left as it
//! is, which keeps a chain of thousands linear. A chain of more than
//! [`weir_sql::BALANCE_AT`] `AND`s or `OR`s is first balanced again (as weir's parser left
//! it; DataFusion's optimizer joins a filter's conjuncts back into one deep chain), so the
//! rewrite nests only as deep as the logarithm of its length — and the right half of such
//! a chain is too large to be computed only where the left half does not decide it.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::utils::split_binary_owned;
use datafusion::logical_expr::{
    BinaryExpr, Case, Cast, Expr, ExprSchemable, LogicalPlan, Operator, TryCast, binary_expr,
};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

use crate::rule_support::rewrite_expressions;

/// The largest right operand rewritten (and the largest argument `coalesce` writes twice).
pub(crate) const MOST_NODES: usize = 64;

/// Registers the rule in `context`, after DataFusion's own.
pub(crate) fn register(context: &SessionContext) {
    context.add_optimizer_rule(Arc::new(ComputeRightOperandsAsNeeded));
}

#[derive(Debug)]
struct ComputeRightOperandsAsNeeded;

impl OptimizerRule for ComputeRightOperandsAsNeeded {
    fn name(&self) -> &str {
        "compute_right_operands_as_needed"
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let before = plan.clone();
        let rewritten = rewrite_expressions(
            plan,
            |_| false,
            |expr, schema| {
                expr.transform_down(balance_long_chain)?
                    .transform_data(|expr| expr.transform_up(|expr| short_circuit(expr, schema)))
            },
        )?;
        let changed = rewritten != before;
        Ok(Transformed::new_transformed(rewritten, changed))
    }
}

/// `expr` as a balanced tree if it is a chain of more than [`weir_sql::BALANCE_AT`] `AND`s
/// or `OR`s down its left side. weir's parser balances such chains, but DataFusion's
/// optimizer joins a filter's conjuncts again into a chain as deep as it is long, whose
/// rewrite here would nest as deep (3,000 conjuncts took 22 s to plan).
fn balance_long_chain(expr: Expr) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr {
        op: op @ (Operator::And | Operator::Or),
        ..
    }) = &expr
    else {
        return Ok(Transformed::no(expr));
    };
    let op = *op;
    let mut length = 1;
    let mut link = &expr;
    while let Expr::BinaryExpr(BinaryExpr { left, op: next, .. }) = link
        && *next == op
    {
        length += 1;
        link = left;
    }
    if length <= weir_sql::BALANCE_AT {
        return Ok(Transformed::no(expr));
    }
    fn balanced(mut operands: Vec<Expr>, op: Operator) -> Expr {
        if operands.len() == 1 {
            return operands.pop().expect("one operand");
        }
        let right = operands.split_off(operands.len() / 2);
        binary_expr(balanced(operands, op), op, balanced(right, op))
    }
    Ok(Transformed::yes(balanced(split_binary_owned(expr, op), op)))
}

fn short_circuit(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &expr else {
        return Ok(Transformed::no(expr));
    };
    // `NULL AND b` is the rewrite's own last branch.
    let decided = matches!(left.as_ref(), Expr::Literal(..));
    if !matches!(op, Operator::And | Operator::Or) || decided || !may_fail(right, schema) {
        return Ok(Transformed::no(expr));
    }
    let boolean = |value: Option<bool>| Expr::Literal(ScalarValue::Boolean(value), None);
    let (when_true, when_false) = match op {
        Operator::And => ((**right).clone(), boolean(Some(false))),
        _ => (boolean(Some(true)), (**right).clone()),
    };
    let when_null = Expr::BinaryExpr(BinaryExpr::new(Box::new(boolean(None)), *op, right.clone()));
    Ok(Transformed::yes(Expr::Case(Case::new(
        Some(left.clone()),
        vec![
            (Box::new(boolean(Some(true))), Box::new(when_true)),
            (Box::new(boolean(Some(false))), Box::new(when_false)),
        ],
        Some(Box::new(when_null)),
    ))))
}

/// Whether computing `expr` may fail on some row, and it is small enough to write twice:
/// it divides, calls a function (other than the comparison key of floats), computes
/// checked arithmetic, or casts text or narrows a number.
fn may_fail(expr: &Expr, schema: &DFSchema) -> bool {
    let mut nodes = 0;
    let mut fails = false;
    let _ = expr.apply(|node| {
        nodes += 1;
        fails |= match node {
            Expr::ScalarFunction(call) => call.func.name() != "pg_order_key",
            Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field }) => {
                may_fail_cast(expr, field.data_type(), schema)
            }
            Expr::BinaryExpr(BinaryExpr { op, .. }) => {
                matches!(op, Operator::Divide | Operator::Modulo)
            }
            _ => false,
        };
        Ok(match nodes > MOST_NODES {
            true => TreeNodeRecursion::Stop,
            false => TreeNodeRecursion::Continue,
        })
    });
    fails && nodes <= MOST_NODES
}

/// Whether a cast of `expr` to `to` may fail: from text, or to a number that may not hold
/// the value (an integer no wider than its source is safe).
fn may_fail_cast(expr: &Expr, to: &DataType, schema: &DFSchema) -> bool {
    let Ok(from) = expr.get_type(schema) else {
        return true;
    };
    let width = |ty: &DataType| match ty {
        DataType::Int8 => Some(1),
        DataType::Int16 => Some(2),
        DataType::Int32 => Some(4),
        DataType::Int64 => Some(8),
        _ => None,
    };
    match (width(&from), width(to)) {
        (Some(from), Some(to)) => from > to,
        _ => {
            matches!(
                from,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) || to.is_numeric()
                || matches!(to, DataType::Date32 | DataType::Timestamp(..))
        }
    }
}
