//! Stopping a query's operators when its statement is interrupted.
//!
//! DataFusion drops a query's tasks when its result stream is dropped, but a task only
//! notices at its next yield, which for an operator that computes much per input batch
//! (a nested-loop join) may be many batches away. So the [`StopAtInterrupt`] rule, the
//! last physical optimizer rule of every statement's session state, carries the
//! statement's [`Interrupt`] and
//! * puts an [`InterruptibleExec`] above every leaf: each time an operator asks a leaf for
//!   its next batch, the interrupt is looked at, and a raised one ends the leaf's stream
//!   with its error, which every operator above passes on;
//! * makes a nested-loop join's filter look at it too ([`StopAtInterruptExpr`]): such a
//!   join evaluates its filter once for each row of its build side against a batch of its
//!   probe side, all within one poll (200,000 rows × 8,192 went on for seconds after a
//!   cancel), and stops at the next evaluation.
//!
//! A query then stops within one input batch's work of each operator, and a nested-loop
//! join within one build row's.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, FieldRef, Schema, SchemaRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::joins::utils::JoinFilter;
use datafusion::physical_plan::joins::{NestedLoopJoinExec, NestedLoopJoinExecBuilder};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::{Stream, StreamExt};
use weir_common::Interrupt;

/// Makes every leaf of a plan, and every nested-loop join's filter, stop at `interrupt`.
#[derive(Debug)]
pub(crate) struct StopAtInterrupt {
    interrupt: Interrupt,
}

impl StopAtInterrupt {
    pub fn new(interrupt: Interrupt) -> StopAtInterrupt {
        StopAtInterrupt { interrupt }
    }

    fn stop_in(&self, node: Arc<dyn ExecutionPlan>) -> Result<Transformed<Arc<dyn ExecutionPlan>>> {
        if node.children().is_empty() {
            let leaf = InterruptibleExec::new(node, self.interrupt.clone());
            return Ok(Transformed::yes(Arc::new(leaf)));
        }
        let Some(join) = node.downcast_ref::<NestedLoopJoinExec>() else {
            return Ok(Transformed::no(node));
        };
        let Some(filter) = join.filter() else {
            return Ok(Transformed::no(node));
        };
        let expression = StopAtInterruptExpr {
            inner: filter.expression().clone(),
            interrupt: self.interrupt.clone(),
        };
        let filter = JoinFilter::new(
            Arc::new(expression),
            filter.column_indices().to_vec(),
            filter.schema().clone(),
        );
        let join = NestedLoopJoinExecBuilder::from(join)
            .with_filter(Some(filter))
            .build()?;
        Ok(Transformed::yes(Arc::new(join)))
    }
}

impl PhysicalOptimizerRule for StopAtInterrupt {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| self.stop_in(node))
            .map(|transformed| transformed.data)
    }

    fn name(&self) -> &str {
        "stop_at_interrupt"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// An expression's value, or the statement's interrupt error once it is raised.
#[derive(Debug)]
struct StopAtInterruptExpr {
    inner: Arc<dyn PhysicalExpr>,
    interrupt: Interrupt,
}

impl PartialEq for StopAtInterruptExpr {
    fn eq(&self, other: &Self) -> bool {
        self.inner.eq(&other.inner)
    }
}

impl Eq for StopAtInterruptExpr {}

impl Hash for StopAtInterruptExpr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.inner.hash(state);
    }
}

impl fmt::Display for StopAtInterruptExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl PhysicalExpr for StopAtInterruptExpr {
    fn data_type(&self, input_schema: &Schema) -> Result<DataType> {
        self.inner.data_type(input_schema)
    }

    fn nullable(&self, input_schema: &Schema) -> Result<bool> {
        self.inner.nullable(input_schema)
    }

    fn return_field(&self, input_schema: &Schema) -> Result<FieldRef> {
        self.inner.return_field(input_schema)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        self.interrupt
            .check()
            .map_err(|error| error.into_datafusion())?;
        self.inner.evaluate(batch)
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.inner]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        match children.pop() {
            Some(inner) if children.is_empty() => Ok(Arc::new(StopAtInterruptExpr {
                inner,
                interrupt: self.interrupt.clone(),
            })),
            _ => Err(DataFusionError::Internal(
                "StopAtInterruptExpr has one child".to_owned(),
            )),
        }
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt_sql(f)
    }
}

/// A leaf's batches, ending with the statement's interrupt error once it is raised.
#[derive(Debug)]
pub(crate) struct InterruptibleExec {
    input: Arc<dyn ExecutionPlan>,
    interrupt: Interrupt,
}

impl InterruptibleExec {
    fn new(input: Arc<dyn ExecutionPlan>, interrupt: Interrupt) -> InterruptibleExec {
        InterruptibleExec { input, interrupt }
    }
}

impl DisplayAs for InterruptibleExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InterruptibleExec")
    }
}

impl ExecutionPlan for InterruptibleExec {
    fn name(&self) -> &str {
        "InterruptibleExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match children.pop() {
            Some(input) if children.is_empty() => Ok(Arc::new(InterruptibleExec::new(
                input,
                self.interrupt.clone(),
            ))),
            _ => Err(DataFusionError::Internal(
                "InterruptibleExec has one child".to_owned(),
            )),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let interrupt = self.interrupt.clone();
        Ok(Box::pin(InterruptibleStream { input, interrupt }))
    }
}

struct InterruptibleStream {
    input: SendableRecordBatchStream,
    interrupt: Interrupt,
}

impl Stream for InterruptibleStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Err(error) = self.interrupt.check() {
            return Poll::Ready(Some(Err(error.into_datafusion())));
        }
        self.input.poll_next_unpin(cx)
    }
}

impl RecordBatchStream for InterruptibleStream {
    fn schema(&self) -> SchemaRef {
        self.input.schema()
    }
}
