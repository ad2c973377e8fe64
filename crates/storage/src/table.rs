//! A user table stored in RocksDB, as DataFusion sees it: scans read a snapshot, and
//! `INSERT`, `UPDATE`, `DELETE` and `TRUNCATE` become one atomic write each.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::{Column, Constraints, DFSchema};
use datafusion::datasource::sink::DataSinkExec;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::expr_rewriter::unnormalize_col;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, ExprSchemable, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::streaming::StreamingTableExec;
use weir_common::WeirError;

use crate::row_codec::RowCodec;
use crate::scan::{KeyRange, ROW_KEY_COLUMN, TableScan, schema_with_row_key};
use crate::snapshot::ReadSnapshot;
use crate::store::Store;
use crate::table_sink::{SinkMode, TableSink};

/// What storage needs to know about a table; the catalog derives it from the table's DDL.
#[derive(Clone, Debug)]
pub struct TableDescriptor {
    pub id: u32,
    pub name: String,
    pub schema: SchemaRef,
    /// Primary-key column indices in key order; empty when the table has none.
    pub key_columns: Vec<usize>,
    pub constraints: Constraints,
    pub column_defaults: HashMap<String, Expr>,
}

#[derive(Debug)]
pub struct StoredTable {
    pub(crate) descriptor: TableDescriptor,
    pub(crate) codec: Arc<RowCodec>,
    pub(crate) store: Arc<Store>,
}

impl StoredTable {
    pub fn try_new(descriptor: TableDescriptor, store: Arc<Store>) -> weir_common::Result<Self> {
        let codec = RowCodec::try_new(descriptor.schema.clone(), descriptor.key_columns.clone())?;
        Ok(StoredTable {
            descriptor,
            codec: Arc::new(codec),
            store,
        })
    }

    pub fn descriptor(&self) -> &TableDescriptor {
        &self.descriptor
    }

    fn scan_plan(
        &self,
        snapshot: ReadSnapshot,
        filters: &[Expr],
        projection: Option<&Vec<usize>>,
        limit: Option<usize>,
        with_row_key: bool,
    ) -> Result<Arc<StreamingTableExec>> {
        let schema = if with_row_key {
            schema_with_row_key(&self.descriptor.schema)
        } else {
            self.descriptor.schema.clone()
        };
        let scan = TableScan {
            snapshot,
            codec: self.codec.clone(),
            range: KeyRange::for_filters(self.descriptor.id, &self.codec, filters),
            with_row_key,
            schema: schema.clone(),
            limit,
        };
        Ok(Arc::new(StreamingTableExec::try_new(
            schema,
            vec![Arc::new(scan)],
            projection,
            [],
            false,
            limit,
        )?))
    }

    /// The rows an UPDATE or DELETE touches, with their storage keys, read from the latest
    /// committed epoch: `filters` decide which.
    fn rows_to_change(
        &self,
        state: &dyn Session,
        filters: Vec<Expr>,
    ) -> Result<(Arc<dyn ExecutionPlan>, Arc<DFSchema>)> {
        let schema = schema_with_row_key(&self.descriptor.schema);
        let df_schema = Arc::new(DFSchema::try_from(schema.as_ref().clone())?);
        let scan = self.scan_plan(self.store.snapshot(), &filters, None, None, true)?;
        let plan: Arc<dyn ExecutionPlan> = match conjunction(filters) {
            Some(predicate) => {
                let predicate = state.create_physical_expr(unqualify(predicate), &df_schema)?;
                Arc::new(FilterExec::try_new(predicate, scan)?)
            }
            None => scan,
        };
        Ok((plan, df_schema))
    }

    fn sink(&self, input: Arc<dyn ExecutionPlan>, mode: SinkMode) -> Arc<dyn ExecutionPlan> {
        let sink = TableSink::new(self, input.schema(), mode);
        Arc::new(DataSinkExec::new(input, Arc::new(sink), None))
    }
}

/// DataFusion qualifies columns with the table name in DML filters and assignments; the
/// plans built here address the table's own schema, which has no qualifier.
fn unqualify(expr: Expr) -> Expr {
    unnormalize_col(expr)
}

#[async_trait]
impl TableProvider for StoredTable {
    fn schema(&self) -> SchemaRef {
        self.descriptor.schema.clone()
    }

    fn constraints(&self) -> Option<&Constraints> {
        Some(&self.descriptor.constraints)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn get_column_default(&self, column: &str) -> Option<&Expr> {
        self.descriptor.column_defaults.get(column)
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = self.scan_plan(
            self.store.statement_snapshot(state),
            filters,
            projection,
            limit,
            false,
        )?;
        Ok(plan)
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if insert_op != InsertOp::Append {
            return Err(WeirError::not_supported(format!("INSERT {insert_op}")).into_datafusion());
        }
        Ok(self.sink(input, SinkMode::Insert))
    }

    async fn delete_from(
        &self,
        state: &dyn Session,
        filters: Vec<Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (rows, _) = self.rows_to_change(state, filters)?;
        let key_index = rows.schema().fields().len() - 1;
        let keys_only = ProjectionExec::try_new(
            vec![(
                Arc::new(datafusion::physical_expr::expressions::Column::new(
                    ROW_KEY_COLUMN,
                    key_index,
                )) as Arc<dyn PhysicalExpr>,
                ROW_KEY_COLUMN.to_owned(),
            )],
            rows,
        )?;
        Ok(self.sink(Arc::new(keys_only), SinkMode::Delete))
    }

    async fn update(
        &self,
        state: &dyn Session,
        assignments: Vec<(String, Expr)>,
        filters: Vec<Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (rows, df_schema) = self.rows_to_change(state, filters)?;
        let assignments: HashMap<String, Expr> = assignments.into_iter().collect();
        let mut exprs: Vec<(Arc<dyn PhysicalExpr>, String)> = Vec::new();
        for field in df_schema.fields() {
            let name = field.name();
            let expr = match assignments.get(name) {
                Some(expr) => unqualify(expr.clone()).cast_to(field.data_type(), &df_schema)?,
                None => Expr::Column(Column::new_unqualified(name)),
            };
            exprs.push((state.create_physical_expr(expr, &df_schema)?, name.clone()));
        }
        let new_rows = ProjectionExec::try_new(exprs, rows)?;
        Ok(self.sink(Arc::new(new_rows), SinkMode::Update))
    }

    async fn truncate(&self, state: &dyn Session) -> Result<Arc<dyn ExecutionPlan>> {
        self.delete_from(state, vec![]).await
    }
}
