//! Floats sort and group as PostgreSQL's do: `-0` and `0` are equal (in `ORDER BY` the
//! next key decides between them), and every NaN is equal to every other and greater
//! than any other value. DataFusion sorts floats by their IEEE total order, in which
//! `-0 < 0` and a NaN with its sign bit set (`'Infinity' - 'Infinity'`) comes before
//! `-Infinity`, and groups a NaN apart from a NaN with the other sign.
//!
//! Two rules, one of the analyzer and one of the optimizer, wrap in `pg_float_order`, which maps the values as
//! [`weir_common::comparable`] does:
//! * each float key of every `Sort` in a plan (`ORDER BY`, with or without `LIMIT`). The
//!   keys are only compared, never shown, so the sorted rows keep their own values;
//! * each float `GROUP BY` key, under its own name, so a group of `-0` and `0` shows `0`;
//! * each float argument of a `DISTINCT` aggregate (`count(DISTINCT f)`);
//! * each float key of an equi-join (`ON l.f = r.f`);
//! * both sides of every comparison of floats (`f < 0`, `f = g`, `IS DISTINCT FROM`),
//!   where DataFusion's kernels compare by the IEEE total order.
//!
//! Materialized views plan through the same rule, and their operators map their keys the
//! same way. Not yet covered: the `PARTITION BY` and `ORDER BY` of a window function, and
//! the `ORDER BY` of an aggregate such as `string_agg`.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{
    Aggregate, BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, SortExpr, Volatility,
};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{AnalyzerRule, OptimizerConfig, OptimizerRule};
use weir_common::comparable::comparable;

use crate::rule_support::{is_comparison, rewrite_expressions};

/// Registers the rules in `context`.
pub(crate) fn register(context: &SessionContext) {
    context.add_analyzer_rule(Arc::new(OrderFloatsAsPostgresDoes));
    context.add_optimizer_rule(Arc::new(JoinFloatsAsPostgresDoes));
}

#[derive(Debug)]
struct OrderFloatsAsPostgresDoes;

impl AnalyzerRule for OrderFloatsAsPostgresDoes {
    fn name(&self) -> &str {
        "order_floats_as_postgres_does"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        let plan = rewrite_expressions(
            plan,
            |_| false,
            |expr, schema| expr.transform_up(|expr| compare_floats(expr, schema)),
        )?;
        plan.transform_up_with_subqueries(|plan| match plan {
            LogicalPlan::Sort(mut sort) => {
                let schema = sort.input.schema().clone();
                let mut changed = false;
                for key in &mut sort.expr {
                    if unwrapped_float(&key.expr, &schema) {
                        *key = SortExpr::new(wrap(key.expr.clone()), key.asc, key.nulls_first);
                        changed = true;
                    }
                }
                Ok(Transformed::new_transformed(
                    LogicalPlan::Sort(sort),
                    changed,
                ))
            }
            LogicalPlan::Aggregate(aggregate) => group_floats(aggregate),
            other => Ok(Transformed::no(other)),
        })
        .map(|transformed| transformed.data)
    }
}

/// The equi-join keys, which the optimizer takes out of `ON` conditions, so this one
/// runs after it.
#[derive(Debug)]
struct JoinFloatsAsPostgresDoes;

impl OptimizerRule for JoinFloatsAsPostgresDoes {
    fn name(&self) -> &str {
        "join_floats_as_postgres_does"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        match plan {
            LogicalPlan::Join(mut join) => {
                let schema = join.left.schema().clone();
                let mut changed = false;
                for (left, right) in &mut join.on {
                    if unwrapped_float(left, &schema) {
                        *left = wrap(left.clone());
                        *right = wrap(right.clone());
                        changed = true;
                    }
                }
                Ok(Transformed::new_transformed(
                    LogicalPlan::Join(join),
                    changed,
                ))
            }
            other => Ok(Transformed::no(other)),
        }
    }
}

