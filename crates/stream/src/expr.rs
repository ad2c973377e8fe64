//! Logical expressions of a stream plan as physical expressions evaluated on chunks.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::common::DFSchema;
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::physical_expr::{PhysicalExpr, create_physical_expr};
use weir_common::Result;

pub(crate) type Compiled = Arc<dyn PhysicalExpr>;

/// `expr` over rows of `input`.
pub(crate) fn compile(expr: &Expr, input: &DFSchema) -> Result<Compiled> {
    Ok(create_physical_expr(
        expr,
        input,
        &ExecutionProps::new(),
        &PhysicalPlanningContext::default(),
    )?)
}

pub(crate) fn compile_all(exprs: &[Expr], input: &DFSchema) -> Result<Vec<Compiled>> {
    exprs.iter().map(|expr| compile(expr, input)).collect()
}

/// The value of `expr` for every row of `rows`.
pub(crate) fn evaluate(expr: &Compiled, rows: &RecordBatch) -> Result<ArrayRef> {
    Ok(expr.evaluate(rows)?.into_array(rows.num_rows())?)
}
