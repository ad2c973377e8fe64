//! A Kafka source as a relation: its columns, for planning the materialized views that
//! read it. It stores no rows, so scanning it is an error that says what to do instead.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use weir_common::{SqlState, WeirError};

#[derive(Debug)]
pub(crate) struct SourceTable {
    name: String,
    schema: SchemaRef,
}

impl SourceTable {
    pub fn new(name: String, schema: SchemaRef) -> SourceTable {
        SourceTable { name, schema }
    }
}

#[async_trait]
impl TableProvider for SourceTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Err(WeirError::new(
            SqlState::FEATURE_NOT_SUPPORTED,
            format!("source \"{}\" stores no rows to query", self.name),
        )
        .with_hint(format!(
            "Create a materialized view over it (CREATE MATERIALIZED VIEW v AS SELECT * FROM {}) and query that.",
            self.name
        ))
        .into_datafusion())
    }
}
