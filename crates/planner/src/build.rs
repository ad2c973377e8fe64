//! `LogicalPlan` → [`StreamPlan`].
//!
//! The input is the query as DataFusion optimized it (decorrelated subqueries become
//! semi and anti joins, filters and projections are pushed towards the scans). Identical
//! subplans become one node, so a CTE used twice is computed once. `ORDER BY` without
//! `LIMIT` is dropped: the rows of a view have no order; with `LIMIT` it is a top-N.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::common::Column;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, DFSchemaRef, FunctionalDependencies};
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{
    Distinct, Expr, ExprFunctionExt, FetchType, LogicalPlan, LogicalPlanBuilder, Operator,
    SkipType, Sort, Volatility, col, lit,
};
use weir_common::{Result, WeirError};

use crate::grouping_sets::union_of_groupings;
use crate::plan::{NodeId, NodeKind, RankFunction, StreamNode, StreamPlan};
use crate::scalar_subquery::join_uncorrelated_subqueries;

/// Aggregate functions the incremental aggregation maintains.
pub const MAINTAINED_AGGREGATES: [&str; 13] = [
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "bool_and",
    "bool_or",
    "var",
    "var_pop",
    "stddev",
    "stddev_pop",
    "string_agg",
    "array_agg",
];

/// Plans the incremental maintenance of a query. `written` is the query as planned from
/// its SQL, before optimization; `optimized` the same after DataFusion's optimizer.
pub fn plan_stream(written: &LogicalPlan, optimized: &LogicalPlan) -> Result<StreamPlan> {
    refuse_changing_functions(written)?;
    let optimized = join_uncorrelated_subqueries(optimized.clone())?;
    refuse_remaining_subqueries(&optimized)?;
    let mut builder = Builder::default();
    builder.add(&optimized)?;
    Ok(StreamPlan {
        nodes: builder.nodes,
    })
}

/// A view must equal its query at every moment; a function whose answer changes while
/// its arguments do not (`random()`, `now()`) would make it wrong as time passes.
fn refuse_changing_functions(plan: &LogicalPlan) -> Result<()> {
    let mut refused = None;
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                if let Expr::ScalarFunction(function) = e
                    && function.func.signature().volatility != Volatility::Immutable
                {
                    refused = Some(function.func.name().to_owned());
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })?;
    match refused {
        Some(name) => Err(unsupported(&format!("{name}()")).with_detail(
            "Its result changes over time, so the view could not stay equal to its query.",
        )),
        None => Ok(()),
    }
}

/// Subqueries the optimizer turned into joins, and uncorrelated scalar subqueries, are
/// maintained; any other left in place is not.
fn refuse_remaining_subqueries(plan: &LogicalPlan) -> Result<()> {
    let mut found = false;
    plan.apply(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                found |= matches!(
                    e,
                    Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_)
                );
                Ok(match found {
                    true => TreeNodeRecursion::Stop,
                    false => TreeNodeRecursion::Continue,
                })
            })
        })
    })?;
    match found {
        true => Err(unsupported("this subquery").with_hint("Join with the subquery instead.")),
        false => Ok(()),
    }
}

#[derive(Default)]
struct Builder {
    nodes: Vec<StreamNode>,
    planned: HashMap<LogicalPlan, NodeId>,
}

impl Builder {
    fn push(&mut self, kind: NodeKind, inputs: Vec<NodeId>, schema: DFSchemaRef) -> Result<NodeId> {
        let id = NodeId::try_from(self.nodes.len())
            .map_err(|_| WeirError::not_supported("a query this large in a materialized view"))?;
        self.nodes.push(StreamNode {
            id,
            kind,
            inputs,
            schema,
        });
        Ok(id)
    }

    fn add(&mut self, plan: &LogicalPlan) -> Result<NodeId> {
        if let Some(id) = self.planned.get(plan) {
            return Ok(*id);
        }
        let id = self.translate(plan)?;
        self.planned.insert(plan.clone(), id);
        Ok(id)
    }

