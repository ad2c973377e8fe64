//! Stream keys: for each operator, output columns no two of its rows share the values of.
//!
//! A source's key is its table's primary key; GROUP BY (and DISTINCT) columns key an
//! aggregation, and a global aggregate has the empty key (at most one row); a join's key
//! is its inputs' keys together (a semi or anti join keeps its kept side's); filters,
//! renames, top-Ns and window functions keep their input's key, and a projection keeps it when it passes
//! the key columns through unchanged. Without a key (`None`) equal rows may repeat, and
//! the operators keep such rows with a count.

use datafusion::common::Dependency;
use datafusion::logical_expr::{Expr, JoinType};

use crate::plan::{NodeKind, StreamNode, StreamPlan};

/// Column indices into a node's output.
pub type StreamKey = Vec<usize>;

impl StreamPlan {
    /// The stream key of every node, indexed by node id.
    pub fn stream_keys(&self) -> Vec<Option<StreamKey>> {
        let mut keys: Vec<Option<StreamKey>> = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            let input = |i: usize| keys[usize::from(node.inputs[i])].clone();
            let key = match &node.kind {
                NodeKind::Source { .. } => primary_key(node),
                NodeKind::Filter { .. }
                | NodeKind::Rename
                | NodeKind::TopN { .. }
                | NodeKind::GroupTopN { .. }
                | NodeKind::Window { .. } => input(0),
                NodeKind::Project { exprs } => {
                    let from = &self.nodes[usize::from(node.inputs[0])];
                    input(0).and_then(|key| passed_through(&key, from, exprs))
                }
                NodeKind::Aggregate { group, .. } => Some((0..group.len()).collect()),
                NodeKind::Join { join_type, .. } => {
                    let left_width = self.nodes[usize::from(node.inputs[0])]
                        .schema
                        .fields()
                        .len();
                    join_key(*join_type, input(0), input(1), left_width)
                }
                NodeKind::Union | NodeKind::Values { .. } => None,
            };
            keys.push(key);
        }
        keys
    }
}

/// The fewest columns a primary key of the source's table determines the row by.
fn primary_key(node: &StreamNode) -> Option<StreamKey> {
    let columns = node.schema.fields().len();
    node.schema
        .functional_dependencies()
        .iter()
        .filter(|dependency| {
            dependency.mode == Dependency::Single
                && !dependency.nullable
                && dependency.target_indices.len() == columns
        })
        .map(|dependency| dependency.source_indices.clone())
        .min_by_key(Vec::len)
}

/// The input key's positions among `exprs`, if each key column is output as it is.
fn passed_through(key: &[usize], input: &StreamNode, exprs: &[Expr]) -> Option<StreamKey> {
    key.iter()
        .map(|&column| {
            let (qualifier, field) = input.schema.qualified_field(column);
            exprs.iter().position(|expr| match expr.clone().unalias() {
                Expr::Column(c) => c.name == *field.name() && c.relation.as_ref() == qualifier,
                _ => false,
            })
        })
        .collect()
}

fn join_key(
    join_type: JoinType,
    left: Option<StreamKey>,
    right: Option<StreamKey>,
    left_width: usize,
) -> Option<StreamKey> {
    match join_type {
        JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark => left,
        JoinType::RightSemi | JoinType::RightAnti | JoinType::RightMark => right,
        JoinType::Inner | JoinType::Left | JoinType::Right | JoinType::Full => {
            let (left, right) = (left?, right?);
            Some(
                left.into_iter()
                    .chain(right.into_iter().map(|column| column + left_width))
                    .collect(),
            )
        }
    }
}
