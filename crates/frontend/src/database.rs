//! The state every session shares: storage, the catalog, and the DataFusion context in
//! which weir's tables and views are registered.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use datafusion::execution::FunctionRegistry;
use datafusion::execution::context::SessionContext;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::SessionConfig;
use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use futures::future::BoxFuture;
use tokio::sync::{Mutex, MutexGuard};
use weir_catalog::{Catalog, CatalogEntry, DATABASE_NAME, DEFAULT_SCHEMA};
use weir_common::{Interrupt, Result, WeirError};
use weir_storage::{ReadSnapshot, Store, keys};

use crate::connector_access::ConnectorAccess;
use crate::executor::QueryExecutor;
use crate::maintainer::Maintainer;
use crate::pg_class;
use crate::query_memory::QueryMemory;
use crate::type_planner::WeirTypePlanner;
use crate::{
    barrier, coalesce, ddl, functions, json_operators, length_limits, pg_aggregates, pg_datetime,
    pg_extract, pg_numbers, pg_order, pg_typeof, short_circuit, system, text_input, text_output,
};

pub struct Database {
    store: Arc<Store>,
    /// Held for the whole of a DDL statement, so catalog changes apply one at a time.
    catalog: Mutex<Catalog>,
    /// Counts catalog changes, so that plans made before one are not reused after it.
    catalog_version: AtomicU64,
    maintainer: Arc<Maintainer>,
    context: SessionContext,
    connector_access: ConnectorAccess,
    executor: Arc<QueryExecutor>,
    query_memory: Arc<QueryMemory>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("store", &self.store)
            .finish()
    }
}

/// How a database runs, as the server's command line sets it.
#[derive(Clone, Debug)]
pub struct DatabaseOptions {
    /// How often a barrier applies deferred changes and what sources have read.
    pub barrier_interval: Duration,
    /// How many records `weir_catalog.source_dead_letters` keeps; older ones are dropped.
    pub max_dead_letters: u64,
    /// Who may create connectors, and what they may reach.
    pub connector_access: ConnectorAccess,
    /// The threads statements and barriers run on (see [`QueryExecutor`]).
    pub query_threads: usize,
    /// The memory running statements may hold, together and each (see [`QueryMemory`]).
    pub query_memory: Arc<QueryMemory>,
}

impl Database {
    /// Opens the database in `data_dir`, creating it if it does not exist, registers
    /// every stored table and view again, and starts the query executor and on it the
    /// barrier coordinator, which applies deferred view maintenance every
    /// `options.barrier_interval`.
    ///
    /// A boxed future, built here: an async function's body is compiled again in every
    /// crate that awaits it, and this one holds the recovery of every view.
    #[inline(never)]
    pub fn open<'a>(
        data_dir: &'a Path,
        options: &'a DatabaseOptions,
    ) -> BoxFuture<'a, Result<Arc<Database>>> {
        Box::pin(Self::open_unboxed(data_dir, options))
    }

    async fn open_unboxed(data_dir: &Path, options: &DatabaseOptions) -> Result<Arc<Database>> {
        let executor = Arc::new(QueryExecutor::new(options.query_threads)?);
        let store = Arc::new(Store::open(data_dir)?);
        let catalog = Catalog::from_entries(catalog_entries(&store.snapshot())?);
        let context = base_context()?;
        let maintainer = Maintainer::new(store.clone(), options.max_dead_letters)?;
        system::register(&context, &store, Arc::downgrade(&maintainer))?;
        for entry in catalog.entries() {
            ddl::register(&context, &store, &maintainer, &catalog, entry).await?;
        }
        let observer: Arc<dyn weir_storage::ChangeObserver> = maintainer.clone();
        store.set_observer(&observer);
        barrier::spawn(
            &executor,
            Arc::downgrade(&maintainer),
            options.barrier_interval,
        );
        tracing::info!(
            objects = catalog.entries().count(),
            epoch = store.committed_epoch(),
            "database opened"
        );
        Ok(Arc::new(Database {
            store,
            catalog: Mutex::new(catalog),
            catalog_version: AtomicU64::new(0),
            maintainer,
            context,
            connector_access: options.connector_access.clone(),
            executor,
            query_memory: options.query_memory.clone(),
        }))
    }

    /// Prepares for the process to end once no statement runs: applies deferred view
    /// maintenance and writes RocksDB's memtables to disk, so the next start is quick.
    /// (Boxed, as [`Database::open`] is.)
    #[inline(never)]
    pub fn shutdown(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.shutdown_unboxed())
    }

    async fn shutdown_unboxed(&self) -> Result<()> {
        let nobody_interrupts = Interrupt::new();
        self.maintainer.flush(&nobody_interrupts).await?;
        let _writer = self.store.lock_writes(&nobody_interrupts).await?;
        self.store.flush_to_disk()
    }

    /// The threads statements run on.
    pub fn executor(&self) -> &Arc<QueryExecutor> {
        &self.executor
    }

    pub(crate) fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub(crate) fn context(&self) -> &SessionContext {
        &self.context
    }

    /// The catalog, once no other DDL holds it, unless `interrupt` is raised first.
    pub(crate) async fn lock_catalog(
        &self,
        interrupt: &Interrupt,
    ) -> Result<MutexGuard<'_, Catalog>> {
        interrupt
            .unless_raised(async { Ok(self.catalog.lock().await) })
            .await
    }

    pub(crate) fn query_memory(&self) -> &Arc<QueryMemory> {
        &self.query_memory
    }

    pub(crate) fn connector_access(&self) -> &ConnectorAccess {
        &self.connector_access
    }

    pub(crate) fn maintainer(&self) -> &Maintainer {
        &self.maintainer
    }

    pub(crate) fn catalog_version(&self) -> u64 {
        self.catalog_version.load(Ordering::Acquire)
    }

    /// Records that the catalog changed (or may have: failed DDL counts too).
    pub(crate) fn catalog_changed(&self) {
        self.catalog_version.fetch_add(1, Ordering::AcqRel);
    }
}