    fn translate(&mut self, plan: &LogicalPlan) -> Result<NodeId> {
        match plan {
            LogicalPlan::TableScan(scan) => {
                if scan.fetch.is_some() {
                    return Err(unsupported("LIMIT without ORDER BY"));
                }
                let table_schema = scan.source.schema();
                let keys = FunctionalDependencies::new_from_constraints(
                    scan.source.constraints(),
                    table_schema.fields().len(),
                );
                let schema = Arc::new(
                    DFSchema::try_from_qualified_schema(scan.table_name.clone(), &table_schema)?
                        .with_functional_dependencies(keys)?,
                );
                let relation = scan.table_name.clone();
                let mut id = self.push(NodeKind::Source { relation }, vec![], schema.clone())?;
                if let Some(predicate) = conjunction(scan.filters.clone()) {
                    id = self.push(NodeKind::Filter { predicate }, vec![id], schema)?;
                }
                if scan.projection.is_some() {
                    let exprs = scan
                        .projected_schema
                        .columns()
                        .into_iter()
                        .map(Expr::Column)
                        .collect();
                    id = self.push(
                        NodeKind::Project { exprs },
                        vec![id],
                        scan.projected_schema.clone(),
                    )?;
                }
                Ok(id)
            }
            LogicalPlan::Projection(projection) => {
                let input = self.add(&projection.input)?;
                let exprs = projection.expr.clone();
                self.push(
                    NodeKind::Project { exprs },
                    vec![input],
                    projection.schema.clone(),
                )
            }
            LogicalPlan::Filter(filter) if let Some(id) = self.group_top_n(filter)? => Ok(id),
            LogicalPlan::Filter(filter) => {
                let input = self.add(&filter.input)?;
                let predicate = filter.predicate.clone();
                self.push(
                    NodeKind::Filter { predicate },
                    vec![input],
                    filter.input.schema().clone(),
                )
            }
            LogicalPlan::SubqueryAlias(alias) => {
                let input = self.add(&alias.input)?;
                self.push(NodeKind::Rename, vec![input], alias.schema.clone())
            }
            LogicalPlan::Aggregate(aggregate) => {
                for expr in &aggregate.aggr_expr {
                    check_aggregate(expr)?;
                }
                if aggregate
                    .group_expr
                    .iter()
                    .any(|e| matches!(e, Expr::GroupingSet(_)))
                {
                    return self.add(&union_of_groupings(aggregate)?);
                }
                let input = self.add(&aggregate.input)?;
                self.push(
                    NodeKind::Aggregate {
                        group: aggregate.group_expr.clone(),
                        aggregates: aggregate.aggr_expr.clone(),
                    },
                    vec![input],
                    aggregate.schema.clone(),
                )
            }
            LogicalPlan::Distinct(Distinct::All(input)) => {
                let group = input
                    .schema()
                    .columns()
                    .into_iter()
                    .map(Expr::Column)
                    .collect();
                let input_id = self.add(input)?;
                self.push(
                    NodeKind::Aggregate {
                        group,
                        aggregates: vec![],
                    },
                    vec![input_id],
                    input.schema().clone(),
                )
            }
            LogicalPlan::Join(join) => {
                if join.null_aware {
                    return self.add(&not_in(join)?);
                }
                let left = self.add(&join.left)?;
                let right = self.add(&join.right)?;
                self.push(
                    NodeKind::Join {
                        join_type: join.join_type,
                        on: join.on.clone(),
                        filter: join.filter.clone(),
                        null_equality: join.null_equality,
                    },
                    vec![left, right],
                    join.schema.clone(),
                )
            }
            LogicalPlan::Union(union) => {
                let inputs = union
                    .inputs
                    .iter()
                    .map(|input| self.add(input))
                    .collect::<Result<Vec<_>>>()?;
                self.push(NodeKind::Union, inputs, union.schema.clone())
            }
            LogicalPlan::Sort(sort) if sort.fetch.is_none() => self.add(&sort.input),
            LogicalPlan::Sort(sort) => self.top_n(sort, 0, sort.fetch),
            LogicalPlan::Limit(limit) => {
                let (SkipType::Literal(offset), FetchType::Literal(fetch)) =
                    (limit.get_skip_type()?, limit.get_fetch_type()?)
                else {
                    return Err(unsupported("LIMIT or OFFSET other than a constant"));
                };
                match limit.input.as_ref() {
                    LogicalPlan::Sort(sort) => {
                        let fetch = match (fetch, sort.fetch) {
                            (Some(limit), Some(sorted)) => {
                                Some(limit.min(sorted.saturating_sub(offset)))
                            }
                            (limit, sorted) => limit.or(sorted.map(|s| s.saturating_sub(offset))),
                        };
                        self.top_n(sort, offset, fetch)
                    }
                    _ => Err(unsupported("LIMIT without ORDER BY")
                        .with_detail("Which rows it keeps would be arbitrary.")),
                }
            }
            LogicalPlan::Values(values) => self.push(
                NodeKind::Values {
                    rows: values.values.clone(),
                },
                vec![],
                values.schema.clone(),
            ),
            LogicalPlan::EmptyRelation(empty) => {
                let rows = match empty.produce_one_row {
                    true => vec![vec![]],
                    false => vec![],
                };
                self.push(NodeKind::Values { rows }, vec![], empty.schema.clone())
            }
            LogicalPlan::Window(window) => {
                let input = self.add(&window.input)?;
                self.push(
                    NodeKind::Window {
                        functions: window.window_expr.clone(),
                    },
                    vec![input],
                    window.schema.clone(),
                )
            }
            LogicalPlan::Distinct(Distinct::On(_)) => Err(unsupported("DISTINCT ON")),
            other => Err(unsupported(&format!(
                "{} plans",
                other
                    .display()
                    .to_string()
                    .split(':')
                    .next()
                    .unwrap_or("such")
            ))),
        }
    }
}

