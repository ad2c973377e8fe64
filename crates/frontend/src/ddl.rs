//! CREATE and DROP of tables, views, materialized views, sources and sinks.
//!
//! Each DDL statement holds the catalog lock from validation to registration and writes
//! the catalog change, together with any rows it removes, in one atomic commit: after a
//! crash an object either exists with all its rows or not at all.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::view::ViewTable;
use datafusion::common::TableReference;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Constraint, Constraints};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{CreateMemoryTable, DdlStatement, LogicalPlan};
use datafusion::sql::planner::object_name_to_table_reference;
use datafusion::sql::sqlparser::ast::{CreateView, ObjectName, Statement};
use weir_catalog::{Catalog, CatalogEntry, DEFAULT_SCHEMA, ObjectKind};
use weir_common::{Interrupt, Result, SqlState, WeirError};
use weir_connectors::{SinkFormat, SinkOptions, TopicState};
use weir_sql::{ConnectorRelation, CreateConnector, CreateSink, ParsedStatement, SYSTEM_SCHEMA};
use weir_storage::{
    EpochWrite, MaterializedViewTable, Store, StoredTable, TableDescriptor, ViewRows, keys,
};

use crate::database::Database;
use crate::maintainer::{BackfillTarget, Maintainer, Output};
use crate::materialized;
use crate::materialized::PlannedView;
use crate::outcome::Outcome;
use crate::schema_columns::{check_declared, with_schema_columns};
use crate::sinks::Sink;
use crate::source_table::SourceTable;
use crate::sources::SourceDefinition;

/// A relation name as written, resolved against the default schema.
pub(crate) struct QualifiedName {
    pub schema: String,
    pub name: String,
}

impl QualifiedName {
    pub fn resolve(name: &ObjectName) -> Result<QualifiedName> {
        let reference = object_name_to_table_reference(name.clone(), true)?;
        let schema = reference.schema().unwrap_or(DEFAULT_SCHEMA).to_owned();
        if schema == SYSTEM_SCHEMA {
            return Err(WeirError::new(
                SqlState::INSUFFICIENT_PRIVILEGE,
                format!("permission denied: \"{SYSTEM_SCHEMA}\" is weir's read-only system schema"),
            ));
        }
        if schema != DEFAULT_SCHEMA {
            return Err(WeirError::new(
                SqlState::INVALID_SCHEMA_NAME,
                format!("schema \"{schema}\" does not exist"),
            ));
        }
        Ok(QualifiedName {
            schema,
            name: reference.table().to_owned(),
        })
    }
}

fn reference(entry: &CatalogEntry) -> TableReference {
    TableReference::partial(entry.schema.as_str(), entry.name.as_str())
}

