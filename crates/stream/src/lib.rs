//! The streaming runtime: incremental operators over [`weir_common::StreamChunk`]s,
//! assembled into a [`Dataflow`] per materialized view from its stream plan.
//!
//! Operators keep their state in memory and write what changed into the epoch's
//! RocksDB write (see `state`), so a restart loads the state instead of recomputing it,
//! and steady-state processing never reads RocksDB.

mod accumulator;
mod aggregate;
mod counted_rows;
mod dataflow;
mod expr;
mod filter;
mod float_sum;
mod group_top_n;
mod join;
mod operator;
mod ordered_values;
mod pass_through;
mod project;
mod row_errors;
mod state;
mod top_n;
mod values;
mod wide_sum;
mod window;

pub use dataflow::Dataflow;
pub use row_errors::RowError;