impl Builder {
    /// `WHERE rank <= N` over `row_number()`, `rank()` or `dense_rank()` OVER (PARTITION
    /// BY … ORDER BY …): a group top-N; the rest of the WHERE stays a filter above it.
    /// `None` when the filter is not one; a window below is then recomputed per partition.
    fn group_top_n(&mut self, filter: &datafusion::logical_expr::Filter) -> Result<Option<NodeId>> {
        let Some((window, projection)) = window_below(&filter.input) else {
            return Ok(None);
        };
        let [window_expr] = window.window_expr.as_slice() else {
            return Ok(None);
        };
        let Expr::WindowFunction(function) = window_expr.clone().unalias() else {
            return Ok(None);
        };
        let rank = match function.fun.name() {
            "row_number" => RankFunction::RowNumber,
            "rank" => RankFunction::Rank,
            "dense_rank" => RankFunction::DenseRank,
            _ => return Ok(None),
        };
        if function.params.order_by.is_empty() {
            return Ok(None);
        }
        let rank_column = Expr::Column(Column::from(
            window
                .schema
                .qualified_field(window.schema.fields().len() - 1),
        ));
        let mut limit = None;
        let mut rest = Vec::new();
        for conjunct in split_conjunction(&filter.predicate) {
            match rank_bound(conjunct, &rank_column) {
                Some(bound) if limit.is_none() => limit = Some(bound),
                _ => rest.push(conjunct.clone()),
            }
        }
        let Some(limit) = limit else {
            return Ok(None);
        };
        let input = self.add(&window.input)?;
        let mut id = self.push(
            NodeKind::GroupTopN {
                partition: function.params.partition_by.clone(),
                order: function.params.order_by.clone(),
                rank,
                limit,
            },
            vec![input],
            window.schema.clone(),
        )?;
        if let Some(projection) = projection {
            id = self.push(
                NodeKind::Project {
                    exprs: projection.expr.clone(),
                },
                vec![id],
                projection.schema.clone(),
            )?;
        }
        if let Some(predicate) = conjunction(rest) {
            id = self.push(
                NodeKind::Filter { predicate },
                vec![id],
                filter.input.schema().clone(),
            )?;
        }
        Ok(Some(id))
    }

    fn top_n(&mut self, sort: &Sort, offset: usize, limit: Option<usize>) -> Result<NodeId> {
        let Some(limit) = limit else {
            return Err(unsupported("OFFSET without LIMIT"));
        };
        let input = self.add(&sort.input)?;
        self.push(
            NodeKind::TopN {
                order: sort.expr.clone(),
                offset,
                limit,
            },
            vec![input],
            sort.input.schema().clone(),
        )
    }
}

/// The window a filter reads, directly or through a projection of plain columns.
fn window_below(
    plan: &LogicalPlan,
) -> Option<(
    &datafusion::logical_expr::Window,
    Option<&datafusion::logical_expr::Projection>,
)> {
    match plan {
        LogicalPlan::Window(window) => Some((window, None)),
        LogicalPlan::Projection(projection)
            if projection.expr.iter().all(|e| matches!(e, Expr::Column(_))) =>
        {
            match projection.input.as_ref() {
                LogicalPlan::Window(window) => Some((window, Some(projection))),
                _ => None,
            }
        }
        _ => None,
    }
}

/// N when `predicate` is `rank <= N` or `rank < N + 1`.
fn rank_bound(predicate: &Expr, rank: &Expr) -> Option<u64> {
    let Expr::BinaryExpr(binary) = predicate else {
        return None;
    };
    if binary.left.as_ref() != rank {
        return None;
    }
    let Expr::Literal(value, _) = binary.right.as_ref() else {
        return None;
    };
    let bound = u64::try_from(
        value
            .cast_to(&datafusion::arrow::datatypes::DataType::Int64)
            .ok()
            .and_then(|v| match v {
                datafusion::common::ScalarValue::Int64(Some(n)) => Some(n),
                _ => None,
            })?,
    )
    .ok()?;
    match binary.op {
        Operator::LtEq => Some(bound),
        Operator::Lt => bound.checked_sub(1),
        _ => None,
    }
}

