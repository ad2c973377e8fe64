//! `GROUPING SETS`, `ROLLUP` and `CUBE` as a union of plain aggregations.
//!
//! Each grouping set is an aggregation by its own columns; its rows get NULL for the
//! grouped columns it lacks and the grouping id DataFusion gives them (a bit per distinct
//! group column, set when the column is not grouped, most significant first, with the
//! ordinal of a repeated set above those bits), so `GROUPING()` reads the same as in a
//! batch query. The union of these aggregations is the grouping-set aggregation, and each
//! of them is maintained incrementally like any other.

use std::collections::HashMap;

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{
    Aggregate, Expr, ExprSchemable, GroupingSet, LogicalPlan, LogicalPlanBuilder, cast, lit,
};
use weir_common::Result;

use crate::build::unsupported;

/// The union of one aggregation per grouping set, with `aggregate`'s schema.
pub(crate) fn union_of_groupings(aggregate: &Aggregate) -> Result<LogicalPlan> {
    let [Expr::GroupingSet(grouping)] = aggregate.group_expr.as_slice() else {
        return Err(
            unsupported("GROUPING SETS mixed with other GROUP BY columns")
                .with_hint("List the other columns in every grouping set."),
        );
    };
    let columns: Vec<Expr> = grouping.distinct_expr().into_iter().cloned().collect();
    let sets = expand(grouping);
    let patterns: Vec<Vec<bool>> = sets
        .iter()
        .map(|set| columns.iter().map(|c| !set.contains(c)).collect())
        .collect();
    let ordinals = duplicate_ordinals(&patterns);
    let max_ordinal = ordinals.iter().copied().max().unwrap_or(0);
    let id_type = Aggregate::grouping_id_type(columns.len(), max_ordinal);
    let input_schema = aggregate.input.schema();
    let mut branches = Vec::with_capacity(sets.len());
    for ((set, pattern), ordinal) in sets.iter().zip(&patterns).zip(&ordinals) {
        let grouped = LogicalPlanBuilder::from(aggregate.input.as_ref().clone())
            .aggregate(set.clone(), aggregate.aggr_expr.clone())?
            .build()?;
        let grouped_schema = grouped.schema().clone();
        let mut exprs = Vec::with_capacity(aggregate.schema.fields().len());
        for (column, absent) in columns.iter().zip(pattern) {
            exprs.push(match absent {
                true => cast(lit(ScalarValue::Null), column.get_type(input_schema)?),
                false => {
                    let position = set.iter().position(|e| e == column).expect("grouped");
                    Expr::Column(grouped_schema.columns()[position].clone())
                }
            });
        }
        let id = pattern
            .iter()
            .fold(0u64, |id, absent| (id << 1) | u64::from(*absent))
            | ((*ordinal as u64) << columns.len());
        exprs.push(cast(lit(id), id_type.clone()));
        let aggregates = grouped_schema.columns().into_iter().skip(set.len());
        exprs.extend(aggregates.map(Expr::Column));
        let named =
            exprs
                .into_iter()
                .zip(aggregate.schema.iter())
                .map(|(expr, (qualifier, field))| {
                    expr.alias_qualified(qualifier.cloned(), field.name())
                });
        branches.push(LogicalPlanBuilder::from(grouped).project(named)?.build()?);
    }
    let mut branches = branches.into_iter();
    let first = branches.next().expect("a grouping has at least one set");
    let mut union = LogicalPlanBuilder::from(first);
    for branch in branches {
        union = union.union(branch)?;
    }
    // A union's columns have no qualifiers; the aggregation's users name them with theirs.
    let union = union.build()?;
    let named: Vec<Expr> = union
        .schema()
        .columns()
        .into_iter()
        .zip(aggregate.schema.iter())
        .map(|(column, (qualifier, field))| {
            Expr::Column(column).alias_qualified(qualifier.cloned(), field.name())
        })
        .collect();
    Ok(LogicalPlanBuilder::from(union).project(named)?.build()?)
}

/// The grouping sets of `GROUPING SETS`, `ROLLUP` or `CUBE`.
fn expand(grouping: &GroupingSet) -> Vec<Vec<Expr>> {
    match grouping {
        GroupingSet::GroupingSets(sets) => sets.clone(),
        GroupingSet::Rollup(columns) => (0..=columns.len())
            .rev()
            .map(|n| columns[..n].to_vec())
            .collect(),
        GroupingSet::Cube(columns) => (0..1u64 << columns.len())
            .map(|mask| {
                columns
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) == 0)
                    .map(|(_, c)| c.clone())
                    .collect()
            })
            .collect(),
    }
}

/// For each set, how many earlier sets group the same columns.
fn duplicate_ordinals(patterns: &[Vec<bool>]) -> Vec<usize> {
    let mut seen: HashMap<&[bool], usize> = HashMap::new();
    patterns
        .iter()
        .map(|pattern| {
            let count = seen.entry(pattern).or_insert(0);
            *count += 1;
            *count - 1
        })
        .collect()
}
