//! Floats and intervals sort, group and compare as PostgreSQL's do.
//!
//! * Floats: `-0` and `0` are equal (in `ORDER BY` the next key decides between them),
//!   and every NaN is equal to every other and greater than any other value. DataFusion
//!   sorts floats by their IEEE total order, in which `-0 < 0` and a NaN with its sign
//!   bit set (`'Infinity' - 'Infinity'`) comes before `-Infinity`, and groups a NaN apart
//!   from a NaN with the other sign.
//! * Intervals compare as one span, a month being 30 days and a day 24 hours
//!   (`'1 day' = '24 hours'`, `'1 mon' < '31 days'`), where DataFusion compares months,
//!   then days, then nanoseconds.
//!
//! Two rules, one of the analyzer and one of the optimizer, wrap in `pg_order_key`, which
//! maps the values as [`weir_common::comparable`] does:
//! * each float or interval key of every `Sort` in a plan (`ORDER BY`, with or without
//!   `LIMIT`). The keys are only compared, never shown, so the sorted rows keep their own
//!   values;
//! * each float or interval key of an equi-join (`ON l.f = r.f`);
//! * both sides of every comparison of floats or intervals (`f < 0`, `f = g`,
//!   `IS DISTINCT FROM`), where DataFusion's kernels compare as above;
//! * each float `GROUP BY` key, under its own name, so a group of `-0` and `0` shows `0`,
//!   each float argument of a `DISTINCT` aggregate and each interval one of
//!   `count(DISTINCT i)`. Interval groups keep their values (`'1 day'` and `'24 hours'`
//!   are two groups), as a group shows its own interval.
//!
//! `greatest`, `least` and `nullif` of floats or intervals are replaced by functions that
//! compare the same way.
//!
//! Materialized views plan through the same rule, and their operators map their keys the
//! same way. Not yet covered: the `PARTITION BY` and `ORDER BY` of a window function, the
//! `ORDER BY` of an aggregate such as `string_agg`, `min` and `max` of intervals, `IN`
//! lists and `CASE x WHEN`.

use std::sync::Arc;

use datafusion::arrow::array::Array;
use datafusion::arrow::compute::kernels::boolean::{and_kleene, is_not_null, is_null, or_kleene};
use datafusion::arrow::compute::kernels::cmp::{eq, gt, lt};
use datafusion::arrow::compute::kernels::zip::zip;
use datafusion::arrow::compute::{nullif, prep_null_mask_filter};
use datafusion::arrow::datatypes::{DataType, IntervalUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result, internal_err};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::expr::{AggregateFunction, ScalarFunction};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{
    Aggregate, BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, SortExpr, Volatility,
};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{AnalyzerRule, OptimizerConfig, OptimizerRule};
use weir_common::comparable::comparable;

