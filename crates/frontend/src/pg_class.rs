//! `pg_catalog.pg_class` with `relkind = 'm'` for materialized views, so that psql's
//! `\dm` lists them and `\d view` calls them what they are.
//!
//! datafusion-pg-catalog derives `relkind` from DataFusion's `TableType`, which has no
//! materialized kind, so this module wraps its `pg_catalog` schema: every table but
//! `pg_class` is passed through, and `pg_class` is read in full (it is small) and its
//! `relkind` rewritten for the relations whose provider is a [`MaterializedViewTable`].

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{Int32Type, SchemaRef};
use datafusion::catalog::{CatalogProviderList, SchemaProvider, Session};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::{ExecutionPlan, collect};
use weir_storage::MaterializedViewTable;

const PG_CATALOG: &str = "pg_catalog";

/// Replaces the `pg_catalog` schema of `catalog` with one whose `pg_class` knows
/// materialized views.
pub fn install(catalogs: &Arc<dyn CatalogProviderList>, catalog: &str) -> Result<()> {
    let database = catalogs
        .catalog(catalog)
        .ok_or_else(|| DataFusionError::Plan(format!("no catalog {catalog}")))?;
    let inner = database
        .schema(PG_CATALOG)
        .ok_or_else(|| DataFusionError::Plan("pg_catalog is not installed".into()))?;
    database.register_schema(
        PG_CATALOG,
        Arc::new(PgCatalog {
            inner,
            catalogs: catalogs.clone(),
        }),
    )?;
    Ok(())
}

#[derive(Debug)]
struct PgCatalog {
    inner: Arc<dyn SchemaProvider>,
    catalogs: Arc<dyn CatalogProviderList>,
}

#[async_trait]
impl SchemaProvider for PgCatalog {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some(table) = self.inner.table(name).await? else {
            return Ok(None);
        };
        if !name.eq_ignore_ascii_case("pg_class") {
            return Ok(Some(table));
        }
        let namespaces = self.inner.table("pg_namespace").await?;
        Ok(Some(Arc::new(PgClass {
            inner: table,
            namespaces,
            catalogs: self.catalogs.clone(),
        })))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

#[derive(Debug)]
struct PgClass {
    inner: Arc<dyn TableProvider>,
    namespaces: Option<Arc<dyn TableProvider>>,
    catalogs: Arc<dyn CatalogProviderList>,
}

#[async_trait]
impl TableProvider for PgClass {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let classes = read_all(self.inner.as_ref(), state).await?;
        let materialized = self.materialized_views(state).await?;
        let batches = classes
            .iter()
            .map(|batch| mark_materialized(batch, &materialized))
            .collect::<Result<Vec<_>>>()?;
        Ok(MemorySourceConfig::try_new_exec(
            &[batches],
            self.schema(),
            projection.cloned(),
        )?)
    }
}

impl PgClass {
    /// `(namespace oid, relation name)` of every materialized view.
    async fn materialized_views(&self, state: &dyn Session) -> Result<HashSet<(i32, String)>> {
        let Some(namespaces) = &self.namespaces else {
            return Ok(HashSet::new());
        };
        let mut views = HashSet::new();
        for batch in read_all(namespaces.as_ref(), state).await? {
            let oids = column(&batch, "oid")?.as_primitive::<Int32Type>().clone();
            let names = column(&batch, "nspname")?.as_string::<i32>().clone();
            for row in 0..batch.num_rows() {
                for name in self.materialized_in(names.value(row)).await? {
                    views.insert((oids.value(row), name));
                }
            }
        }
        Ok(views)
    }

    async fn materialized_in(&self, schema_name: &str) -> Result<Vec<String>> {
        let mut views = Vec::new();
        for catalog in self.catalogs.catalog_names() {
            let Some(schema) = self
                .catalogs
                .catalog(&catalog)
                .and_then(|catalog| catalog.schema(schema_name))
            else {
                continue;
            };
            for name in schema.table_names() {
                let table = schema.table(&name).await?;
                if table.is_some_and(|table| table.is::<MaterializedViewTable>()) {
                    views.push(name);
                }
            }
        }
        Ok(views)
    }
}

async fn read_all(table: &dyn TableProvider, state: &dyn Session) -> Result<Vec<RecordBatch>> {
    let plan = table.scan(state, None, &[], None).await?;
    collect(plan, state.task_ctx()).await
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a Arc<dyn Array>> {
    batch
        .column_by_name(name)
        .ok_or_else(|| DataFusionError::Plan(format!("pg_catalog has no column {name}")))
}

fn mark_materialized(
    batch: &RecordBatch,
    materialized: &HashSet<(i32, String)>,
) -> Result<RecordBatch> {
    let namespaces = column(batch, "relnamespace")?.as_primitive::<Int32Type>();
    let names = column(batch, "relname")?.as_string::<i32>();
    let kinds = column(batch, "relkind")?.as_string::<i32>();
    let marked: StringArray = (0..batch.num_rows())
        .map(|row| {
            let key = (namespaces.value(row), names.value(row).to_string());
            Some(if materialized.contains(&key) {
                "m"
            } else {
                kinds.value(row)
            })
        })
        .collect();
    let index = batch.schema().index_of("relkind")?;
    let mut columns = batch.columns().to_vec();
    columns[index] = Arc::new(marked);
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}