/// Makes a stored object queryable: plans its definition and registers the result;
/// materialized views also resume their maintenance.
pub(crate) async fn register(
    context: &SessionContext,
    store: &Arc<Store>,
    maintainer: &Maintainer,
    catalog: &Catalog,
    entry: &CatalogEntry,
) -> Result<()> {
    maintainer.name_relation(entry.id, reference(entry));
    if entry.kind == ObjectKind::Source {
        let create = parse_create_connector(&entry.definition)?;
        let definition = plan_source(context, &create).await?;
        let table = SourceTable::new(entry.name.clone(), definition.schema.full());
        context.register_table(reference(entry), Arc::new(table))?;
        maintainer.define_source(entry.id, definition);
        return Ok(());
    }
    if entry.kind == ObjectKind::Table
        && let Some(ParsedStatement::CreateConnector(create)) =
            weir_sql::parse(&entry.definition)?.pop()
    {
        let definition = plan_source(context, &create).await?;
        let key_columns = definition.schema.primary_key.clone().unwrap_or_default();
        let schema = key_not_null(&definition.schema.full(), &key_columns);
        let constraints = match key_columns.is_empty() {
            true => Constraints::default(),
            false => Constraints::new_unverified(vec![Constraint::PrimaryKey(key_columns.clone())]),
        };
        let descriptor = TableDescriptor {
            id: entry.id,
            name: entry.name.clone(),
            schema,
            key_columns,
            constraints,
            column_defaults: HashMap::new(),
        };
        let table = Arc::new(StoredTable::try_new(descriptor, store.clone())?);
        context.register_table(reference(entry), table.clone())?;
        return maintainer.start_table_reader(reference(entry), &definition, table);
    }
    if entry.kind == ObjectKind::Sink {
        let create = parse_create_sink(&entry.definition)?;
        let planned = plan_sink(context, catalog, &create).await?;
        let sink = Arc::new(Sink::resume(
            entry.id,
            entry.name.clone(),
            planned.options,
            planned.view.schema,
            store.clone(),
        )?);
        maintainer.resume(
            entry.id,
            reference(entry),
            planned.view.plan,
            Output::Sink(sink.clone()),
        )?;
        sink.start();
        return Ok(());
    }
    if entry.kind == ObjectKind::MaterializedView {
        let create = parse_create_view(&entry.definition)?;
        return materialized::resume(
            context,
            store,
            maintainer,
            catalog,
            entry.id,
            reference(entry),
            &create,
        )
        .await;
    }
    let plan = plan_definition(context, &entry.definition).await?;
    match (entry.kind, plan) {
        (ObjectKind::Table, LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(create))) => {
            let (schema, key_columns) = table_schema(&create);
            let descriptor = TableDescriptor {
                id: entry.id,
                name: entry.name.clone(),
                schema,
                key_columns,
                constraints: create.constraints.clone(),
                column_defaults: create
                    .column_defaults
                    .into_iter()
                    .collect::<HashMap<_, _>>(),
            };
            let table = StoredTable::try_new(descriptor, store.clone())?;
            context.register_table(reference(entry), Arc::new(table))?;
        }
        (ObjectKind::View, LogicalPlan::Ddl(DdlStatement::CreateView(view))) => {
            let table = ViewTable::new(view.input.as_ref().clone(), Some(entry.definition.clone()));
            context.register_table(reference(entry), Arc::new(table))?;
        }
        (kind, plan) => {
            return Err(WeirError::internal(format!(
                "stored definition of {} {} planned as {}",
                kind.describe(),
                entry.name,
                plan.display()
            )));
        }
    }
    Ok(())
}

/// The columns of a planned `CREATE TABLE`, and the positions of its primary key's.
fn table_schema(create: &CreateMemoryTable) -> (SchemaRef, Vec<usize>) {
    let schema = create.input.schema().as_arrow().clone();
    let key_columns: Vec<usize> = create
        .constraints
        .iter()
        .find_map(|constraint| match constraint {
            Constraint::PrimaryKey(columns) => Some(columns.clone()),
            Constraint::Unique(_) => None,
        })
        .unwrap_or_default();
    (key_not_null(&schema, &key_columns), key_columns)
}

