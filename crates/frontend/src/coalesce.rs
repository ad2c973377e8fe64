//! `coalesce` (and `nvl`/`ifnull`, its two-argument forms) with plans that grow with the
//! statement, not exponentially in its nesting.
//!
//! DataFusion writes `coalesce(a, b, c)` as `CASE WHEN a IS NOT NULL THEN a WHEN b IS NOT
//! NULL THEN b ELSE c END`, which computes each argument only on the rows that need it,
//! as PostgreSQL does, but writes every argument but the last twice. Nested calls double
//! at each level: 20 levels of `coalesce(coalesce(…, 2), 2)` took 42 s and 8 GB to plan,
//! 24 levels had the server killed for memory. Here that rewrite is kept for calls whose
//! twice-written arguments are small (at most [`MOST_NODES`] nodes each), which covers
//! the calls people write; a call with a larger one is computed as a function: its
//! arguments over the whole batch (up to the first that leaves no row NULL), then the
//! first that is not NULL in each row. That
//! answers as PostgreSQL does, except that an argument after a large one that fails
//! (divides by zero, say) on a row where an earlier argument is not NULL fails the
//! statement, which PostgreSQL would not have computed — as `AND` and `OR` compute a
//! large right operand (see `short_circuit`).

use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::is_not_null;
use datafusion::arrow::compute::kernels::zip::zip;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, internal_err};
use datafusion::execution::FunctionRegistry;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl};

use crate::short_circuit::MOST_NODES;
use crate::wrapped_function::same_signature_as_inner;

/// Replaces DataFusion's `coalesce` and `nvl` (`ifnull`) with their bounded versions.
pub(crate) fn register(context: &SessionContext) {
    for name in ["coalesce", "nvl"] {
        if let Ok(inner) = context.udf(name) {
            context.register_udf(ScalarUDF::new_from_impl(BoundedCoalesce { inner }));
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct BoundedCoalesce {
    inner: Arc<ScalarUDF>,
}

impl ScalarUDFImpl for BoundedCoalesce {
    same_signature_as_inner!();

    fn short_circuits(&self) -> bool {
        self.inner.short_circuits()
    }

    fn conditional_arguments<'a>(
        &self,
        args: &'a [Expr],
    ) -> Option<(Vec<&'a Expr>, Vec<&'a Expr>)> {
        self.inner.conditional_arguments(args)
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        let written_twice = &args[..args.len().saturating_sub(1)];
        if written_twice.iter().all(is_small) {
            self.inner.simplify(args, info)
        } else {
            Ok(ExprSimplifyResult::Original(args))
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let mut args = args.args.into_iter();
        let Some(first) = args.next() else {
            return internal_err!("{} without arguments", self.name());
        };
        if let ColumnarValue::Scalar(value) = &first
            && !value.is_null()
        {
            return Ok(first);
        }
        let mut coalesced: ArrayRef = first.to_array(rows)?;
        for next in args {
            if coalesced.logical_null_count() == 0 {
                break;
            }
            let next = next.to_array(rows)?;
            coalesced = zip(&is_not_null(&coalesced)?, &coalesced, &next)?;
        }
        Ok(ColumnarValue::Array(coalesced))
    }
}

/// Whether `expr` has at most [`MOST_NODES`] nodes (the walk stops after that many).
fn is_small(expr: &Expr) -> bool {
    let mut nodes = 0;
    let _ = expr.apply(|_| {
        nodes += 1;
        Ok(match nodes > MOST_NODES {
            true => TreeNodeRecursion::Stop,
            false => TreeNodeRecursion::Continue,
        })
    });
    nodes <= MOST_NODES
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field};
    use datafusion::common::ScalarValue;
    use datafusion::common::config::ConfigOptions;
    use datafusion::functions::core::coalesce;

    use super::*;

    fn computed(args: Vec<ColumnarValue>, rows: usize) -> Vec<Option<i64>> {
        let field = Arc::new(Field::new("x", DataType::Int64, true));
        let result = BoundedCoalesce { inner: coalesce() }
            .invoke_with_args(ScalarFunctionArgs {
                arg_fields: vec![field.clone(); args.len()],
                args,
                number_rows: rows,
                return_field: field,
                config_options: Arc::new(ConfigOptions::default()),
            })
            .unwrap()
            .to_array(rows)
            .unwrap();
        let result = result.as_any().downcast_ref::<Int64Array>().unwrap();
        (0..rows)
            .map(|row| result.is_valid(row).then(|| result.value(row)))
            .collect()
    }

    fn column(values: &[Option<i64>]) -> ColumnarValue {
        ColumnarValue::Array(Arc::new(Int64Array::from(values.to_vec())))
    }

    #[test]
    fn each_row_takes_its_first_value_that_is_not_null() {
        let first = column(&[Some(1), None, None, None]);
        let second = column(&[Some(9), Some(2), None, None]);
        let third = ColumnarValue::Scalar(ScalarValue::Int64(Some(3)));
        assert_eq!(
            computed(vec![first, second, third], 4),
            vec![Some(1), Some(2), Some(3), Some(3)]
        );
        let nothing = ColumnarValue::Scalar(ScalarValue::Int64(None));
        let fallback = column(&[None, Some(5)]);
        assert_eq!(computed(vec![nothing, fallback], 2), vec![None, Some(5)]);
        let constant = ColumnarValue::Scalar(ScalarValue::Int64(Some(7)));
        let ignored = column(&[Some(1), None]);
        assert_eq!(computed(vec![constant, ignored], 2), vec![Some(7), Some(7)]);
    }
}
