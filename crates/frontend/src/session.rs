//! One client's session: its settings, its transaction block, and the running of each
//! statement it sends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use datafusion::arrow::array::{RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ParamValues;
use datafusion::common::TableReference;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::TableType;
use datafusion::execution::SessionState;
use datafusion::execution::context::SessionContext;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::{LogicalPlan, WriteOp};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::sqlparser::ast::{
    CopySource, CopyTarget, CreateView, DescribeAlias, Expr, Ident, Insert, ObjectName, ObjectType,
    Reset, ResetStatement, Set, SetExpr, Statement, TableObject, Value,
};
use futures::future::BoxFuture;
use weir_catalog::{DEFAULT_SCHEMA, ObjectKind};
use weir_common::{Interrupt, Result, SqlState, WeirError};
use weir_sql::{ConnectorObject, ParsedStatement};
use weir_storage::DeferMaintenance;

use crate::copy::PendingCopy;
use crate::copy_format::CopyFormat;
use crate::database::Database;
use crate::ddl::QualifiedName;
use crate::interruptible::StopAtInterrupt;
use crate::outcome::{Outcome, Prepared};
use crate::settings::Settings;
use crate::transaction::TransactionState;
use crate::{ddl, functions, materialized};

pub struct Session {
    database: Arc<Database>,
    context: SessionContext,
    settings: Settings,
    transaction: TransactionState,
    /// NOTICE and WARNING messages for the client, sent before the statement completes.
    notices: Vec<String>,
    /// Settings changed by the last statement that the client must be told of.
    reported_changes: Vec<(String, String)>,
    /// A `COPY … FROM STDIN` receiving its data.
    pending_copy: Option<PendingCopy>,
    /// The user name the client logged in with, which privileges are checked against
    /// (`SET SESSION AUTHORIZATION` changes only the setting).
    login_user: String,
    /// The interrupt of the statement running (or that ran last).
    interrupt: Interrupt,
    /// Whether a statement or Parse began and has not ended. One that never ends panicked
    /// (a bug), possibly after its client was told it had stopped (see the pgwire crate's
    /// `early_answer`), so the next statement fails the transaction block first.
    unfinished: AtomicBool,
}

impl Session {
    pub fn new(database: Arc<Database>, backend_pid: i32, settings: Settings) -> Session {
        let context = SessionContext::new_with_state(database.context().state());
        let user = settings.get("session_authorization").unwrap_or_default();
        functions::register_for_session(&context, backend_pid, &user);
        Session {
            login_user: user,
            database,
            context,
            settings,
            transaction: TransactionState::Idle,
            notices: Vec::new(),
            reported_changes: Vec::new(),
            pending_copy: None,
            interrupt: Interrupt::new(),
            unfinished: AtomicBool::new(false),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn transaction(&self) -> TransactionState {
        self.transaction
    }

    pub fn take_notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notices)
    }