/// `schema` with the primary-key columns `key` NOT NULL, as PostgreSQL makes them.
fn key_not_null(schema: &Schema, key: &[usize]) -> SchemaRef {
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(index, field)| {
            let nullable = field.is_nullable() && !key.contains(&index);
            field.as_ref().clone().with_nullable(nullable)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// A source's definition, its declared columns planned as a table's.
async fn plan_source(
    context: &SessionContext,
    create: &CreateConnector,
) -> Result<SourceDefinition> {
    let plan = plan_definition(context, &create.columns_as_table()).await?;
    let LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(table)) = plan else {
        return Err(WeirError::internal(
            "a source's columns did not plan as a table",
        ));
    };
    SourceDefinition::new(create, table_schema(&table).0)
}

fn parse_create_connector(definition: &str) -> Result<CreateConnector> {
    match weir_sql::parse(definition)?.pop() {
        Some(ParsedStatement::CreateConnector(create)) => Ok(create),
        _ => Err(WeirError::internal(
            "a stored source definition is not CREATE SOURCE",
        )),
    }
}

fn parse_create_sink(definition: &str) -> Result<CreateSink> {
    match weir_sql::parse(definition)?.pop() {
        Some(ParsedStatement::CreateSink(create)) => Ok(create),
        _ => Err(WeirError::internal(
            "a stored sink definition is not CREATE SINK",
        )),
    }
}

pub(crate) fn parse_create_view(definition: &str) -> Result<CreateView> {
    match weir_sql::parse_sql(definition)? {
        Statement::CreateView(create) => Ok(create),
        _ => Err(WeirError::internal(
            "a stored view definition is not CREATE VIEW",
        )),
    }
}

async fn plan_definition(context: &SessionContext, definition: &str) -> Result<LogicalPlan> {
    let statement =
        datafusion::sql::parser::Statement::Statement(Box::new(weir_sql::parse_sql(definition)?));
    Ok(context.state().statement_to_plan(statement).await?)
}

/// `CREATE TABLE` and `CREATE VIEW`.
pub(crate) async fn create(
    database: &Database,
    context: &SessionContext,
    statement: &Statement,
    notices: &mut Vec<String>,
    interrupt: &Interrupt,
) -> Result<Outcome> {
    let (kind, name, if_not_exists, tag) = match statement {
        Statement::CreateTable(create) => {
            if create.query.is_some() {
                return Err(WeirError::not_supported("CREATE TABLE … AS"));
            }
            (
                ObjectKind::Table,
                &create.name,
                create.if_not_exists,
                "CREATE TABLE",
            )
        }
        Statement::CreateView(create) if !create.materialized => (
            ObjectKind::View,
            &create.name,
            create.if_not_exists,
            "CREATE VIEW",
        ),
        Statement::CreateView(create) => (
            ObjectKind::MaterializedView,
            &create.name,
            create.if_not_exists,
            "CREATE MATERIALIZED VIEW",
        ),
        other => return Err(WeirError::internal(format!("not a CREATE: {other}"))),
    };
    let name = QualifiedName::resolve(name)?;
    let mut catalog = database.lock_catalog(interrupt).await?;
    if !may_create(&catalog, &name, if_not_exists, "relation", notices)? {
        return Ok(Outcome::command(tag));
    }
    let definition = statement.to_string();
    if let Statement::CreateView(create) = statement
        && create.materialized
    {
        let new = NewView {
            name,
            create,
            definition,
        };
        return create_materialized(database, context, &mut catalog, new, interrupt).await;
    }
    let plan = plan_definition(context, &definition).await?;
    let entry = CatalogEntry {
        id: catalog.next_id(),
        schema: name.schema,
        name: name.name,
        kind,
        definition,
        depends_on: dependencies(&catalog, &plan),
    };
    commit_and_register(database, &mut catalog, entry).await?;
    Ok(Outcome::command(tag))
}

/// Whether a CREATE of `name` goes on: `false`, with a notice naming it a `what`, if it
/// exists and IF NOT EXISTS says to skip; an error if it exists otherwise.
fn may_create(
    catalog: &Catalog,
    name: &QualifiedName,
    if_not_exists: bool,
    what: &str,
    notices: &mut Vec<String>,
) -> Result<bool> {
    if catalog.lookup(&name.schema, &name.name).is_some() && if_not_exists {
        notices.push(format!("{what} \"{}\" already exists, skipping", name.name));
        return Ok(false);
    }
    catalog.check_name_free(&name.schema, &name.name)?;
    Ok(true)
}

/// `CREATE SOURCE` and `CREATE TABLE … WITH (connector = …)`: checks the definition and
/// the topic, then commits the catalog entry. A source reads nothing until a materialized
/// view reads it; a Kafka-fed table starts its reader at once.
pub(crate) async fn create_connector(
    database: &Database,
    user: &str,
    create: &CreateConnector,
    notices: &mut Vec<String>,
    interrupt: &Interrupt,
) -> Result<Outcome> {
    let (kind, tag, what) = match create.relation {
        ConnectorRelation::Source => (ObjectKind::Source, "CREATE SOURCE", "a source"),
        ConnectorRelation::Table => (ObjectKind::Table, "CREATE TABLE", "a connector-fed table"),
    };
    database.connector_access().check(
        user,
        what,
        &create.options,
        format_options(create.format.as_ref()),
    )?;
    let name = QualifiedName::resolve(&create.name)?;
    // The registry and the broker are asked without the catalog lock, so that a slow
    // answer holds up no other DDL; the name is checked before and again after.
    let catalog = database.lock_catalog(interrupt).await?;
    if !may_create(&catalog, &name, create.if_not_exists, "relation", notices)? {
        return Ok(Outcome::command(tag));
    }
    drop(catalog);
    let declares_columns = !create.columns.is_empty();
    let mut create = interrupt.unless_raised(with_schema_columns(create)).await?;
    let source = plan_source(database.context(), &create).await?;
    if declares_columns {
        check_declared(&source, notices).await?;
    }
    let topic = interrupt
        .unless_raised(check_topic(
            &source.options.bootstrap_servers,
            &source.options.properties,
            &source.options.topic,
            match kind {
                ObjectKind::Table => "the table's reader",
                _ => "the source's readers",
            },
            source.options.wait_for_topic,
            notices,
        ))
        .await?;
    if topic == TopicState::Missing {
        // Waited for: all of the topic will be newer than the source, whatever the
        // startup mode says, and a restart before it appears must not skip any of it.
        create.set_option("scan.startup.mode", "earliest");
        create.remove_option("scan.startup.timestamp.millis");
    }
    let mut catalog = database.lock_catalog(interrupt).await?;
    if !may_create(&catalog, &name, create.if_not_exists, "relation", notices)? {
        return Ok(Outcome::command(tag));
    }
    let entry = CatalogEntry {
        id: catalog.next_id(),
        schema: name.schema,
        name: name.name,
        kind,
        definition: create.to_string(),
        depends_on: vec![],
    };
    commit_and_register(database, &mut catalog, entry).await?;
    Ok(Outcome::command(tag))
}

/// The options of a connector's `FORMAT … ENCODE … (options)`, if it has one.
fn format_options(format: Option<&weir_sql::Format>) -> &[weir_sql::ConnectorOption] {
    format.map_or(&[], |format| &format.options)
}

/// Checks at CREATE that `topic` exists. A broker that cannot be reached now is only a
/// notice, since `who` (the source's readers, the sink) keeps trying; so is a missing
/// topic that `who` is to `wait` for, read from its beginning once it exists.
async fn check_topic(
    bootstrap_servers: &str,
    properties: &BTreeMap<String, String>,
    topic: &str,
    who: &str,
    wait: bool,
    notices: &mut Vec<String>,
) -> Result<TopicState> {
    let (servers, properties, name) = (
        bootstrap_servers.to_owned(),
        properties.clone(),
        topic.to_owned(),
    );
    let state = tokio::task::spawn_blocking(move || {
        weir_connectors::check_topic(&servers, &properties, &name)
    })
    .await
    .map_err(|e| WeirError::internal(format!("checking the topic failed: {e}")))??;
    match state {
        TopicState::Exists => {}
        TopicState::Unreachable => notices.push(format!(
            "Kafka broker {bootstrap_servers} cannot be reached now; {who} will keep trying"
        )),
        TopicState::Missing if wait => notices.push(format!(
            "Kafka topic \"{topic}\" does not exist yet; {who} will wait for it and read it from its beginning"
        )),
        TopicState::Missing => {
            return Err(WeirError::new(
                SqlState::UNDEFINED_OBJECT,
                format!("Kafka topic \"{topic}\" does not exist"),
            )
            .with_hint(format!(
                "Create the topic on {bootstrap_servers} first (weir does not create the topics it reads or writes); a source or Kafka-fed table can wait for it with scan.topic.missing = 'wait'."
            )));
        }
    }
    Ok(state)
}

/// A sink's options and its query planned for maintenance.
struct PlannedSink {
    options: SinkOptions,
    view: PlannedView,
}

async fn plan_sink(
    context: &SessionContext,
    catalog: &Catalog,
    create: &CreateSink,
) -> Result<PlannedSink> {
    let options = SinkOptions::parse(&create.options, create.format.as_ref())?;
    let Statement::Query(query) = weir_sql::parse_sql(&create.query())? else {
        return Err(WeirError::internal("a sink's query is not a query"));
    };
    let view = materialized::plan_query(&context.state(), catalog, &query, &[]).await?;
    Ok(PlannedSink { options, view })
}

/// `CREATE SINK`: plans the sink's query, checks its options and topic, then commits
/// its catalog entry with its first outbox entry (the query's current rows) and starts
/// delivering.
pub(crate) async fn create_sink(
    database: &Database,
    user: &str,
    create: &CreateSink,
    notices: &mut Vec<String>,
    interrupt: &Interrupt,
) -> Result<Outcome> {
    database.connector_access().check(
        user,
        "a sink",
        &create.options,
        format_options(create.format.as_ref()),
    )?;
    let name = QualifiedName::resolve(&create.name)?;
    let mut catalog = database.lock_catalog(interrupt).await?;
    if !may_create(&catalog, &name, create.if_not_exists, "sink", notices)? {
        return Ok(Outcome::command("CREATE SINK"));
    }
    let context = database.context();
    let planned = plan_sink(context, &catalog, create).await?;
    let maintainer = database.maintainer();
    if planned.options.format == SinkFormat::AppendOnly
        && !planned.options.force_append_only
        && !maintainer.is_append_only(&planned.view.plan)
    {
        return Err(WeirError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!(
                "sink \"{}\" cannot be append-only: its input can update or delete rows",
                name.name
            ),
        )
        .with_hint(
            "Use FORMAT UPSERT or DEBEZIUM with a primary_key, or force_append_only = 'true' to drop updates and deletes.",
        ));
    }
    interrupt
        .unless_raised(check_topic(
            &planned.options.bootstrap_servers,
            &planned.options.properties,
            &planned.options.topic,
            "the sink",
            false,
            notices,
        ))
        .await?;
    let id = catalog.next_id();
    let entry = CatalogEntry {
        id,
        schema: name.schema,
        name: name.name,
        kind: ObjectKind::Sink,
        definition: create.to_string(),
        depends_on: dependencies(&catalog, &planned.view.written),
    };
    let store = database.store();
    let _writer = store.lock_writes(interrupt).await?;
    maintainer.flush_locked(interrupt)?;
    let latest = store.snapshot();
    let mut write = EpochWrite::default();
    let sink = Arc::new(Sink::create(
        id,
        entry.name.clone(),
        planned.options,
        planned.view.schema.clone(),
        store.clone(),
        &mut write,
    )?);
    let output = Output::Sink(sink.clone());
    let plan = planned.view.plan;
    let target = BackfillTarget {
        id,
        plan: &plan,
        output: &output,
    };
    let dataflow =
        materialized::backfill(context, maintainer, target, &latest, &mut write, interrupt).await?;
    write.put(&keys::catalog_entry(id), &entry.encode());
    store.commit(write)?;
    maintainer.start_readers(id, &plan, &store.snapshot())?;
    maintainer.adopt(id, reference(&entry), plan, dataflow, output);
    sink.start();
    tracing::info!(id, name = %entry.name, "created sink");
    catalog.insert(entry);
    Ok(Outcome::command("CREATE SINK"))
}

