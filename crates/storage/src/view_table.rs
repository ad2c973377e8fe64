//! A materialized view as DataFusion sees it: a read-only table whose scan reads the
//! view's rows from the statement's snapshot — or answers with the view's failure, if it
//! failed as of that snapshot (see `view_failure`).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use weir_common::WeirError;

use crate::store::Store;
use crate::view_failure::ViewFailure;
use crate::view_rows::ViewRows;

#[derive(Debug)]
pub struct MaterializedViewTable {
    rows: Arc<ViewRows>,
    store: Arc<Store>,
    /// The view's name, for its failure's message.
    name: String,
}

impl MaterializedViewTable {
    pub fn new(rows: Arc<ViewRows>, store: Arc<Store>, name: String) -> Self {
        MaterializedViewTable { rows, store, name }
    }
}

#[async_trait]
impl TableProvider for MaterializedViewTable {
    fn schema(&self) -> SchemaRef {
        self.rows.schema().clone()
    }

    fn table_type(&self) -> TableType {
        // Read like a table; psql tells it apart through weir's catalog.
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let snapshot = self.store.statement_snapshot(state);
        if let Some(failure) =
            ViewFailure::read(self.rows.id(), &snapshot).map_err(WeirError::into_datafusion)?
        {
            return Err(failure.reading_error(&self.name).into_datafusion());
        }
        let rows = self.rows.clone();
        let batches = tokio::task::spawn_blocking(move || rows.read(&snapshot))
            .await
            .map_err(|error| datafusion::error::DataFusionError::External(Box::new(error)))?
            .map_err(WeirError::into_datafusion)?;
        Ok(MemorySourceConfig::try_new_exec(
            &[batches],
            self.schema(),
            projection.cloned(),
        )?)
    }
}
