//! Uncorrelated scalar subqueries become joins, so that they are maintained like any
//! other input.
//!
//! DataFusion decorrelates correlated scalar subqueries into joins but leaves an
//! uncorrelated one (`WHERE x > (SELECT avg(x) FROM t)`) in its expression, to be run once
//! per batch query. A view must follow the subquery's changes too, so each one is
//! left-joined to the input of the filter or projection that uses it, on no condition,
//! and the expression reads the joined column instead: every row meets the subquery's one
//! row, or NULL when it has none, as SQL says. A subquery that might return more than one
//! row (an error in SQL, at the moment it happens) is refused.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, NullEquality};
use datafusion::logical_expr::{
    Expr, Join, JoinConstraint, JoinType, LogicalPlan, LogicalPlanBuilder, Projection,
};
use weir_common::Result;

use crate::build::unsupported;

/// `plan` with every uncorrelated scalar subquery of its filters and projections joined.
pub(crate) fn join_uncorrelated_subqueries(plan: LogicalPlan) -> Result<LogicalPlan> {
    let mut joined = 0;
    let plan = plan.transform_up(|node| match node {
        LogicalPlan::Filter(filter) if has_uncorrelated_subquery(&filter.predicate) => {
            let columns = filter
                .input
                .schema()
                .columns()
                .into_iter()
                .map(Expr::Column);
            let (input, predicate) =
                join_subqueries(filter.input.as_ref().clone(), filter.predicate, &mut joined)?;
            let plan = LogicalPlanBuilder::from(input)
                .filter(predicate)?
                .project(columns)?
                .build()?;
            Ok(Transformed::yes(plan))
        }
        LogicalPlan::Projection(projection)
            if projection.expr.iter().any(has_uncorrelated_subquery) =>
        {
            let mut input = projection.input.as_ref().clone();
            let mut exprs = Vec::with_capacity(projection.expr.len());
            for expr in projection.expr {
                let (joined_input, expr) = join_subqueries(input, expr, &mut joined)?;
                input = joined_input;
                exprs.push(expr);
            }
            let plan = Projection::try_new_with_schema(exprs, Arc::new(input), projection.schema)?;
            Ok(Transformed::yes(LogicalPlan::Projection(plan)))
        }
        other => Ok(Transformed::no(other)),
    })?;
    Ok(plan.data)
}

fn has_uncorrelated_subquery(expr: &Expr) -> bool {
    expr.exists(|e| {
        Ok(matches!(e, Expr::ScalarSubquery(subquery) if subquery.outer_ref_columns.is_empty()))
    })
    .unwrap_or(false)
}

/// Joins each uncorrelated scalar subquery of `expr` to `input`, and replaces it in
/// `expr` by the joined column.
fn join_subqueries(
    mut input: LogicalPlan,
    expr: Expr,
    joined: &mut usize,
) -> datafusion::error::Result<(LogicalPlan, Expr)> {
    let expr = expr.transform_up(|e| match e {
        Expr::ScalarSubquery(subquery) if subquery.outer_ref_columns.is_empty() => {
            let inner = join_uncorrelated_subqueries(subquery.subquery.as_ref().clone())
                .map_err(weir_common::WeirError::into_datafusion)?;
            if !at_most_one_row(&inner) {
                return Err(
                    unsupported("a scalar subquery that may return more than one row")
                        .with_hint("Use an aggregate without GROUP BY, or LIMIT 1 after ORDER BY.")
                        .into_datafusion(),
                );
            }
            let alias = format!("__weir_scalar_{joined}");
            *joined += 1;
            let inner = LogicalPlanBuilder::from(inner)
                .alias(alias.as_str())?
                .build()?;
            let column = Column::new(Some(alias), inner.schema().field(0).name());
            input = LogicalPlan::Join(Join::try_new(
                Arc::new(input.clone()),
                Arc::new(inner),
                vec![],
                None,
                JoinType::Left,
                JoinConstraint::On,
                NullEquality::NullEqualsNothing,
                false,
            )?);
            Ok(Transformed::new(
                Expr::Column(column),
                true,
                TreeNodeRecursion::Jump,
            ))
        }
        other => Ok(Transformed::no(other)),
    })?;
    Ok((input, expr.data))
}

/// Whether `plan` returns one row or none, whatever its inputs hold.
fn at_most_one_row(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Aggregate(aggregate) => aggregate.group_expr.is_empty(),
        LogicalPlan::Limit(limit) => {
            matches!(limit.get_fetch_type(), Ok(datafusion::logical_expr::FetchType::Literal(Some(n))) if n <= 1)
                || at_most_one_row(&limit.input)
        }
        LogicalPlan::Sort(sort) => {
            sort.fetch.is_some_and(|n| n <= 1) || at_most_one_row(&sort.input)
        }
        LogicalPlan::Values(values) => values.values.len() <= 1,
        LogicalPlan::EmptyRelation(_) => true,
        LogicalPlan::Projection(_) | LogicalPlan::Filter(_) | LogicalPlan::SubqueryAlias(_) => {
            plan.inputs().iter().all(|input| at_most_one_row(input))
        }
        _ => false,
    }
}
