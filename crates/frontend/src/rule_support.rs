//! What weir's analyzer rules (`pg_numbers`, `text_input`, `text_output`,
//! `pg_order`) and the functions they put in plans share: one walk over every
//! expression of a plan, what a comparison is, and the calling convention of a function
//! computed over whole columns.

use datafusion::arrow::array::ArrayRef;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{ColumnarValue, Expr, LogicalPlan, Operator, ScalarFunctionArgs};

/// Rewrites every expression of every node of `plan` (and of its subqueries) with
/// `rewrite`, given the schema of the node's inputs, nodes bottom up, except the nodes
/// `skip` names. Each rewritten expression keeps its name, and a changed node's schema is
/// computed again.
pub(crate) fn rewrite_expressions(
    plan: LogicalPlan,
    skip: impl Fn(&LogicalPlan) -> bool,
    rewrite: impl Fn(Expr, &DFSchema) -> Result<Transformed<Expr>>,
) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|plan| {
        if skip(&plan) {
            return Ok(Transformed::no(plan));
        }
        let schema = merge_schema(&plan.inputs());
        let names = NamePreserver::new(&plan);
        let rewritten = plan.map_expressions(|expr| {
            let name = names.save(&expr);
            let rewritten = rewrite(expr, &schema)?;
            Ok(rewritten.update_data(|expr| name.restore(expr)))
        })?;
        match rewritten.transformed {
            true => rewritten.map_data(|plan| plan.recompute_schema()),
            false => Ok(rewritten),
        }
    })
    .map(|transformed| transformed.data)
}

/// Whether `plan` is a node whose schema the planner fixed (`VALUES`, DML) or a `LIMIT`,
/// whose counts keep their types: rules that change types leave these alone.
pub(crate) fn has_fixed_types(plan: &LogicalPlan) -> bool {
    matches!(
        plan,
        LogicalPlan::Values(_) | LogicalPlan::Dml(_) | LogicalPlan::Limit(_)
    )
}

/// A function's result: `compute` over its arguments as columns, a scalar when every
/// argument is one (so that the planner can fold it).
pub(crate) fn invoke_on_arrays(
    args: &ScalarFunctionArgs,
    compute: impl FnOnce(&[ArrayRef]) -> Result<ArrayRef>,
) -> Result<ColumnarValue> {
    let all_scalar = args
        .args
        .iter()
        .all(|arg| matches!(arg, ColumnarValue::Scalar(_)));
    let arrays = ColumnarValue::values_to_arrays(&args.args)?;
    let values = compute(&arrays)?;
    Ok(match all_scalar && values.len() == 1 {
        true => ColumnarValue::Scalar(ScalarValue::try_from_array(&values, 0)?),
        false => ColumnarValue::Array(values),
    })
}

/// Whether `op` compares its operands: `=`, `<>`, `<`, `<=`, `>`, `>=`,
/// `IS [NOT] DISTINCT FROM`.
pub(crate) fn is_comparison(op: &Operator) -> bool {
    matches!(
        op,
        Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
            | Operator::IsDistinctFrom
            | Operator::IsNotDistinctFrom
    )
}