    pub fn take_reported_changes(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.reported_changes)
    }

    /// Marks the transaction block failed after an error the session did not see itself
    /// (one raised while the client was reading the statement's rows).
    pub fn fail_transaction(&mut self) {
        if self.transaction != TransactionState::Idle {
            self.transaction = TransactionState::Failed;
        }
    }

    /// Runs one statement, which stops with 57014 if `interrupt` is raised before it
    /// is done (see [`Interrupt`]); so do the rows it returns.
    ///
    /// (Boxed, as [`Database::open`] is, so that its callers do not compile it again.)
    #[inline(never)]
    pub fn execute(
        &mut self,
        statement: ParsedStatement,
        interrupt: Interrupt,
    ) -> BoxFuture<'_, Result<Outcome>> {
        Box::pin(self.guarded(statement, None, None, interrupt))
    }

    /// Parses and plans `sql`, which must hold at most one statement, for the extended
    /// query protocol. `None` for an empty statement.
    ///
    /// (Boxed, as [`Database::open`] is, so that its callers do not compile it again.)
    #[inline(never)]
    pub fn prepare<'a>(&'a self, sql: &'a str) -> BoxFuture<'a, Result<Option<Prepared>>> {
        Box::pin(self.prepare_unboxed(sql))
    }

    async fn prepare_unboxed(&self, sql: &str) -> Result<Option<Prepared>> {
        // Keeps what an unfinished statement before it left, for the next statement.
        let before = self.unfinished.swap(true, Ordering::Relaxed);
        let prepared = self.plan_prepared(sql).await;
        self.unfinished.store(before, Ordering::Relaxed);
        prepared
    }

    async fn plan_prepared(&self, sql: &str) -> Result<Option<Prepared>> {
        let mut statements = weir_sql::parse(sql)?;
        if statements.len() > 1 {
            return Err(WeirError::syntax(
                "cannot insert multiple commands into a prepared statement",
            ));
        }
        let Some(statement) = statements.pop() else {
            return Ok(None);
        };
        let catalog_version = self.database.catalog_version();
        let (plan, result_schema) = match &statement {
            ParsedStatement::Sql(sql) if planned_by_datafusion(sql) => {
                let state = self.statement_state()?;
                let plan = self.plan_statement(&state, sql.clone()).await?;
                let schema = match &plan {
                    LogicalPlan::Dml(_) => None,
                    plan => Some(result_schema(&state, plan)?),
                };
                (Some(plan), schema)
            }
            ParsedStatement::Sql(sql) => {
                (None, shown_columns(sql).map(|names| text_schema(&names)))
            }
            ParsedStatement::CreateConnector(_)
            | ParsedStatement::CreateSink(_)
            | ParsedStatement::DropConnector(_) => (None, None),
        };
        Ok(Some(Prepared {
            sql: sql.to_owned(),
            statement,
            plan,
            result_schema,
            catalog_version,
        }))
    }

    /// Runs a prepared statement with its parameters bound, as [`Session::execute`] runs
    /// a statement.
    ///
    /// (Boxed, as [`Database::open`] is, so that its callers do not compile it again.)
    #[inline(never)]
    pub fn execute_prepared<'a>(
        &'a mut self,
        prepared: &'a Prepared,
        parameters: ParamValues,
        interrupt: Interrupt,
    ) -> BoxFuture<'a, Result<Outcome>> {
        Box::pin(self.execute_prepared_unboxed(prepared, parameters, interrupt))
    }

    async fn execute_prepared_unboxed(
        &mut self,
        prepared: &Prepared,
        parameters: ParamValues,
        interrupt: Interrupt,
    ) -> Result<Outcome> {
        // A query's plan from preparation is reused while the catalog is as it was then;
        // it reads the tables' data as of this execution all the same.
        let current = prepared.catalog_version == self.database.catalog_version();
        let plan = match (&prepared.statement, &prepared.plan) {
            (ParsedStatement::Sql(Statement::Query(_)), Some(plan)) if current => {
                Some(plan.clone())
            }
            _ => None,
        };
        self.guarded(
            prepared.statement.clone(),
            Some(parameters),
            plan,
            interrupt,
        )
        .await
    }

    /// Applies the rules of transaction blocks around running a statement, and hands its
    /// rows to the executor.
    async fn guarded(
        &mut self,
        statement: ParsedStatement,
        parameters: Option<ParamValues>,
        plan: Option<LogicalPlan>,
        interrupt: Interrupt,
    ) -> Result<Outcome> {
        self.interrupt = interrupt;
        if std::mem::take(self.unfinished.get_mut()) {
            self.fail_transaction();
        }
        let ends_block = matches!(
            statement,
            ParsedStatement::Sql(Statement::Commit { .. } | Statement::Rollback { .. })
        );
        if self.transaction == TransactionState::Failed && !ends_block {
            return Err(WeirError::new(
                SqlState::IN_FAILED_SQL_TRANSACTION,
                "current transaction is aborted, commands ignored until end of transaction block",
            ));
        }
        let writes = match &statement {
            ParsedStatement::Sql(sql) => writes_data(sql),
            ParsedStatement::CreateConnector(_)
            | ParsedStatement::CreateSink(_)
            | ParsedStatement::DropConnector(_) => true,
        };
        *self.unfinished.get_mut() = true;
        let result = self
            .dispatch(statement, parameters, plan)
            .await
            .map(|outcome| self.rows_on_executor(outcome));
        *self.unfinished.get_mut() = false;
        match (&result, self.transaction) {
            (Err(_), TransactionState::InBlock { .. }) => {
                self.transaction = TransactionState::Failed;
            }
            (Ok(_), TransactionState::InBlock { wrote: false }) if writes => {
                self.transaction = TransactionState::InBlock { wrote: true };
            }
            _ => {}
        }
        result
    }

    /// The outcome with its rows, if it has any, produced on the executor and stopped by
    /// the statement's interrupt.
    fn rows_on_executor(&self, outcome: Outcome) -> Outcome {
        let executor = self.database.executor();
        match outcome {
            Outcome::Rows { schema, stream } => Outcome::Rows {
                schema,
                stream: executor.rows(stream, self.interrupt.clone()),
            },
            Outcome::CopyOut {
                schema,
                stream,
                format,
            } => Outcome::CopyOut {
                schema,
                stream: executor.rows(stream, self.interrupt.clone()),
                format,
            },
            other => other,
        }
    }

    async fn dispatch(
        &mut self,
        statement: ParsedStatement,
        parameters: Option<ParamValues>,
        plan: Option<LogicalPlan>,
    ) -> Result<Outcome> {
        let result = match statement {
            ParsedStatement::Sql(statement) => {
                return self.dispatch_sql(statement, parameters, plan).await;
            }
            ParsedStatement::CreateConnector(create) => {
                ddl::create_connector(
                    &self.database,
                    &self.login_user,
                    &create,
                    &mut self.notices,
                    &self.interrupt,
                )
                .await
            }
            ParsedStatement::CreateSink(create) => {
                ddl::create_sink(
                    &self.database,
                    &self.login_user,
                    &create,
                    &mut self.notices,
                    &self.interrupt,
                )
                .await
            }
            ParsedStatement::DropConnector(drop) => {
                let kind = match drop.object {
                    ConnectorObject::Source => ObjectKind::Source,
                    ConnectorObject::Sink => ObjectKind::Sink,
                };
                ddl::drop_objects(
                    &self.database,
                    kind,
                    &drop.names,
                    drop.if_exists,
                    drop.cascade,
                    &mut self.notices,
                    &self.interrupt,
                )
                .await
            }
        };
        // Connector DDL changes the catalog (or may have: failed DDL counts too).
        self.database.catalog_changed();
        result
    }

    async fn dispatch_sql(
        &mut self,
        statement: Statement,
        parameters: Option<ParamValues>,
        plan: Option<LogicalPlan>,
    ) -> Result<Outcome> {
        match statement {
            Statement::StartTransaction { .. } => Ok(self.begin()),
            Statement::Commit { .. } => Ok(self.end_block(true)),
            Statement::Rollback { .. } => Ok(self.end_block(false)),
            Statement::Set(set) => self.set(set),
            Statement::Reset(ResetStatement { reset }) => self.reset(reset),
            Statement::ShowVariable { variable } if shown_objects(&variable).is_some() => {
                self.show_objects(shown_objects(&variable).expect("checked"))
                    .await
            }
            Statement::ShowVariable { variable } => self.show(&variable),
            Statement::ShowTables { .. } => self.show_objects(ObjectKind::Table).await,
            Statement::ShowViews {
                materialized: true, ..
            } => self.show_objects(ObjectKind::MaterializedView).await,
            Statement::ShowViews { .. } => self.show_objects(ObjectKind::View).await,
            Statement::CreateTable(_) | Statement::CreateView(_) => {
                let result = ddl::create(
                    &self.database,
                    &self.context,
                    &statement,
                    &mut self.notices,
                    &self.interrupt,
                )
                .await;
                self.database.catalog_changed();
                result
            }
            Statement::Drop {
                object_type,
                if_exists,
                names,
                cascade,
                ..
            } => {
                let kind = match object_type {
                    ObjectType::Table => ObjectKind::Table,
                    ObjectType::View => ObjectKind::View,
                    ObjectType::MaterializedView => ObjectKind::MaterializedView,
                    other => return Err(WeirError::not_supported(format!("DROP {other}"))),
                };
                let result = ddl::drop_objects(
                    &self.database,
                    kind,
                    &names,
                    if_exists,
                    cascade,
                    &mut self.notices,
                    &self.interrupt,
                )
                .await;
                self.database.catalog_changed();
                result
            }
            // Every statement commits its changes and those of the views they reach before
            // it returns, so by the time FLUSH runs everything before it is visible.
            statement if weir_sql::is_flush(&statement) => {
                self.database.maintainer().flush(&self.interrupt).await?;
                Ok(Outcome::command("FLUSH"))
            }
            Statement::Discard { .. } => {
                self.reported_changes.extend(self.settings.reset_all());
                Ok(Outcome::command("DISCARD ALL"))
            }
            Statement::Deallocate { .. } => Ok(Outcome::command("DEALLOCATE")),
            Statement::Copy {
                source,
                to,
                target,
                options,
                legacy_options,
                ..
            } => {
                let format = CopyFormat::from_options(&options, &legacy_options)?;
                match (to, target) {
                    (false, CopyTarget::Stdin) => self.copy_from_client(source, format).await,
                    (true, CopyTarget::Stdout) => self.copy_to_client(source, format).await,
                    _ => Err(WeirError::not_supported(
                        "COPY to or from a file or program on the server",
                    )
                    .with_hint("Use psql's \\copy to read or write a file on the client.")),
                }
            }
            Statement::Explain { ref statement, .. }
                if let Statement::CreateView(create) = statement.as_ref()
                    && create.materialized =>
            {
                self.explain_materialized(create).await
            }
            Statement::ExplainTable {
                describe_alias: DescribeAlias::Explain,
                table_name,
                ..
            } => self.explain_existing_view(&table_name).await,
            statement if planned_by_datafusion(&statement) => {
                self.run_datafusion(statement, parameters, plan).await
            }
            other => Err(WeirError::not_supported(format!(
                "the statement {}",
                first_words(&other.to_string())
            ))),
        }
    }

    async fn copy_from_client(
        &mut self,
        source: CopySource,
        format: CopyFormat,
    ) -> Result<Outcome> {
        let CopySource::Table {
            table_name,
            columns,
        } = source
        else {
            return Err(WeirError::syntax("COPY FROM needs a table, not a query"));
        };
        let name = QualifiedName::resolve(&table_name)?;
        let table = TableReference::partial(name.schema.as_str(), name.name.as_str());
        let provider = self
            .context
            .table_provider(table.clone())
            .await
            .map_err(|_| WeirError::undefined_table(&name.name))?;
        if provider.table_type() != TableType::Base {
            return Err(WeirError::new(
                SqlState::WRONG_OBJECT_TYPE,
                format!("cannot copy to non-table relation \"{}\"", name.name),
            ));
        }
        let schema = provider.schema();
        let columns: Vec<String> = if columns.is_empty() {
            schema.fields().iter().map(|f| f.name().clone()).collect()
        } else {
            let names: Vec<String> = columns
                .iter()
                .map(|ident| normalize_identifier(&ident.to_string()))
                .collect();
            for column in &names {
                if schema.field_with_name(column).is_err() {
                    return Err(WeirError::new(
                        SqlState::UNDEFINED_COLUMN,
                        format!(
                            "column \"{column}\" of relation \"{}\" does not exist",
                            name.name
                        ),
                    ));
                }
            }
            names
        };
        let width = columns.len();
        self.pending_copy = Some(PendingCopy {
            table,
            columns,
            format: format.clone(),
            data: Vec::new(),
        });
        Ok(Outcome::CopyIn {
            columns: width,
            format,
        })
    }

    async fn copy_to_client(&mut self, source: CopySource, format: CopyFormat) -> Result<Outcome> {
        let query = match source {
            CopySource::Query(query) => Statement::Query(query),
            CopySource::Table {
                table_name,
                columns,
            } => {
                let columns = if columns.is_empty() {
                    "*".to_owned()
                } else {
                    columns
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                weir_sql::parse_sql(&format!("SELECT {columns} FROM {table_name}"))?
            }
        };
        match self.run_datafusion(query, None, None).await? {
            Outcome::Rows { schema, stream } => Ok(Outcome::CopyOut {
                schema,
                stream,
                format,
            }),
            _ => Err(WeirError::internal("COPY TO ran a query without rows")),
        }
    }

    /// Adds data to the `COPY … FROM STDIN` in progress.
    pub fn copy_data(&mut self, data: &[u8]) {
        if let Some(copy) = &mut self.pending_copy {
            copy.data.extend_from_slice(data);
        }
    }

    /// Ends the `COPY … FROM STDIN` in progress and inserts its rows; returns how many.
    /// Stops, inserting nothing, if `interrupt` is raised before the rows commit.
    ///
    /// (Boxed, as [`Database::open`] is, so that its callers do not compile it again.)
    #[inline(never)]
    pub fn copy_done(&mut self, interrupt: Interrupt) -> BoxFuture<'_, Result<usize>> {
        Box::pin(self.copy_done_unboxed(interrupt))
    }

    async fn copy_done_unboxed(&mut self, interrupt: Interrupt) -> Result<usize> {
        self.interrupt = interrupt;
        let copy = self
            .pending_copy
            .take()
            .ok_or_else(|| WeirError::new(SqlState::PROTOCOL_VIOLATION, "no COPY in progress"))?;
        let state = self.statement_state()?;
        let result = copy.finish(&SessionContext::new_with_state(state)).await;
        if result.is_err() {
            self.fail_transaction();
        }
        result
    }

    /// Abandons the `COPY … FROM STDIN` in progress: nothing of it is written.
    pub fn copy_failed(&mut self) {
        self.pending_copy = None;
        self.fail_transaction();
    }

    fn begin(&mut self) -> Outcome {
        if self.transaction == TransactionState::Idle {
            self.transaction = TransactionState::InBlock { wrote: false };
        } else {
            self.notices
                .push("WARNING: there is already a transaction in progress".to_owned());
        }
        Outcome::command("BEGIN")
    }

    fn end_block(&mut self, commit: bool) -> Outcome {
        let tag = match (self.transaction, commit) {
            (TransactionState::Idle, _) => {
                self.notices
                    .push("WARNING: there is no transaction in progress".to_owned());
                if commit { "COMMIT" } else { "ROLLBACK" }
            }
            (TransactionState::InBlock { wrote }, false) => {
                if wrote {
                    self.notices.push(
                        "WARNING: weir applies each statement when it completes; the changes made in this transaction block were not undone".to_owned(),
                    );
                }
                "ROLLBACK"
            }
            (TransactionState::InBlock { .. }, true) => "COMMIT",
            (TransactionState::Failed, _) => "ROLLBACK",
        };
        self.transaction = TransactionState::Idle;
        Outcome::command(tag)
    }

    fn set(&mut self, set: Set) -> Result<Outcome> {
        let (name, value) = match set {
            Set::SingleAssignment {
                variable, values, ..
            } => (variable.to_string(), setting_value(&values)),
            Set::SetTimeZone { value, .. } => ("TimeZone".to_owned(), setting_value(&[value])),
            Set::SetNames { charset_name, .. } => {
                ("client_encoding".to_owned(), Some(charset_name.value))
            }
            Set::SetTransaction { .. } => return Ok(Outcome::command("SET")),
            other => return Err(WeirError::not_supported(format!("{other}"))),
        };
        let change = match value {
            Some(value) => self.settings.set(&name, &value)?,
            None => self.settings.reset(&name)?,
        };
        self.reported_changes.extend(change);
        Ok(Outcome::command("SET"))
    }

    fn reset(&mut self, reset: Reset) -> Result<Outcome> {
        match reset {
            Reset::ALL => self.reported_changes.extend(self.settings.reset_all()),
            Reset::ConfigurationParameter(name) => {
                let change = self.settings.reset(&name.to_string())?;
                self.reported_changes.extend(change);
            }
        }
        Ok(Outcome::command("RESET"))
    }

    fn show(&self, variable: &[Ident]) -> Result<Outcome> {
        let name = variable_name(variable);
        let names = show_variable_columns(variable);
        if name.eq_ignore_ascii_case("all") {
            let all = self.settings.all();
            let column = |pick: fn(&(String, String, String)) -> &String| {
                Arc::new(StringArray::from_iter_values(all.iter().map(pick))) as _
            };
            return rows(
                &names,
                vec![column(|s| &s.0), column(|s| &s.1), column(|s| &s.2)],
            );
        }
        let value = match name.to_ascii_lowercase().as_str() {
            "transaction isolation level" => self.settings.get("transaction_isolation")?,
            "time zone" => self.settings.get("TimeZone")?,
            _ => self.settings.get(&name)?,
        };
        rows(&names, vec![Arc::new(StringArray::from(vec![value]))])
    }

    async fn show_objects(&self, kind: ObjectKind) -> Result<Outcome> {
        let catalog = self.database.lock_catalog(&self.interrupt).await?;
        let mut names: Vec<&str> = catalog
            .entries()
            .filter(|entry| entry.kind == kind && entry.schema == DEFAULT_SCHEMA)
            .map(|entry| entry.name.as_str())
            .collect();
        names.sort_unstable();
        rows(
            &[OBJECT_LIST_COLUMN.to_owned()],
            vec![Arc::new(StringArray::from(names))],
        )
    }

    /// The stream plan a materialized view would run, one operator per line.
    async fn explain_materialized(&self, create: &CreateView) -> Result<Outcome> {
        let catalog = self.database.lock_catalog(&self.interrupt).await?;
        let planned = materialized::plan_view(&self.context.state(), &catalog, create).await?;
        let lines = planned.plan.explain();
        rows(
            &[EXPLAIN_COLUMN.to_owned()],
            vec![Arc::new(StringArray::from(lines))],
        )
    }

    /// `EXPLAIN view`: the stream plan an existing materialized view runs, planned again
    /// from its definition (planning is deterministic).
    async fn explain_existing_view(&self, name: &ObjectName) -> Result<Outcome> {
        let name = QualifiedName::resolve(name)?;
        let catalog = self.database.lock_catalog(&self.interrupt).await?;
        let entry = match catalog.lookup(&name.schema, &name.name) {
            Some(entry) if entry.kind == ObjectKind::MaterializedView => entry,
            Some(_) => {
                return Err(WeirError::new(
                    SqlState::WRONG_OBJECT_TYPE,
                    format!("\"{}\" is not a materialized view", name.name),
                )
                .with_hint("EXPLAIN a query, or EXPLAIN CREATE MATERIALIZED VIEW …"));
            }
            None => return Err(WeirError::undefined_table(&name.name)),
        };
        let create = ddl::parse_create_view(&entry.definition)?;
        let planned = materialized::plan_view(&self.context.state(), &catalog, &create).await?;
        rows(
            &[EXPLAIN_COLUMN.to_owned()],
            vec![Arc::new(StringArray::from(planned.plan.explain()))],
        )
    }

    /// A copy of the session's DataFusion state that reads the last committed epoch; every
    /// table the statement touches reads this one snapshot. With `implicit_flush` off, its
    /// writes leave view maintenance to the next barrier.
    ///
    /// The statement's operators hold memory from a pool of their own (see
    /// [`crate::query_memory`]).
    fn statement_state(&self) -> Result<SessionState> {
        let mut state = self.with_statement_memory(self.context.state())?;
        let config = state.config_mut();
        config.set_extension(Arc::new(self.database.store().snapshot()));
        config.set_extension(Arc::new(self.interrupt.clone()));
        if !self.settings.implicit_flush() {
            config.set_extension(Arc::new(DeferMaintenance));
        }
        Ok(state)
    }

    fn with_statement_memory(&self, state: SessionState) -> Result<SessionState> {
        let runtime = RuntimeEnvBuilder::from_runtime_env(state.runtime_env())
            .with_memory_pool(self.database.query_memory().statement_pool())
            .build_arc()?;
        Ok(SessionStateBuilder::new_from_existing(state)
            .with_runtime_env(runtime)
            .with_physical_optimizer_rule(Arc::new(StopAtInterrupt::new(self.interrupt.clone())))
            .build())
    }

    async fn plan(&self, state: &SessionState, statement: Statement) -> Result<LogicalPlan> {
        let statement = datafusion::sql::parser::Statement::Statement(Box::new(statement));
        let plan = state.statement_to_plan(statement).await?;
        if matches!(
            plan,
            LogicalPlan::Ddl(_) | LogicalPlan::Statement(_) | LogicalPlan::Copy(_)
        ) {
            return Err(WeirError::not_supported(format!(
                "the statement {}",
                plan.display()
            )));
        }
        Ok(plan)
    }

    /// Plans a query or DML statement, first giving it PostgreSQL's meaning where
    /// DataFusion's differs.
    async fn plan_statement(
        &self,
        state: &SessionState,
        mut statement: Statement,
    ) -> Result<LogicalPlan> {
        if let Statement::Insert(insert) = &mut statement
            && let Some(target) = self.insert_target(insert).await?
        {
            // PostgreSQL lets `INSERT INTO t VALUES (…)` give fewer values than `t` has
            // columns, the rest taking their defaults; naming the leading columns makes
            // DataFusion plan it the same way.
            if insert.columns.is_empty() && target.values_width < target.columns.len() {
                insert.columns = target.columns[..target.values_width]
                    .iter()
                    .map(|name| ObjectName::from(vec![Ident::with_quote('"', name)]))
                    .collect();
            }
        }
        self.plan(state, statement).await
    }

    /// The table an INSERT writes and its columns in order; `None` when the table does
    /// not exist (the planner reports that with the rest of the statement).
    async fn insert_target(&self, insert: &Insert) -> Result<Option<InsertTarget>> {
        let TableObject::TableName(name) = &insert.table else {
            return Ok(None);
        };
        let name = QualifiedName::resolve(name)?;
        let reference = TableReference::partial(name.schema.as_str(), name.name.as_str());
        let Ok(table) = self.context.table_provider(reference).await else {
            return Ok(None);
        };
        let values_width = match insert.source.as_deref().map(|query| query.body.as_ref()) {
            Some(SetExpr::Values(values)) => values
                .rows
                .iter()
                .map(|row| row.content.len())
                .max()
                .unwrap_or(0),
            _ => usize::MAX,
        };
        let columns = if insert.columns.is_empty() {
            table
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect()
        } else {
            insert
                .columns
                .iter()
                .map(|c| normalize_identifier(&c.to_string()))
                .collect()
        };
        Ok(Some(InsertTarget {
            table: name.name,
            columns,
            values_width,
        }))
    }

    /// Plans (unless `planned`) and runs a query or DML statement.
    async fn run_datafusion(
        &self,
        statement: Statement,
        parameters: Option<ParamValues>,
        planned: Option<LogicalPlan>,
    ) -> Result<Outcome> {
        let insert_target = match &statement {
            Statement::Insert(insert) => self.insert_target(insert).await?,
            _ => None,
        };
        let state = self.statement_state()?;
        let mut plan = match planned {
            Some(plan) => plan,
            None => self.plan_statement(&state, statement).await?,
        };
        if let Some(parameters) = parameters {
            plan = plan.with_param_values(parameters)?;
        }
        let tag = match &plan {
            LogicalPlan::Dml(dml) => Some(match dml.op {
                WriteOp::Insert(_) => "INSERT",
                WriteOp::Update => "UPDATE",
                WriteOp::Delete => "DELETE",
                WriteOp::Truncate => "TRUNCATE TABLE",
                WriteOp::Ctas => "SELECT",
                _ => "MERGE",
            }),
            _ => None,
        };
        let schema = match tag {
            None => Some(result_schema(&state, &plan)?),
            Some(_) => None,
        };
        let frame = DataFrame::new(state, plan);
        match tag {
            Some(tag) => match frame.collect().await {
                Ok(batches) => Ok(Outcome::counted(tag, count_rows(&batches))),
                Err(error) => Err(match &insert_target {
                    Some(target) => target.explain(WeirError::from(error)),
                    None => WeirError::from(error),
                }),
            },
            None => {
                let schema = schema.expect("a query's result schema");
                let stream = frame.execute_stream().await?;
                Ok(Outcome::Rows { schema, stream })
            }
        }
    }
}

