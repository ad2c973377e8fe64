//! The text of `EXPLAIN` for a stream plan: one line per operator, inputs indented below
//! the operator they feed, with each operator's stream key and state.
//!
//! The stream key is printed as `key [columns]`; `key [all columns, counted]` says the
//! operator's output has no key, so equal rows may repeat and are kept with a count.

use std::fmt::Write;

use crate::plan::{NodeId, NodeKind, StreamNode, StreamPlan};
use crate::stream_key::StreamKey;

impl StreamPlan {
    /// One line per operator, from the root down; a node shared by several users is
    /// printed in full once and referred to by id afterwards.
    pub fn explain(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let mut printed = vec![false; self.nodes.len()];
        let keys = self.stream_keys();
        self.explain_node(self.root().id, 0, &keys, &mut printed, &mut lines);
        lines
    }

    fn explain_node(
        &self,
        id: NodeId,
        depth: usize,
        keys: &[Option<StreamKey>],
        printed: &mut [bool],
        lines: &mut Vec<String>,
    ) {
        let node = &self.nodes[usize::from(id)];
        let indent = "  ".repeat(depth);
        if printed[usize::from(id)] {
            lines.push(format!("{indent}(shared #{id})"));
            return;
        }
        printed[usize::from(id)] = true;
        let key = &keys[usize::from(id)];
        lines.push(format!("{indent}#{id} {}", describe(node, key.as_deref())));
        for input in &node.inputs {
            self.explain_node(*input, depth + 1, keys, printed, lines);
        }
    }
}

fn describe(node: &StreamNode, key: Option<&[usize]>) -> String {
    let mut text = match &node.kind {
        NodeKind::Source { relation } => format!("Source {relation}"),
        NodeKind::Rename => format!("Rename as {}", qualifiers(node)),
        NodeKind::Project { exprs } => format!("Project {}", list(exprs)),
        NodeKind::Filter { predicate } => format!("Filter {predicate}"),
        NodeKind::Aggregate { group, aggregates } => {
            format!(
                "Aggregate group by [{}] compute [{}]",
                list(group),
                list(aggregates)
            )
        }
        NodeKind::Join {
            join_type,
            on,
            filter,
            ..
        } => {
            let keys: Vec<String> = on.iter().map(|(l, r)| format!("{l} = {r}")).collect();
            let mut text = format!("{join_type} Join on [{}]", keys.join(", "));
            if let Some(filter) = filter {
                let _ = write!(text, " filter {filter}");
            }
            text
        }
        NodeKind::Union => "Union All".to_owned(),
        NodeKind::GroupTopN {
            partition,
            order,
            rank,
            limit,
        } => {
            let order: Vec<String> = order.iter().map(ToString::to_string).collect();
            format!(
                "GroupTopN {rank:?} <= {limit} partition by [{}] order by [{}]",
                list(partition),
                order.join(", ")
            )
        }
        NodeKind::TopN {
            order,
            offset,
            limit,
        } => {
            let order: Vec<String> = order.iter().map(ToString::to_string).collect();
            format!(
                "TopN order by [{}] offset {offset} limit {limit}",
                order.join(", ")
            )
        }
        NodeKind::Values { rows } => format!("Values ({} rows)", rows.len()),
        NodeKind::Window { functions } => format!("Window {}", list(functions)),
    };
    match key {
        Some(key) => {
            let names: Vec<String> = key
                .iter()
                .map(|&column| match node.schema.qualified_field(column) {
                    (Some(qualifier), field) => format!("{qualifier}.{}", field.name()),
                    (None, field) => field.name().clone(),
                })
                .collect();
            let _ = write!(text, " key [{}]", names.join(", "));
        }
        None => text.push_str(" key [all columns, counted]"),
    }
    if node.is_stateful() {
        let _ = write!(text, " [state #{}]", node.id);
    }
    text
}

fn list(exprs: &[datafusion::logical_expr::Expr]) -> String {
    exprs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn qualifiers(node: &StreamNode) -> String {
    node.schema
        .iter()
        .next()
        .and_then(|(qualifier, _)| qualifier.map(ToString::to_string))
        .unwrap_or_default()
}
