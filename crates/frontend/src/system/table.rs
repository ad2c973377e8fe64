//! A read-only table whose rows are computed from the statement's snapshot at scan time.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::Session;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use weir_storage::{ReadSnapshot, Store};

/// Computes a system table's rows as of a snapshot.
pub(crate) type Rows =
    Box<dyn Fn(&ReadSnapshot, &SchemaRef) -> weir_common::Result<RecordBatch> + Send + Sync>;

pub(crate) struct SystemTable {
    name: &'static str,
    schema: SchemaRef,
    rows: Rows,
    store: Arc<Store>,
}

impl std::fmt::Debug for SystemTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemTable")
            .field("name", &self.name)
            .finish()
    }
}

impl SystemTable {
    pub fn new(name: &'static str, schema: SchemaRef, rows: Rows, store: Arc<Store>) -> Self {
        SystemTable {
            name,
            schema,
            rows,
            store,
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }
}

#[async_trait]
impl TableProvider for SystemTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let snapshot = self.store.statement_snapshot(state);
        let batch = (self.rows)(&snapshot, &self.schema)
            .map_err(weir_common::WeirError::into_datafusion)?;
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            self.schema.clone(),
            projection.cloned(),
        )?)
    }
}
