//! A running stream plan: one operator per node, changes pushed from sources to the root.
//!
//! A chunk entering at a source flows depth-first through every operator it reaches
//! before the next chunk enters. When one relation feeds several sources (a self-join, or
//! a table read by two branches) its changes enter at each source in turn, which gives
//! the exact change of a bilinear operator: Δ(A⋈B) = ΔA⋈B + (A+ΔA)⋈ΔB.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::TableReference;
use weir_common::{Result, StreamChunk};
use weir_planner::{NodeId, NodeKind, StreamPlan};
use weir_storage::{EpochWrite, ReadSnapshot};

use crate::aggregate::Aggregate;
use crate::expr::{compile, compile_all};
use crate::filter::Filter;
use crate::group_top_n::GroupTopN;
use crate::join::Join;
use crate::operator::Operator;
use crate::pass_through::PassThrough;
use crate::project::Project;
use crate::row_errors::RowError;
use crate::state::StateTable;
use crate::top_n::TopN;
use crate::values::Values;
use crate::window::Window;

pub struct Dataflow {
    plan: StreamPlan,
    /// Rows left out since the last [`Dataflow::take_errors`].
    errors: Vec<RowError>,
    operators: Vec<Box<dyn Operator>>,
    /// For each node, the nodes it feeds and at which of their inputs.
    consumers: Vec<Vec<(NodeId, usize)>>,
}

impl Dataflow {
    /// Builds the operators of `plan` for the object `object_id`, with the state they
    /// stored as of `snapshot` (none for a new view).
    pub fn new(object_id: u32, plan: StreamPlan, snapshot: &ReadSnapshot) -> Result<Dataflow> {
        let mut consumers = vec![Vec::new(); plan.nodes.len()];
        let mut operators: Vec<Box<dyn Operator>> = Vec::with_capacity(plan.nodes.len());
        for node in &plan.nodes {
            for (index, input) in node.inputs.iter().enumerate() {
                consumers[usize::from(*input)].push((node.id, index));
            }
            let input_schema =
                |index: usize| plan.nodes[usize::from(node.inputs[index])].schema.clone();
            let output = Arc::new(node.schema.as_arrow().clone());
            let state = || StateTable::new(object_id, node.id);
            let operator: Box<dyn Operator> = match &node.kind {
                NodeKind::Source { .. } | NodeKind::Rename | NodeKind::Union => {
                    Box::new(PassThrough::new(output))
                }
                NodeKind::Project { exprs } => {
                    Box::new(Project::new(compile_all(exprs, &input_schema(0))?, output))
                }
                NodeKind::Filter { predicate } => {
                    Box::new(Filter::new(compile(predicate, &input_schema(0))?))
                }
                NodeKind::Values { rows } => Box::new(Values::new(rows.clone(), output)),
                NodeKind::Window { functions } => Box::new(Window::new(
                    functions,
                    &input_schema(0),
                    &node.schema,
                    state(),
                    snapshot,
                )?),
                NodeKind::GroupTopN {
                    partition,
                    order,
                    rank,
                    limit,
                } => Box::new(GroupTopN::new(
                    partition,
                    order,
                    *rank,
                    *limit,
                    &input_schema(0),
                    &node.schema,
                    state(),
                    snapshot,
                )?),
                NodeKind::TopN {
                    order,
                    offset,
                    limit,
                } => Box::new(TopN::new(
                    order,
                    *offset,
                    *limit,
                    &input_schema(0),
                    state(),
                    snapshot,
                )?),
                NodeKind::Aggregate { group, aggregates } => Box::new(Aggregate::new(
                    group,
                    aggregates,
                    &input_schema(0),
                    &node.schema,
                    state(),
                    snapshot,
                )?),
                NodeKind::Join {
                    join_type,
                    on,
                    filter,
                    null_equality,
                } => Box::new(Join::new(
                    *join_type,
                    on,
                    filter.as_ref(),
                    *null_equality,
                    &input_schema(0),
                    &input_schema(1),
                    &node.schema,
                    state(),
                    snapshot,
                )?),
            };
            operators.push(operator);
        }
        Ok(Dataflow {
            plan,
            errors: Vec::new(),
            operators,
            consumers,
        })
    }

    pub fn plan(&self) -> &StreamPlan {
        &self.plan
    }

    /// The columns of the view's rows.
    pub fn schema(&self) -> SchemaRef {
        Arc::new(self.plan.root().schema.as_arrow().clone())
    }

    /// The view's rows before any input: constant rows and aggregates without GROUP BY.
    pub fn initial(&mut self) -> Result<StreamChunk> {
        let mut out = Vec::new();
        for id in 0..self.operators.len() {
            if let Some(chunk) = self.operators[id].initial()? {
                self.flow(id as NodeId, chunk, &mut out)?;
            }
        }
        StreamChunk::concat(&self.schema(), &out)
    }

    /// The view's changes caused by `chunk`, a change of `relation`.
    pub fn push(&mut self, relation: &TableReference, chunk: &StreamChunk) -> Result<StreamChunk> {
        let sources: Vec<NodeId> = self
            .plan
            .nodes
            .iter()
            .filter(|node| matches!(&node.kind, NodeKind::Source { relation: r } if r == relation))
            .map(|node| node.id)
            .collect();
        let mut out = Vec::new();
        for source in sources {
            let entered = self.apply(source, 0, chunk)?;
            self.flow(source, entered, &mut out)?;
        }
        StreamChunk::concat(&self.schema(), &out)
    }

    /// Sends `chunk`, the output of `from`, to every operator it feeds, and on.
    fn flow(&mut self, from: NodeId, chunk: StreamChunk, out: &mut Vec<StreamChunk>) -> Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        if usize::from(from) == self.operators.len() - 1 {
            out.push(chunk.with_schema(self.schema())?);
        }
        for (consumer, input) in self.consumers[usize::from(from)].clone() {
            let produced = self.apply(consumer, input, &chunk)?;
            self.flow(consumer, produced, out)?;
        }
        Ok(())
    }

    fn apply(&mut self, node: NodeId, input: usize, chunk: &StreamChunk) -> Result<StreamChunk> {
        let mut errors = Vec::new();
        let out = self.operators[usize::from(node)].apply(input, chunk, &mut errors)?;
        self.errors
            .extend(errors.into_iter().map(|error| RowError { node, ..error }));
        Ok(out)
    }

    /// The rows operators left out because an expression failed on them.
    pub fn take_errors(&mut self) -> Vec<RowError> {
        std::mem::take(&mut self.errors)
    }

    /// Adds every operator's changed state to `write`.
    pub fn persist(&mut self, write: &mut EpochWrite) -> Result<()> {
        for operator in &mut self.operators {
            operator.persist(write)?;
        }
        Ok(())
    }
}