/// The columns of `plan`'s rows as the analyzer leaves them: its rules may change a
/// column's type after planning (PostgreSQL's `sum(bigint)` is `numeric`, see
/// [`crate::pg_aggregates`]).
fn result_schema(state: &SessionState, plan: &LogicalPlan) -> Result<SchemaRef> {
    let analyzed =
        state
            .analyzer()
            .execute_and_check(plan.clone(), state.config_options(), |_, _| {})?;
    Ok(Arc::new(analyzed.schema().as_arrow().clone()))
}

/// What an INSERT writes: for PostgreSQL's treatment of short VALUES rows and its messages.
struct InsertTarget {
    table: String,
    /// The columns the INSERT fills, in the order its values come.
    columns: Vec<String>,
    /// The longest VALUES row, or `usize::MAX` when the source is a query.
    values_width: usize,
}

impl InsertTarget {
    /// DataFusion refuses a NULL for a NOT NULL column while it builds the rows to insert,
    /// naming its own column (`column2` of a VALUES list); say it as PostgreSQL does.
    fn explain(&self, error: WeirError) -> WeirError {
        const MARKER: &str = "is declared as non-nullable but contains null values";
        if !error.message.contains(MARKER) {
            return error;
        }
        let named = error.message.split('\'').nth(1).unwrap_or_default();
        let column = named
            .strip_prefix("column")
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| self.columns.get(n.wrapping_sub(1)))
            .map(String::as_str)
            .unwrap_or(named);
        WeirError::new(
            SqlState::NOT_NULL_VIOLATION,
            format!(
                "null value in column \"{column}\" of relation \"{}\" violates not-null constraint",
                self.table
            ),
        )
    }
}

