//! The operators of a stream plan and how they connect.

use datafusion::common::{DFSchemaRef, NullEquality, TableReference};
use datafusion::logical_expr::{Expr, JoinType, SortExpr};

/// A node's position in [`StreamPlan::nodes`]; also names its state.
pub type NodeId = u16;

/// A DAG of operators in topological order: every node comes after its inputs, and the
/// last node is the root, whose output is the view's change stream.
#[derive(Clone, Debug)]
pub struct StreamPlan {
    pub nodes: Vec<StreamNode>,
}

impl StreamPlan {
    pub fn root(&self) -> &StreamNode {
        self.nodes.last().expect("a stream plan has a root")
    }

    /// The relations whose changes feed the plan, each once, in first-use order.
    pub fn sources(&self) -> Vec<&TableReference> {
        let mut sources: Vec<&TableReference> = Vec::new();
        for node in &self.nodes {
            if let NodeKind::Source { relation } = &node.kind
                && !sources.contains(&relation)
            {
                sources.push(relation);
            }
        }
        sources
    }

    /// Whether the plan's output only ever inserts rows, given whether each relation it
    /// reads does. Projections, filters, unions and inner joins of inputs that never
    /// retract never retract; aggregates, outer joins, top-N and windows revise what they
    /// sent.
    pub fn is_append_only(
        &self,
        relation_is_append_only: &dyn Fn(&TableReference) -> bool,
    ) -> bool {
        let mut append_only: Vec<bool> = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            let inputs = node.inputs.iter().all(|input| append_only[*input as usize]);
            append_only.push(match &node.kind {
                NodeKind::Source { relation } => relation_is_append_only(relation),
                NodeKind::Rename
                | NodeKind::Project { .. }
                | NodeKind::Filter { .. }
                | NodeKind::Union
                | NodeKind::Values { .. } => inputs,
                NodeKind::Join { join_type, .. } => inputs && *join_type == JoinType::Inner,
                NodeKind::Aggregate { .. }
                | NodeKind::GroupTopN { .. }
                | NodeKind::TopN { .. }
                | NodeKind::Window { .. } => false,
            });
        }
        append_only.last().copied().unwrap_or(true)
    }
}

/// How a group top-N numbers the rows of a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RankFunction {
    /// 1, 2, 3, … whatever the ties.
    RowNumber,
    /// Ties share a rank, and leave a gap after them: 1, 1, 3.
    Rank,
    /// Ties share a rank, without gaps: 1, 1, 2.
    DenseRank,
}

#[derive(Clone, Debug)]
pub struct StreamNode {
    pub id: NodeId,
    pub kind: NodeKind,
    pub inputs: Vec<NodeId>,
    /// The node's output columns, as the expressions of the nodes it feeds name them.
    pub schema: DFSchemaRef,
}

impl StreamNode {
    /// Whether the operator keeps state between chunks.
    pub fn is_stateful(&self) -> bool {
        matches!(
            self.kind,
            NodeKind::Aggregate { .. }
                | NodeKind::Join { .. }
                | NodeKind::TopN { .. }
                | NodeKind::GroupTopN { .. }
                | NodeKind::Window { .. }
        )
    }
}

#[derive(Clone, Debug)]
pub enum NodeKind {
    /// The changes of a stored table or materialized view.
    Source { relation: TableReference },
    /// The input's rows under other column names (a subquery or CTE alias).
    Rename,
    /// One expression per output column, over the input's columns.
    Project { exprs: Vec<Expr> },
    /// The input's rows for which `predicate` is true.
    Filter { predicate: Expr },
    /// `GROUP BY group` computing `aggregates`; output columns are the group columns
    /// then one per aggregate. With no group columns it has exactly one output row.
    Aggregate {
        group: Vec<Expr>,
        aggregates: Vec<Expr>,
    },
    /// Rows of the left input (first) paired with rows of the right input (second)
    /// whose `on` keys are equal and for which `filter` holds, as `join_type` says. With
    /// no `on` keys every pair is a candidate (a cross join).
    Join {
        join_type: JoinType,
        on: Vec<(Expr, Expr)>,
        filter: Option<Expr>,
        null_equality: NullEquality,
    },
    /// All inputs' rows (UNION ALL).
    Union,
    /// Per partition, the rows whose `rank` in `order` is at most `limit`, each with that
    /// rank as an extra last column (`row_number()`, `rank()` or `dense_rank()` OVER
    /// (PARTITION BY … ORDER BY …) filtered by `<= limit`).
    GroupTopN {
        partition: Vec<Expr>,
        order: Vec<SortExpr>,
        rank: RankFunction,
        limit: u64,
    },
    /// The rows `offset + 1` to `offset + limit` of the input in `order` (ties broken by
    /// the rows' values, so the answer is always the same).
    TopN {
        order: Vec<SortExpr>,
        offset: usize,
        limit: usize,
    },
    /// The input's rows, each with one more column per window function (`… OVER (…)`).
    Window { functions: Vec<Expr> },
    /// Constant rows, inserted once when the view is created.
    Values { rows: Vec<Vec<Expr>> },
}