use crate::rule_support::{invoke_on_arrays, is_comparison, rewrite_expressions};

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
            |expr, schema| {
                expr.transform_up(|expr| {
                    compare_ordered(expr, schema)?
                        .transform_data(|expr| ordered_functions(expr, schema))
                })
            },
        )?;
        plan.transform_up_with_subqueries(|plan| match plan {
            LogicalPlan::Sort(mut sort) => {
                let schema = sort.input.schema().clone();
                let mut changed = false;
                for key in &mut sort.expr {
                    if unwrapped_ordered(&key.expr, &schema) {
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
                    if unwrapped_ordered(left, &schema) {
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
    // `count(DISTINCT i)` shows no interval, so it counts equal spans once.
    let is_distinct_key = |call: &AggregateFunction, argument: &Expr| {
        is_float(argument) || (call.func.name() == "count" && unwrapped_ordered(argument, &schema))
    };
    let distinct_of_float = |expr: &Expr| match expr {
        Expr::AggregateFunction(call) => {
            call.params.distinct
                && call
                    .params
                    .args
                    .iter()
                    .any(|arg| is_distinct_key(call, arg))
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
                let mut wrapped = call.clone();
                for argument in &mut wrapped.params.args {
                    if is_distinct_key(call, argument) {
                        *argument = wrap(argument.clone());
                    }
                }
                let call = wrapped;
                names.save(expr).restore(Expr::AggregateFunction(call))
            }
            _ => expr.clone(),
        })
        .collect();
    let rewritten = Aggregate::try_new(aggregate.input, group_expr, aggr_expr)?;
    Ok(Transformed::yes(LogicalPlan::Aggregate(rewritten)))
}

/// A comparison of floats or intervals (`=`, `<`, `IS DISTINCT FROM`, …) with both sides
/// wrapped, so that Arrow's comparison agrees with PostgreSQL's.
fn compare_ordered(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right })
            if is_comparison(&op)
                && (unwrapped_ordered(&left, schema) || unwrapped_ordered(&right, schema)) =>
        {
            let side = |expr: Box<Expr>| match unwrapped_ordered(&expr, schema) {
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

/// `greatest`, `least` or `nullif` of floats or intervals replaced by a function that
/// compares as PostgreSQL does.
fn ordered_functions(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::ScalarFunction(call) = &expr else {
        return Ok(Transformed::no(expr));
    };
    let kind = match call.func.name() {
        "greatest" => Choice::Greatest,
        "least" => Choice::Least,
        "nullif" if call.args.len() == 2 => Choice::Nullif,
        _ => return Ok(Transformed::no(expr)),
    };
    let Some(first) = call.args.first() else {
        return Ok(Transformed::no(expr));
    };
    let data_type = first.get_type(schema)?;
    if !is_ordered_type(&data_type) {
        return Ok(Transformed::no(expr));
    }
    let udf = ScalarUDF::new_from_impl(PgChoice {
        kind,
        signature: Signature::any(call.args.len(), Volatility::Immutable),
    });
    let args = call.args.clone();
    Ok(Transformed::yes(Expr::ScalarFunction(
        ScalarFunction::new_udf(Arc::new(udf), args),
    )))
}

/// Whether `expr` is a float not wrapped yet (a plan may be analyzed twice).
fn unwrapped_float(expr: &Expr, schema: &DFSchema) -> bool {
    !is_wrapped(expr)
        && matches!(
            expr.get_type(schema),
            Ok(DataType::Float32 | DataType::Float64)
        )
}

/// Whether `expr` is a float or an interval not wrapped yet.
fn unwrapped_ordered(expr: &Expr, schema: &DFSchema) -> bool {
    !is_wrapped(expr) && matches!(expr.get_type(schema), Ok(ty) if is_ordered_type(&ty))
}

/// The types whose order `pg_order_key` maps.
fn is_ordered_type(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Float32 | DataType::Float64 | DataType::Interval(IntervalUnit::MonthDayNano)
    )
}

fn is_wrapped(expr: &Expr) -> bool {
    matches!(expr, Expr::ScalarFunction(call) if call.func.name() == PgOrderKey::NAME)
}

fn wrap(expr: Expr) -> Expr {
    let udf = ScalarUDF::new_from_impl(PgOrderKey {
        signature: Signature::uniform(
            1,
            vec![
                DataType::Float32,
                DataType::Float64,
                DataType::Interval(IntervalUnit::MonthDayNano),
            ],
            Volatility::Immutable,
        ),
    });
    Expr::ScalarFunction(ScalarFunction::new_udf(Arc::new(udf), vec![expr]))
}

/// A float or interval as PostgreSQL compares it (see [`comparable`]).
#[derive(Debug, PartialEq, Eq, Hash)]
struct PgOrderKey {
    signature: Signature,
}

impl PgOrderKey {
    const NAME: &str = "pg_order_key";
}

impl ScalarUDFImpl for PgOrderKey {
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
        invoke_on_arrays(&args, |arrays| Ok(comparable(&arrays[0])))
    }
}

#[derive(Debug, PartialEq, Eq, Hash, Clone, Copy)]
enum Choice {
    Greatest,
    Least,
    Nullif,
}

/// `greatest`, `least` (the largest or smallest of the values that are not NULL) and
/// `nullif` (NULL where the two are equal, else the first) of floats or intervals,
/// comparing them as [`comparable`] maps them.
#[derive(Debug, PartialEq, Eq, Hash)]
struct PgChoice {
    kind: Choice,
    signature: Signature,
}

impl ScalarUDFImpl for PgChoice {
    fn name(&self) -> &str {
        match self.kind {
            Choice::Greatest => "greatest",
            Choice::Least => "least",
            Choice::Nullif => "nullif",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        invoke_on_arrays(&args, |arrays| {
            let Some((first, rest)) = arrays.split_first() else {
                return internal_err!("{} without arguments", self.name());
            };
            match self.kind {
                Choice::Nullif => {
                    let equal = eq(&comparable(first), &comparable(&rest[0]))?;
                    Ok(nullif(first, &equal)?)
                }
                Choice::Greatest | Choice::Least => {
                    let mut chosen = first.clone();
                    for next in rest {
                        let (next_key, chosen_key) = (comparable(next), comparable(&chosen));
                        let better = match self.kind {
                            Choice::Greatest => gt(&next_key, &chosen_key)?,
                            _ => lt(&next_key, &chosen_key)?,
                        };
                        // A NULL so far gives way to any value; a NULL never wins.
                        let take = or_kleene(&is_null(&chosen)?, &better)?;
                        let take = and_kleene(&take, &is_not_null(next)?)?;
                        let take = match take.null_count() {
                            0 => take,
                            _ => prep_null_mask_filter(&take),
                        };
                        chosen = zip(&take, next, &chosen)?;
                    }
                    Ok(chosen)
                }
            }
        })
    }
}