/// An identifier as PostgreSQL resolves it: unquoted names fold to lower case.
fn normalize_identifier(text: &str) -> String {
    match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(quoted) => quoted.replace("\"\"", "\""),
        None => text.to_lowercase(),
    }
}

/// Statements DataFusion plans and runs: queries and DML.
fn planned_by_datafusion(statement: &Statement) -> bool {
    match statement {
        Statement::Explain { .. } => !explains_materialized_view(statement),
        statement => matches!(
            statement,
            Statement::Query(_)
                | Statement::Insert(_)
                | Statement::Update(_)
                | Statement::Delete(_)
                | Statement::Truncate(_)
        ),
    }
}

/// `EXPLAIN CREATE MATERIALIZED VIEW …`, which weir answers with the stream plan.
fn explains_materialized_view(statement: &Statement) -> bool {
    matches!(statement, Statement::Explain { statement, .. }
        if matches!(statement.as_ref(), Statement::CreateView(create) if create.materialized))
}

fn writes_data(statement: &Statement) -> bool {
    !matches!(
        statement,
        Statement::Query(_)
            | Statement::Explain { .. }
            | Statement::Set(_)
            | Statement::Reset(_)
            | Statement::ShowVariable { .. }
            | Statement::ShowTables { .. }
            | Statement::ShowViews { .. }
            | Statement::Flush { .. }
            | Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
    )
}

