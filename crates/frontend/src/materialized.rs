//! `CREATE MATERIALIZED VIEW`: planning a view's maintenance, backfilling it, and bringing
//! it back at start-up. Sinks are planned and backfilled the same way.
//!
//! A view's stored definition is its CREATE statement. Its query is planned by DataFusion,
//! optimized, and turned into a stream plan; creation runs the plan over the inputs'
//! current rows (the backfill) and commits the view's rows, its operators' state and its
//! catalog entry in one write, under the store's write lock so that no change slips
//! between the rows read and the view's first epoch. At start-up the same plan is made
//! again and its operators load their state.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::TableReference;
use datafusion::execution::context::{SessionContext, SessionState};
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder, col};
use datafusion::physical_plan::collect;
use datafusion::sql::sqlparser::ast::{CreateView, Query, Statement, ViewColumnDef};
use weir_catalog::{Catalog, DEFAULT_SCHEMA, ObjectKind};
use weir_common::{Interrupt, Result, StreamChunk, WeirError};
use weir_planner::{StreamPlan, plan_stream};
use weir_storage::{EpochWrite, MaterializedViewTable, ReadSnapshot, Store, ViewRows};

use crate::maintainer::{BackfillTarget, Maintainer, Output};
use crate::source_table::SourceTable;

/// A view's (or sink's) query planned for maintenance.
pub(crate) struct PlannedView {
    pub plan: StreamPlan,
    /// The plan DataFusion made of the query, before optimization.
    pub written: LogicalPlan,
    /// The columns of the query's changes.
    pub schema: SchemaRef,
}

/// Plans the maintenance of the materialized view created by `create`.
pub(crate) async fn plan_view(
    state: &SessionState,
    catalog: &Catalog,
    create: &CreateView,
) -> Result<PlannedView> {
    plan_query(state, catalog, &create.query, &create.columns).await
}

/// Plans the maintenance of `query`, its columns named `columns` if any are.
pub(crate) async fn plan_query(
    state: &SessionState,
    catalog: &Catalog,
    query: &Query,
    columns: &[ViewColumnDef],
) -> Result<PlannedView> {
    let statement = Statement::Query(Box::new(query.clone()));
    let mut written = state
        .statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(
            statement,
        )))
        .await?;
    if !columns.is_empty() {
        written = rename_columns(written, columns)?;
    }
    let optimized = state.optimize(&written)?;
    let mut plan = plan_stream(&written, &optimized)?;
    for node in &mut plan.nodes {
        if let weir_planner::NodeKind::Source { relation } = &mut node.kind {
            *relation = stored_relation(catalog, relation)?;
        }
    }
    let schema = Arc::new(optimized.schema().as_arrow().clone());
    Ok(PlannedView {
        plan,
        written,
        schema,
    })
}

/// `CREATE MATERIALIZED VIEW v (a, b) AS …` names the query's columns.
fn rename_columns(plan: LogicalPlan, columns: &[ViewColumnDef]) -> Result<LogicalPlan> {
    let fields = plan.schema().columns();
    if fields.len() != columns.len() {
        return Err(WeirError::new(
            weir_common::SqlState::SYNTAX_ERROR,
            format!(
                "CREATE MATERIALIZED VIEW names {} columns, but its query has {}",
                columns.len(),
                fields.len()
            ),
        ));
    }
    let renamed = fields
        .into_iter()
        .zip(columns)
        .map(|(field, name)| col(field).alias(name.name.value.clone()));
    Ok(LogicalPlanBuilder::from(plan).project(renamed)?.build()?)
}

/// The name under which changes of `relation` arrive: its schema made explicit. Only
/// tables, sources and materialized views have changes to follow.
fn stored_relation(catalog: &Catalog, relation: &TableReference) -> Result<TableReference> {
    let schema = relation.schema().unwrap_or(DEFAULT_SCHEMA);
    match catalog.lookup(schema, relation.table()) {
        Some(entry) if entry.kind != ObjectKind::View => {
            Ok(TableReference::partial(schema, relation.table()))
        }
        _ => Err(
            WeirError::not_supported(format!("reading {relation} in a materialized view"))
                .with_detail(
                    "Materialized views follow tables, sources and other materialized views.",
                ),
        ),
    }
}

/// Registers a stored materialized view at start-up and resumes its maintenance.
pub(crate) async fn resume(
    context: &SessionContext,
    store: &Arc<Store>,
    maintainer: &Maintainer,
    catalog: &Catalog,
    id: u32,
    reference: TableReference,
    create: &CreateView,
) -> Result<()> {
    let planned = plan_view(&context.state(), catalog, create).await?;
    let rows = Arc::new(ViewRows::try_new(id, planned.schema)?);
    let table =
        MaterializedViewTable::new(rows.clone(), store.clone(), reference.table().to_owned());
    context.register_table(reference.clone(), Arc::new(table))?;
    maintainer.resume(id, reference, planned.plan, Output::Rows(rows))
}

/// Computes a new view's rows (or a sink's first messages) and state from its inputs as
/// of `latest` into `write`; stops with the interrupt's error if `interrupt` is raised
/// before it is done.
pub(crate) async fn backfill(
    context: &SessionContext,
    maintainer: &Maintainer,
    target: BackfillTarget<'_>,
    latest: &ReadSnapshot,
    write: &mut EpochWrite,
    interrupt: &Interrupt,
) -> Result<weir_stream::Dataflow> {
    let mut state = context.state();
    state.config_mut().set_extension(Arc::new(latest.clone()));
    let mut inputs = Vec::new();
    for relation in target.plan.sources() {
        let provider = context.table_provider(relation.clone()).await?;
        // A source's records reach the view through its reader, from the startup offset.
        let provider_any: &dyn std::any::Any = provider.as_ref();
        if provider_any.is::<SourceTable>() {
            continue;
        }
        let scan = provider.scan(&state, None, &[], None).await?;
        let batches = interrupt
            .unless_raised(async { Ok(collect(scan, state.task_ctx()).await?) })
            .await?;
        let schema = provider.schema();
        let rows = datafusion::arrow::compute::concat_batches(&schema, &batches)?;
        inputs.push((relation.clone(), StreamChunk::inserts(rows)));
    }
    maintainer
        .backfill(target, inputs, latest, write, interrupt)
        .await
}