/// `x NOT IN (subquery)`, a null-aware anti join, as operators weir maintains: the anti
/// join without the NULL rule, crossed with the subquery's row and NULL counts, keeping a
/// row when the subquery is empty, or when `x` is not NULL, the subquery has no NULL and
/// nothing matched.
fn not_in(join: &datafusion::logical_expr::Join) -> Result<LogicalPlan> {
    let ([(outer, inner)], None) = (join.on.as_slice(), &join.filter) else {
        return Err(unsupported("NOT IN (subquery) with a correlated condition")
            .with_hint("NOT EXISTS is maintained and means the same when no NULLs are involved."));
    };
    let rows = "__weir_not_in_rows";
    let nulls = "__weir_not_in_nulls";
    let counts = LogicalPlanBuilder::from(join.right.as_ref().clone())
        .aggregate(
            Vec::<Expr>::new(),
            vec![
                count(lit(1)).alias(rows),
                count(lit(1))
                    .filter(inner.clone().is_null())
                    .build()?
                    .alias(nulls),
            ],
        )?
        .build()?;
    let anti = LogicalPlan::Join(datafusion::logical_expr::Join {
        null_aware: false,
        ..join.clone()
    });
    let keep = col(rows)
        .eq(lit(0i64))
        .or(outer.clone().is_not_null().and(col(nulls).eq(lit(0i64))));
    let kept_columns = join.schema.columns().into_iter().map(Expr::Column);
    Ok(LogicalPlanBuilder::from(anti)
        .cross_join(counts)?
        .filter(keep)?
        .project(kept_columns)?
        .build()?)
}

fn check_aggregate(expr: &Expr) -> Result<()> {
    let inner = match expr {
        Expr::Alias(alias) => alias.expr.as_ref(),
        other => other,
    };
    let Expr::AggregateFunction(function) = inner else {
        return Err(unsupported(&format!("the aggregate expression {inner}")));
    };
    let name = function.func.name();
    if !MAINTAINED_AGGREGATES.contains(&name) {
        return Err(unsupported(&format!("the aggregate function {name}()")));
    }
    let collects = matches!(name, "string_agg" | "array_agg");
    if function.params.distinct && name != "count" && !collects {
        return Err(unsupported(&format!("{name}(DISTINCT …)")));
    }
    if !function.params.order_by.is_empty() && !collects {
        return Err(unsupported(&format!("ORDER BY inside {name}()")));
    }
    Ok(())
}

pub(crate) fn unsupported(what: &str) -> WeirError {
    WeirError::not_supported(format!("{what} in a materialized view"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    use super::*;

    async fn plan(sql: &str) -> Result<StreamPlan> {
        let context = SessionContext::new();
        for name in ["orders", "customers"] {
            let schema = Arc::new(Schema::new(vec![
                Field::new("id", DataType::Int64, false),
                Field::new("customer", DataType::Int64, true),
                Field::new("amount", DataType::Int64, true),
            ]));
            let table = MemTable::try_new(schema, vec![vec![]]).unwrap();
            context.register_table(name, Arc::new(table)).unwrap();
        }
        let state = context.state();
        let written = state.create_logical_plan(sql).await?;
        let optimized = state.optimize(&written)?;
        plan_stream(&written, &optimized)
    }

    #[tokio::test]
    async fn joins_and_aggregates_become_stateful_operators() {
        let plan = plan(
            "SELECT c.id, sum(o.amount) FROM orders o JOIN customers c ON o.customer = c.id \
             WHERE o.amount > 10 GROUP BY c.id",
        )
        .await
        .unwrap();
        let text = plan.explain().join("\n");
        assert!(text.contains("Aggregate"), "{text}");
        assert!(text.contains("Inner Join"), "{text}");
        assert_eq!(plan.sources().len(), 2, "{text}");
        assert_eq!(plan.nodes.iter().filter(|n| n.is_stateful()).count(), 2);
    }

    #[tokio::test]
    async fn a_cte_used_twice_is_planned_once() {
        let plan = plan(
            "WITH big AS (SELECT customer, sum(amount) AS total FROM orders GROUP BY customer) \
             SELECT a.customer FROM big a JOIN big b ON a.total = b.total",
        )
        .await
        .unwrap();
        let aggregates = plan
            .nodes
            .iter()
            .filter(|n| matches!(n.kind, NodeKind::Aggregate { .. }))
            .count();
        assert_eq!(aggregates, 1, "{}", plan.explain().join("\n"));
    }

    #[tokio::test]
    async fn changing_functions_and_limits_are_refused() {
        for sql in [
            "SELECT random() FROM orders",
            "SELECT id FROM orders WHERE amount > now()::bigint",
            "SELECT id FROM orders LIMIT 3",
        ] {
            let error = plan(sql).await.unwrap_err();
            assert_eq!(
                error.state,
                weir_common::SqlState::FEATURE_NOT_SUPPORTED,
                "{sql}"
            );
        }
    }
}