/// The value of `SET name = value`: `None` for `DEFAULT`; lists joined as PostgreSQL shows them.
fn setting_value(values: &[Expr]) -> Option<String> {
    let parts: Vec<String> = values
        .iter()
        .map(|value| match value {
            Expr::Value(value) => match &value.value {
                Value::SingleQuotedString(text) | Value::DoubleQuotedString(text) => text.clone(),
                other => other.to_string(),
            },
            Expr::Identifier(ident) => ident.value.clone(),
            other => other.to_string(),
        })
        .collect();
    if parts.len() == 1 && parts[0].eq_ignore_ascii_case("default") {
        return None;
    }
    Some(parts.join(", "))
}

pub(crate) fn count_rows(batches: &[RecordBatch]) -> usize {
    batches
        .iter()
        .filter_map(|batch| batch.column(0).as_any().downcast_ref::<UInt64Array>())
        .flat_map(|counts| counts.iter().flatten())
        .sum::<u64>() as usize
}

/// The column of `SHOW TABLES` and `SHOW VIEWS`.
const OBJECT_LIST_COLUMN: &str = "Name";
const EXPLAIN_COLUMN: &str = "QUERY PLAN";

fn variable_name(variable: &[Ident]) -> String {
    let parts: Vec<&str> = variable.iter().map(|ident| ident.value.as_str()).collect();
    parts.join(" ")
}

