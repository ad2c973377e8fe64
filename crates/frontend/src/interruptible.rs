//! Stopping a query's operators when its statement is interrupted.
//!
//! DataFusion drops a query's tasks when its result stream is dropped, but a task only
//! notices at its next yield, which for an operator that computes much per input batch
//! (a nested-loop join) may be many batches away. So the [`StopAtInterrupt`] rule, the
//! last physical optimizer rule, puts an [`InterruptibleExec`] above every leaf of every
//! plan: each time an operator asks a leaf for its next batch, the statement's
//! [`Interrupt`] (a session config extension) is looked at, and a raised one ends the
//! leaf's stream with its error, which every operator above passes on. A query then stops
//! within one input batch's work of each operator.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::Result;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::{Stream, StreamExt};
use weir_common::Interrupt;

/// Puts an [`InterruptibleExec`] above every leaf of a plan.
#[derive(Debug)]
pub(crate) struct StopAtInterrupt;

impl PhysicalOptimizerRule for StopAtInterrupt {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let leaf = node.children().is_empty();
            Ok(match leaf {
                true => Transformed::yes(Arc::new(InterruptibleExec::new(node)) as _),
                false => Transformed::no(node),
            })
        })
        .map(|transformed| transformed.data)
    }

    fn name(&self) -> &str {
        "stop_at_interrupt"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// A leaf's batches, ending with the statement's interrupt error once it is raised.
#[derive(Debug)]
pub(crate) struct InterruptibleExec {
    input: Arc<dyn ExecutionPlan>,
}

impl InterruptibleExec {
    fn new(input: Arc<dyn ExecutionPlan>) -> InterruptibleExec {
        InterruptibleExec { input }
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
            Some(input) if children.is_empty() => Ok(Arc::new(InterruptibleExec::new(input))),
            _ => Err(datafusion::error::DataFusionError::Internal(
                "InterruptibleExec has one child".to_owned(),
            )),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let interrupt = context.session_config().get_extension::<Interrupt>();
        let input = self.input.execute(partition, context)?;
        Ok(match interrupt {
            Some(interrupt) => Box::pin(InterruptibleStream { input, interrupt }),
            None => input,
        })
    }
}

struct InterruptibleStream {
    input: SendableRecordBatchStream,
    interrupt: Arc<Interrupt>,
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