/// The catalog as of `snapshot`, in creation order.
pub(crate) fn catalog_entries(snapshot: &ReadSnapshot) -> Result<Vec<CatalogEntry>> {
    let (start, end) = keys::catalog_range();
    let mut entries = Vec::new();
    let mut failure = None;
    snapshot.scan(&start, Some(&end), |_, value| {
        match CatalogEntry::decode(value) {
            Ok(entry) => entries.push(entry),
            Err(error) => failure = Some(error),
        }
        failure.is_none()
    })?;
    match failure {
        Some(error) => Err(error),
        None => Ok(entries),
    }
}

/// The DataFusion context sessions are cloned from: PostgreSQL dialect, the `weir`
/// database with its `public` schema, `information_schema`, and the `pg_catalog`
/// relations and functions clients query.
fn base_context() -> Result<SessionContext> {
    let config = SessionConfig::new()
        .with_default_catalog_and_schema(DATABASE_NAME, DEFAULT_SCHEMA)
        .with_create_default_catalog_and_schema(true)
        .with_information_schema(true)
        .set_str("datafusion.sql_parser.dialect", "PostgreSQL")
        // `1.5` is numeric, as in PostgreSQL (see `pg_numbers`).
        .set_bool("datafusion.sql_parser.parse_float_as_decimal", true)
        // `timestamptz` values are kept in UTC, as PostgreSQL keeps them.
        .set_str("datafusion.execution.time_zone", "+00:00")
        .set_bool("datafusion.sql_parser.map_string_types_to_utf8view", false)
        .set_bool(
            "datafusion.execution.parquet.schema_force_view_types",
            false,
        );
    let context = SessionContext::new_with_config(config);
    datafusion_pg_catalog::setup_pg_catalog(&context, DATABASE_NAME, EmptyContextProvider)
        .map_err(|e| WeirError::from(*e))?;
    pg_class::install(context.state().catalog_list(), DATABASE_NAME)?;
    functions::register_shared(&context);
    pg_typeof::register(&context);
    pg_extract::register(&context);
    // Number literals are typed before type coercion, the first of the analyzer's rules.
    let mut analyzer_rules = context.state().analyzer().rules.clone();
    analyzer_rules.insert(0, Arc::new(pg_numbers::TypeNumberLiterals));
    let state = SessionStateBuilder::new_from_existing(context.state())
        .with_analyzer_rules(analyzer_rules)
        .with_type_planner(Arc::new(WeirTypePlanner))
        .build();
    let mut context = SessionContext::new_with_state(state);
    json_operators::register(&mut context)?;
    context.register_expr_planner(Arc::new(pg_datetime::DatetimeArithmeticPlanner))?;
    pg_aggregates::register(&mut context)?;
    text_input::register(&context);
    text_output::register(&context);
    pg_order::register(&context);
    context.add_analyzer_rule(Arc::new(pg_numbers::CheckArithmetic));
    length_limits::register(&context);
    coalesce::register(&context);
    short_circuit::register(&context);
    Ok(context)
}