fn show_variable_columns(variable: &[Ident]) -> Vec<String> {
    let name = variable_name(variable);
    if name.eq_ignore_ascii_case("all") {
        vec!["name".into(), "setting".into(), "description".into()]
    } else {
        vec![name.to_ascii_lowercase()]
    }
}

/// The columns of the statements weir answers itself with rows.
/// The objects `SHOW SOURCES` and `SHOW SINKS` list (which sqlparser reads as showing a
/// variable).
fn shown_objects(variable: &[Ident]) -> Option<ObjectKind> {
    let name = variable_name(variable);
    if name.eq_ignore_ascii_case("sources") {
        Some(ObjectKind::Source)
    } else if name.eq_ignore_ascii_case("sinks") {
        Some(ObjectKind::Sink)
    } else {
        None
    }
}

fn shown_columns(statement: &Statement) -> Option<Vec<String>> {
    match statement {
        Statement::ShowVariable { variable } if shown_objects(variable).is_some() => {
            Some(vec![OBJECT_LIST_COLUMN.to_owned()])
        }
        Statement::ShowVariable { variable } => Some(show_variable_columns(variable)),
        Statement::ShowTables { .. } | Statement::ShowViews { .. } => {
            Some(vec![OBJECT_LIST_COLUMN.to_owned()])
        }
        Statement::Explain { .. } if explains_materialized_view(statement) => {
            Some(vec![EXPLAIN_COLUMN.to_owned()])
        }
        Statement::ExplainTable { .. } => Some(vec![EXPLAIN_COLUMN.to_owned()]),
        _ => None,
    }
}

fn text_schema(names: &[String]) -> SchemaRef {
    Arc::new(Schema::new(
        names
            .iter()
            .map(|name| Field::new(name, DataType::Utf8, false))
            .collect::<Vec<_>>(),
    ))
}

/// A small result set built by weir itself (SHOW and friends).
fn rows(names: &[String], columns: Vec<datafusion::arrow::array::ArrayRef>) -> Result<Outcome> {
    let schema = text_schema(names);
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    let stream = RecordBatchStreamAdapter::new(schema.clone(), futures::stream::iter([Ok(batch)]));
    Ok(Outcome::Rows {
        schema,
        stream: Box::pin(stream),
    })
}

fn first_words(sql: &str) -> String {
    sql.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}