/// Commits a new object's catalog entry and makes the object usable.
async fn commit_and_register(
    database: &Database,
    catalog: &mut Catalog,
    entry: CatalogEntry,
) -> Result<()> {
    let mut write = EpochWrite::default();
    write.put(&keys::catalog_entry(entry.id), &entry.encode());
    database.store().commit(write)?;
    register(
        database.context(),
        database.store(),
        database.maintainer(),
        catalog,
        &entry,
    )
    .await?;
    tracing::info!(id = entry.id, name = %entry.name, kind = ?entry.kind, "created");
    catalog.insert(entry);
    Ok(())
}

/// A materialized view to create: its name, its statement, and the definition stored.
struct NewView<'a> {
    name: QualifiedName,
    create: &'a CreateView,
    definition: String,
}

/// Plans, backfills and commits a new materialized view with its catalog entry.
async fn create_materialized(
    database: &Database,
    context: &SessionContext,
    catalog: &mut Catalog,
    new: NewView<'_>,
    interrupt: &Interrupt,
) -> Result<Outcome> {
    let NewView {
        name,
        create,
        definition,
    } = new;
    let id = catalog.next_id();
    let planned = materialized::plan_view(&context.state(), catalog, create).await?;
    let rows = Arc::new(ViewRows::try_new(id, planned.schema.clone())?);
    let entry = CatalogEntry {
        id,
        schema: name.schema,
        name: name.name,
        kind: ObjectKind::MaterializedView,
        definition,
        depends_on: dependencies(catalog, &planned.written),
    };
    let store = database.store();
    let _writer = store.lock_writes(interrupt).await?;
    // Deferred changes reach the existing views first, so that a view backfilled from
    // them sees what its tables hold.
    database.maintainer().flush_locked(interrupt)?;
    let latest = store.snapshot();
    let mut write = EpochWrite::default();
    let output = Output::Rows(rows.clone());
    let target = BackfillTarget {
        id,
        plan: &planned.plan,
        output: &output,
    };
    let dataflow = materialized::backfill(
        context,
        database.maintainer(),
        target,
        &latest,
        &mut write,
        interrupt,
    )
    .await?;
    write.put(&keys::catalog_entry(entry.id), &entry.encode());
    store.commit(write)?;
    let table = MaterializedViewTable::new(rows, store.clone(), entry.name.clone());
    database
        .context()
        .register_table(reference(&entry), Arc::new(table))?;
    database
        .maintainer()
        .start_readers(id, &planned.plan, &store.snapshot())?;
    database
        .maintainer()
        .adopt(id, reference(&entry), planned.plan, dataflow, output);
    tracing::info!(id, name = %entry.name, "created materialized view");
    catalog.insert(entry);
    Ok(Outcome::command("CREATE MATERIALIZED VIEW"))
}

