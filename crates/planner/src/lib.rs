//! The streaming planner: a query's DataFusion `LogicalPlan` becomes a [`StreamPlan`], a
//! DAG of incremental operators that keep the query's answer up to date from changes to
//! its inputs.
//!
//! Planning is deterministic: the same query over the same catalog gives the same plan,
//! with the same node ids, so that operator state stored under those ids is found again
//! after a restart. A construct weir cannot maintain incrementally is refused with
//! SQLSTATE 0A000 naming it.

mod build;
mod explain;
mod grouping_sets;
mod plan;
mod scalar_subquery;
mod stream_key;

pub use build::plan_stream;
pub use plan::{NodeId, NodeKind, RankFunction, StreamNode, StreamPlan};
pub use stream_key::StreamKey;