/// `aggregate` with its float group keys and the float arguments of its `DISTINCT`
/// aggregates wrapped, each expression keeping its name.
fn group_floats(aggregate: Aggregate) -> Result<Transformed<LogicalPlan>> {
    let schema = aggregate.input.schema().clone();
    let is_float = |expr: &Expr| unwrapped_float(expr, &schema);
    let is_float_key =
        |expr: &Expr| !matches!(expr, Expr::GroupingSet(_) | Expr::Alias(_)) && is_float(expr);
    let distinct_of_float = |expr: &Expr| match expr {
        Expr::AggregateFunction(call) => {
            call.params.distinct && call.params.args.iter().any(is_float)
        }
        _ => false,
    };
    let changes = aggregate.group_expr.iter().any(is_float_key)
        || aggregate.aggr_expr.iter().any(distinct_of_float);
    if !changes {
        return Ok(Transformed::no(LogicalPlan::Aggregate(aggregate)));
    }
    let names = NamePreserver::new(&LogicalPlan::Aggregate(aggregate.clone()));
    let group_expr = aggregate
        .group_expr
        .iter()
        .map(|expr| match is_float_key(expr) {
            true => names.save(expr).restore(wrap(expr.clone())),
            false => expr.clone(),
        })
        .collect();
    let aggr_expr = aggregate
        .aggr_expr
        .iter()
        .map(|expr| match (distinct_of_float(expr), expr) {
            (true, Expr::AggregateFunction(call)) => {
                let mut call = call.clone();
                for argument in &mut call.params.args {
                    if is_float(argument) {
                        *argument = wrap(argument.clone());
                    }
                }
                names.save(expr).restore(Expr::AggregateFunction(call))
            }
            _ => expr.clone(),
        })
        .collect();
    let rewritten = Aggregate::try_new(aggregate.input, group_expr, aggr_expr)?;
    Ok(Transformed::yes(LogicalPlan::Aggregate(rewritten)))
}

/// A comparison of floats (`=`, `<`, `IS DISTINCT FROM`, …) with both sides wrapped, so
/// that Arrow's comparison (the IEEE total order) agrees with PostgreSQL's.
fn compare_floats(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right })
            if is_comparison(&op)
                && (unwrapped_float(&left, schema) || unwrapped_float(&right, schema)) =>
        {
            let side = |expr: Box<Expr>| match unwrapped_float(&expr, schema) {
                true => Box::new(wrap(*expr)),
                false => expr,
            };
            Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr {
                left: side(left),
                op,
                right: side(right),
            })))
        }
        other => Ok(Transformed::no(other)),
    }
}

/// Whether `expr` is a float not wrapped yet (a plan may be analyzed twice).
fn unwrapped_float(expr: &Expr, schema: &DFSchema) -> bool {
    !is_wrapped(expr)
        && matches!(
            expr.get_type(schema),
            Ok(DataType::Float32 | DataType::Float64)
        )
}

fn is_wrapped(expr: &Expr) -> bool {
    matches!(expr, Expr::ScalarFunction(call) if call.func.name() == PgFloatOrder::NAME)
}

fn wrap(expr: Expr) -> Expr {
    let udf = ScalarUDF::new_from_impl(PgFloatOrder {
        signature: Signature::uniform(
            1,
            vec![DataType::Float32, DataType::Float64],
            Volatility::Immutable,
        ),
    });
    Expr::ScalarFunction(ScalarFunction::new_udf(Arc::new(udf), vec![expr]))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PgFloatOrder {
    signature: Signature,
}

impl PgFloatOrder {
    const NAME: &str = "pg_float_order";
}

impl ScalarUDFImpl for PgFloatOrder {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(match &args.args[0] {
            ColumnarValue::Array(values) => ColumnarValue::Array(comparable(values)),
            ColumnarValue::Scalar(value) => {
                let values = comparable(&value.to_array()?);
                ColumnarValue::Scalar(ScalarValue::try_from_array(&values, 0)?)
            }
        })
    }
}