/// The catalog objects `plan` reads.
fn dependencies(catalog: &Catalog, plan: &LogicalPlan) -> Vec<u32> {
    let mut ids = Vec::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let schema = scan.table_name.schema().unwrap_or(DEFAULT_SCHEMA);
            if let Some(entry) = catalog.lookup(schema, scan.table_name.table())
                && !ids.contains(&entry.id)
            {
                ids.push(entry.id);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    ids
}

/// `DROP TABLE` and `DROP VIEW`, with `IF EXISTS` and `CASCADE`.
pub(crate) async fn drop_objects(
    database: &Database,
    kind: ObjectKind,
    names: &[ObjectName],
    if_exists: bool,
    cascade: bool,
    notices: &mut Vec<String>,
    interrupt: &Interrupt,
) -> Result<Outcome> {
    let mut catalog = database.lock_catalog(interrupt).await?;
    let mut doomed: Vec<CatalogEntry> = Vec::new();
    for name in names {
        let name = QualifiedName::resolve(name)?;
        let Some(entry) = catalog.lookup(&name.schema, &name.name) else {
            if if_exists {
                notices.push(format!(
                    "{} \"{}\" does not exist, skipping",
                    kind.describe(),
                    name.name
                ));
                continue;
            }
            return Err(WeirError::new(
                SqlState::UNDEFINED_TABLE,
                format!("{} \"{}\" does not exist", kind.describe(), name.name),
            ));
        };
        if entry.kind != kind {
            return Err(WeirError::new(
                SqlState::WRONG_OBJECT_TYPE,
                format!("\"{}\" is not a {}", entry.name, kind.describe()),
            )
            .with_hint(format!(
                "Use DROP {} to remove a {}.",
                entry.kind.describe().to_uppercase(),
                entry.kind.describe()
            )));
        }
        let dependents = catalog.dependents(entry.id);
        if !dependents.is_empty() && !cascade {
            let detail: Vec<String> = dependents
                .iter()
                .map(|d| {
                    format!(
                        "{} {} depends on {} {}",
                        d.kind.describe(),
                        d.name,
                        kind.describe(),
                        entry.name
                    )
                })
                .collect();
            return Err(WeirError::new(
                SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
                format!(
                    "cannot drop {} {} because other objects depend on it",
                    kind.describe(),
                    entry.name
                ),
            )
            .with_detail(detail.join("\n"))
            .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
        }
        for dependent in dependents {
            if !doomed.iter().any(|d| d.id == dependent.id) {
                notices.push(format!(
                    "drop cascades to {} {}",
                    dependent.kind.describe(),
                    dependent.name
                ));
                doomed.push(dependent.clone());
            }
        }
        if !doomed.iter().any(|d| d.id == entry.id) {
            doomed.push(entry.clone());
        }
    }
    if doomed.is_empty() {
        return Ok(Outcome::command(format!(
            "DROP {}",
            kind.describe().to_uppercase()
        )));
    }
    let mut write = EpochWrite::default();
    for entry in &doomed {
        write.delete(&keys::catalog_entry(entry.id));
        let mut prefixes = vec![keys::table_prefix(entry.id)];
        if matches!(entry.kind, ObjectKind::MaterializedView | ObjectKind::Sink) {
            prefixes.push(keys::object_state_prefix(entry.id));
        }
        if entry.kind != ObjectKind::View {
            // The offsets of the readers a view or sink owns, or of a Kafka-fed table's.
            prefixes.push(keys::source_offsets_prefix(entry.id));
        }
        if entry.kind == ObjectKind::Sink {
            prefixes.push(keys::sink_prefix(entry.id));
        }
        write.delete(&keys::view_failure(entry.id));
        for prefix in prefixes {
            let end = keys::prefix_end(&prefix).expect("object prefixes are never all 0xFF");
            write.delete_range(&prefix, &end);
        }
    }
    let _writer = database.store().lock_writes(interrupt).await?;
    // Deferred changes of a dropped table must not outlive it (its id may be reused).
    database.maintainer().flush_locked(interrupt)?;
    database.store().commit(write)?;
    for entry in doomed {
        database.maintainer().forget(entry.id);
        database.context().deregister_table(reference(&entry))?;
        tracing::info!(id = entry.id, name = %entry.name, "dropped");
        catalog.remove(entry.id);
    }
    Ok(Outcome::command(format!(
        "DROP {}",
        kind.describe().to_uppercase()
    )))
}
