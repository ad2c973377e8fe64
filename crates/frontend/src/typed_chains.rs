//! Long chains of operators typed in linear time.
//!
//! DataFusion works out the type of `a + b` from the types of `a` and `b`, recursively
//! and without remembering them, and its type coercion asks at every level of a tree for
//! the types below: a chain of `n` operators (`1 + 1 + … + 1`, `a || b || …`) took time
//! in `n²`, with a kernel run on empty arrays at every step — 40 s for 4,000 terms, and
//! `weir_sql`'s depth limit admits 10,000. A statement's planning cannot be interrupted,
//! so that was a statement no cancel request or `statement_timeout` could stop.
//!
//! This rule runs just before type coercion and types such chains bottom-up, once:
//! * arithmetic on integers or floats of one type, which coercion would leave as it is,
//!   becomes [`crate::checked_arithmetic`]'s call here already, a left-deep chain one
//!   call whose name and type cost its length;
//! * each other link of a left-deep chain of arithmetic or `||` whose left operand is
//!   itself a link is wrapped in a cast to its own type, which DataFusion reads in
//!   constant time. The cast changes no value, type or name (a cast's name is its
//!   operand's); the checked arithmetic that coercion makes possible drops it again.
//!
//! Expressions with parameters (`$1`) are left alone, since their types are inferred
//! from the expressions around them later. What stays quadratic is the planner's own
//! naming of the chain before this rule (a few passes over its text).

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::Cast;
use datafusion::logical_expr::{BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator};
use datafusion::optimizer::AnalyzerRule;

use crate::checked_arithmetic::checked_arithmetic;
use crate::rule_support::{has_fixed_types, rewrite_expressions};

/// Types left-deep operator chains bottom-up; runs before type coercion.
#[derive(Debug)]
pub(crate) struct TypeChains;

impl AnalyzerRule for TypeChains {
    fn name(&self) -> &str {
        "type_operator_chains_once"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        rewrite_expressions(plan, has_fixed_types, |expr, schema| {
            if expr.exists(|node| Ok(matches!(node, Expr::Placeholder(_))))? {
                return Ok(Transformed::no(expr));
            }
            expr.transform_up(|expr| {
                checked_arithmetic(expr, schema)?.transform_data(|expr| type_link(expr, schema))
            })
        })
    }
}

/// `expr` cast to its own type, if it is a link of a chain whose left operand is one.
fn type_link(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let is_link = match &expr {
        Expr::BinaryExpr(BinaryExpr { left, op, .. }) => is_chain_operator(op) && is_chain(left),
        _ => false,
    };
    if !is_link {
        return Ok(Transformed::no(expr));
    }
    match expr.get_type(schema) {
        Ok(data_type) if !data_type.is_null() => Ok(Transformed::yes(Expr::Cast(Cast::new(
            Box::new(expr),
            data_type,
        )))),
        _ => Ok(Transformed::no(expr)),
    }
}

/// Whether `expr` is a chain's operation, bare or typed by this rule.
fn is_chain(expr: &Expr) -> bool {
    let operation = match expr {
        Expr::Cast(Cast { expr, .. }) => expr.as_ref(),
        other => other,
    };
    matches!(operation, Expr::BinaryExpr(BinaryExpr { op, .. }) if is_chain_operator(op))
}

fn is_chain_operator(op: &Operator) -> bool {
    matches!(
        op,
        Operator::Plus
            | Operator::Minus
            | Operator::Multiply
            | Operator::Divide
            | Operator::Modulo
            | Operator::StringConcat
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::common::tree_node::TreeNodeRecursion;
    use datafusion::logical_expr::{col, lit};

    use super::*;

    fn schema() -> DFSchema {
        let fields = vec![Field::new("x", DataType::Int64, true)];
        DFSchema::try_from(Arc::new(Schema::new(fields))).unwrap()
    }

    fn typed(expr: Expr) -> Expr {
        expr.transform_up(|expr| type_link(expr, &schema()))
            .unwrap()
            .data
    }

    #[test]
    fn each_link_above_the_first_is_cast_to_its_own_type() {
        let chain = typed(col("x") + lit(1i32) + lit(2i32) + lit(3i32));
        let Expr::Cast(top) = &chain else {
            panic!("{chain}")
        };
        assert_eq!(top.field.data_type(), &DataType::Int64);
        assert_eq!(
            chain.schema_name().to_string(),
            "x + Int32(1) + Int32(2) + Int32(3)",
            "the name is the chain's"
        );
        let mut count = 0;
        chain
            .apply(|node| {
                count += usize::from(matches!(node, Expr::Cast(_)));
                Ok(TreeNodeRecursion::Continue)
            })
            .unwrap();
        assert_eq!(count, 2, "{chain}");
    }

    #[test]
    fn a_single_operation_and_comparisons_are_left_alone() {
        let single = col("x") + lit(1i32);
        assert_eq!(typed(single.clone()), single);
        let compared = (col("x") + lit(1i32)).eq(lit(2i64));
        assert_eq!(typed(compared.clone()), compared);
    }
}
