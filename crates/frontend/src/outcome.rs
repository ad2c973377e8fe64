//! What running a statement produces, for the protocol layer to send.

use std::collections::HashMap;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::LogicalPlan;
use datafusion::logical_expr::{Cast, Expr};
use weir_sql::ParsedStatement;

use crate::copy_format::CopyFormat;

pub enum Outcome {
    /// A result set; `tag` names the command in the completion message (`SELECT`).
    Rows {
        schema: SchemaRef,
        stream: SendableRecordBatchStream,
    },
    /// A command without a result set: its tag (`CREATE TABLE`, `INSERT`, `UPDATE`…) and,
    /// for commands that count rows, how many.
    Command { tag: String, rows: Option<usize> },
    /// `COPY … FROM STDIN` is ready for `columns` columns of data in `format`.
    CopyIn { columns: usize, format: CopyFormat },
    /// `COPY … TO STDOUT`: these rows, to be sent in `format`.
    CopyOut {
        schema: SchemaRef,
        stream: SendableRecordBatchStream,
        format: CopyFormat,
    },
}

impl Outcome {
    pub fn command(tag: impl Into<String>) -> Outcome {
        Outcome::Command {
            tag: tag.into(),
            rows: None,
        }
    }

    pub fn counted(tag: impl Into<String>, rows: usize) -> Outcome {
        Outcome::Command {
            tag: tag.into(),
            rows: Some(rows),
        }
    }
}

/// A statement parsed once and run many times with different parameters (the extended
/// query protocol's prepared statement).
#[derive(Clone, Debug)]
pub struct Prepared {
    pub sql: String,
    pub statement: ParsedStatement,
    /// The plan DataFusion made at preparation, for queries and DML; it tells the client
    /// the parameter types. Queries run it while the catalog is unchanged; DML and
    /// queries after DDL plan again, so that they see tables as they are when they run.
    pub plan: Option<LogicalPlan>,
    /// The columns the statement returns, if it returns rows.
    pub result_schema: Option<SchemaRef>,
    /// The database's catalog version when the statement was planned.
    pub catalog_version: u64,
}

impl Prepared {
    /// The type of each `$n` parameter, by position, where it is known: inferred by
    /// DataFusion from how the parameter is used, or declared with a cast (`$1::int`) as
    /// PostgreSQL allows.
    pub fn parameter_types(&self) -> Vec<Option<DataType>> {
        let Some(plan) = &self.plan else {
            return vec![];
        };
        let mut types: HashMap<String, Option<DataType>> =
            plan.get_parameter_types().unwrap_or_default();
        let _ = plan.apply_with_subqueries(|node| {
            node.apply_expressions(|expr| {
                expr.apply(|e| {
                    if let Expr::Cast(Cast { expr, field }) = e
                        && let Expr::Placeholder(placeholder) = expr.as_ref()
                    {
                        let known = types.entry(placeholder.id.clone()).or_default();
                        known.get_or_insert_with(|| field.data_type().clone());
                    }
                    Ok(TreeNodeRecursion::Continue)
                })
            })
        });
        let mut positional: Vec<(usize, Option<DataType>)> = types
            .into_iter()
            .filter_map(|(name, data_type)| {
                let position: usize = name.trim_start_matches('$').parse().ok()?;
                Some((position, data_type))
            })
            .collect();
        positional.sort_by_key(|(position, _)| *position);
        let count = positional.last().map_or(0, |(position, _)| *position);
        let mut result = vec![None; count];
        for (position, data_type) in positional {
            if position > 0 {
                result[position - 1] = data_type;
            }
        }
        result
    }
}
