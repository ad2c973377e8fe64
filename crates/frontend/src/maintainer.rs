//! Keeps every materialized view equal to its query as tables change.
//!
//! Each view runs a [`Dataflow`] of its stream plan. A statement's changes to a table
//! reach the maintainer before they commit, under the store's write lock: the views that
//! read the table compute their own changes, which flow on to the views that read those
//! views, in creation order (a view only reads older objects). The views' new rows and
//! their operators' state go into the same write as the table change, so the statement,
//! every view it affects and all their state commit as one epoch. A view is therefore
//! current when the statement returns (an implicit flush), and every `SELECT` sees all
//! views at one epoch.
//!
//! A session with `implicit_flush` off commits its table changes with the changes
//! themselves stored as pending (see [`PendingChanges`]) instead; the next barrier — the
//! coordinator's tick, `FLUSH`, DDL, or any statement that maintains views at once —
//! applies all pending changes in commit order first, in the write that deletes them.
//! Until then the views lag behind those tables, but never behind one another.
//!
//! Barriers also take what Kafka sources' readers have read (see `crate::sources`) and
//! commit it with the views' changes.
//!
//! A change that one view cannot take — its aggregate overflows, its operator fails or
//! panics — fails that view alone (see `weir_storage::ViewFailure`): the failure is
//! committed with the epoch, the view and the views and sinks that read it are no longer
//! maintained, and reading it answers with the failure; every other table and view goes
//! on. A statement's own change is never refused for a view's sake, as PostgreSQL never
//! refuses a write because of a materialized view over the table. Only a storage error
//! (a full disk, a failed read) fails the statement, or the barrier, as a whole.
//!
//! If anything fails before the commit, the dataflows are rebuilt from the last committed
//! state before they take another change, so memory never runs ahead of disk. That is
//! also how a statement's [`Interrupt`] stops maintenance: changes go through the
//! dataflows in pieces of [`ROWS_PER_PUSH`] rows, the interrupt is looked at before each,
//! and a raised one fails the statement (never a view) before anything commits. The
//! rebuild runs on a thread of its own, without the views' lock; a change that reaches
//! the views meanwhile waits for it, and its interrupt stops that wait too.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::Duration;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::TableReference;
use weir_common::{Interrupt, Result, SqlState, StreamChunk, WeirError};
use weir_planner::StreamPlan;
use weir_storage::{
    ChangeObserver, EpochWrite, PendingChange, PendingChanges, ReadSnapshot, Store, StoredTable,
    ViewFailure, ViewRows,
};
use weir_stream::Dataflow;

use crate::sinks::{Sink, SinkReport};
use crate::sources::{ReaderStatus, SourceDefinition, Sources, Taken};
use crate::view_errors::ErrorLog;

/// The most rows pushed through a dataflow at once, so that an interrupt is looked at
/// often enough during a large change or a backfill.
const ROWS_PER_PUSH: usize = 8_192;

/// How often a change waiting for stale dataflows' rebuild looks at its interrupt.
const REBUILD_WAIT_CHECK: Duration = Duration::from_millis(10);

/// Changes of one relation for the views that read it (`only_view`: for that view alone,
/// as a source's reader reads for one view).
#[derive(Clone)]
pub(crate) struct Input {
    pub relation: TableReference,
    pub only_view: Option<u32>,
    pub changes: StreamChunk,
}

impl Input {
    fn for_all(relation: TableReference, changes: StreamChunk) -> Input {
        Input {
            relation,
            only_view: None,
            changes,
        }
    }
}

/// Where a maintained query's changes go.
#[derive(Clone)]
pub(crate) enum Output {
    /// A materialized view's stored rows.
    Rows(Arc<ViewRows>),
    /// A sink's outbox.
    Sink(Arc<Sink>),
}

impl Output {
    fn apply(
        &self,
        changes: &[StreamChunk],
        schema: &SchemaRef,
        latest: &ReadSnapshot,
        write: &mut EpochWrite,
    ) -> Result<()> {
        match self {
            Output::Rows(rows) => rows.apply(changes, latest, write),
            Output::Sink(sink) => sink.apply(&StreamChunk::concat(schema, changes)?, write),
        }
    }
}

/// What a backfill computes: the new view's (or sink's) id, its plan, and where its rows go.
pub(crate) struct BackfillTarget<'a> {
    pub id: u32,
    pub plan: &'a StreamPlan,
    pub output: &'a Output,
}

/// One maintained view or sink.
struct View {
    id: u32,
    reference: TableReference,
    plan: StreamPlan,
    /// `None` while a rebuild replaces it: a stale dataflow is never used again, so it is
    /// freed before its replacement is built rather than beside it.
    dataflow: Option<Dataflow>,
    output: Output,
    /// Why the view is no longer maintained, if it failed.
    failure: Option<ViewFailure>,
}

struct Views {
    /// In creation order.
    views: Vec<View>,
    /// Stored relation id → the name dataflows know it by.
    relations: HashMap<u32, TableReference>,
    errors: ErrorLog,
    /// Whether the dataflows may hold part of a change that did not commit (a failed or
    /// stopped statement's). They are rebuilt from the committed state before they take
    /// their next change, not by the statement that failed, whose answer must not wait
    /// for a rebuild (seconds for a view of a million rows).
    stale: bool,
    /// How many rebuilds ([`Maintainer::rebuild`]) have started, one at a time, and the
    /// number and error of the last one that failed (a storage error). A change that
    /// waited for that rebuild fails with its error; the next change starts another.
    rebuilds: u64,
    rebuild_failed: Option<(u64, WeirError)>,
}

impl Views {
    /// Whether a rebuild of the stale dataflows is running: the last one started has
    /// neither ended them being stale nor failed.
    fn rebuilding(&self) -> bool {
        self.stale && self.rebuild_failed.as_ref().map(|(failed, _)| *failed) != Some(self.rebuilds)
    }
}

pub(crate) struct Maintainer {
    store: Arc<Store>,
    views: Mutex<Views>,
    /// Notified when a rebuild of stale dataflows ends.
    rebuilt: Condvar,
    sources: Mutex<Sources>,
    /// For the thread that rebuilds stale dataflows.
    itself: Weak<Maintainer>,
}

impl std::fmt::Debug for Maintainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Maintainer").finish()
    }
}

impl Maintainer {
    /// A maintainer of the views in `store`, keeping the latest `max_dead_letters` records
    /// sources could not decode.
    pub fn new(store: Arc<Store>, max_dead_letters: u64) -> Result<Arc<Self>> {
        let snapshot = store.snapshot();
        let errors = ErrorLog::open(&snapshot)?;
        let sources = Sources::open(&snapshot, max_dead_letters)?;
        Ok(Arc::new_cyclic(|itself| Maintainer {
            store,
            views: Mutex::new(Views {
                views: Vec::new(),
                relations: HashMap::new(),
                errors,
                stale: false,
                rebuilds: 0,
                rebuild_failed: None,
            }),
            rebuilt: Condvar::new(),
            sources: Mutex::new(sources),
            itself: itself.clone(),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Views> {
        self.views
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn sources(&self) -> MutexGuard<'_, Sources> {
        self.sources
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes the source `id` known, for the views that will read it.
    pub fn define_source(&self, id: u32, definition: SourceDefinition) {
        self.sources().define(id, definition);
    }

    /// Starts the readers of the sources view `id` reads, from the offsets committed as of
    /// `snapshot`.
    pub fn start_readers(&self, id: u32, plan: &StreamPlan, snapshot: &ReadSnapshot) -> Result<()> {
        let relations: Vec<(u32, TableReference)> = {
            let views = self.lock();
            views
                .relations
                .iter()
                .filter(|(_, reference)| plan.sources().contains(reference))
                .map(|(id, reference)| (*id, reference.clone()))
                .collect()
        };
        let mut sources = self.sources();
        for (source, relation) in relations {
            if sources.is_source(source) {
                sources.start_reader(id, source, relation, snapshot)?;
            }
        }
        Ok(())
    }

    /// Starts the reader that feeds the Kafka-fed table `table`, known as `relation`.
    pub fn start_table_reader(
        &self,
        relation: TableReference,
        definition: &SourceDefinition,
        table: Arc<StoredTable>,
    ) -> Result<()> {
        let snapshot = self.store.snapshot();
        self.sources()
            .start_table_reader(relation, definition, table, &snapshot)
    }

    /// Every source reader's partitions.
    pub fn source_status(&self) -> Vec<ReaderStatus> {
        self.sources().status()
    }

    /// Makes the relation `id` known by `reference` to the views that read it.
    pub fn name_relation(&self, id: u32, reference: TableReference) {
        self.lock().relations.insert(id, reference);
    }

    /// Starts maintaining a view or sink whose state is already stored (at start-up).
    pub fn resume(
        &self,
        id: u32,
        reference: TableReference,
        plan: StreamPlan,
        output: Output,
    ) -> Result<()> {
        let snapshot = self.store.snapshot();
        let dataflow = Dataflow::new(id, plan.clone(), &snapshot)?;
        self.start_readers(id, &plan, &snapshot)?;
        let failure = ViewFailure::read(id, &snapshot)?;
        self.insert(View {
            id,
            reference,
            plan,
            dataflow: Some(dataflow),
            output,
            failure,
        });
        Ok(())
    }

    /// Whether the changes of `plan` can only ever be inserts: it reads only sources and
    /// append-only views, through operators that never retract what they sent.
    pub fn is_append_only(&self, plan: &StreamPlan) -> bool {
        let views = self.lock();
        let sources = self.sources();
        let ids: HashMap<&TableReference, u32> = views
            .relations
            .iter()
            .map(|(id, reference)| (reference, *id))
            .collect();
        is_append_only(plan, &views.views, &ids, &sources)
    }

    /// Every sink's delivery.
    pub fn sink_reports(&self) -> Vec<SinkReport> {
        self.lock()
            .views
            .iter()
            .filter_map(|view| match &view.output {
                Output::Sink(sink) => Some(sink.report()),
                Output::Rows(_) => None,
            })
            .collect()
    }

    /// Creates a view's (or sink's) dataflow and computes its rows from `inputs` (each
    /// source relation's rows at `latest`, as inserts), adding its output and state to
    /// `write`. Once the caller has committed `write`, [`Maintainer::adopt`] starts
    /// maintaining it.
    ///
    /// The computation runs on a thread of its own and returns at once when `interrupt`
    /// is raised. The abandoned computation touches nothing shared: it stops at its next
    /// piece, or before it writes its rows, and frees what it built there. Both can take
    /// long on a large view (a rehash of a join's state, or freeing millions of entries,
    /// took up to 2 s), and the client's answer does not wait for either.
    pub async fn backfill(
        &self,
        target: BackfillTarget<'_>,
        inputs: Vec<(TableReference, StreamChunk)>,
        latest: &ReadSnapshot,
        write: &mut EpochWrite,
        interrupt: &Interrupt,
    ) -> Result<Dataflow> {
        let BackfillTarget { id, plan, output } = target;
        let mut dataflow = Dataflow::new(id, plan.clone(), latest)?;
        let output = output.clone();
        let latest = latest.clone();
        let stop = interrupt.clone();
        let mut computed = std::mem::take(write);
        let computation = tokio::task::spawn_blocking(move || {
            contain_panics(|| {
                let mut changes = vec![dataflow.initial()?];
                for (relation, chunk) in &inputs {
                    for piece in chunk.pieces(ROWS_PER_PUSH) {
                        stop.check()?;
                        changes.push(dataflow.push(relation, &piece)?);
                    }
                }
                stop.check()?;
                output.apply(&changes, &dataflow.schema(), &latest, &mut computed)?;
                dataflow.persist(&mut computed)
            })
            .map(|()| (dataflow, computed))
        });
        let (mut dataflow, computed) = interrupt
            .unless_raised(async {
                computation.await.map_err(|error| {
                    WeirError::internal(format!("a backfill's computation ended: {error}"))
                })?
            })
            .await?;
        *write = computed;
        self.lock().errors.record(id, dataflow.take_errors(), write);
        Ok(dataflow)
    }

    /// Maintains a view created by [`Maintainer::backfill`] once its write committed.
    pub fn adopt(
        &self,
        id: u32,
        reference: TableReference,
        plan: StreamPlan,
        dataflow: Dataflow,
        output: Output,
    ) {
        self.insert(View {
            id,
            reference,
            plan,
            dataflow: Some(dataflow),
            output,
            failure: None,
        });
    }

    fn insert(&self, view: View) {
        let mut views = self.lock();
        views.relations.insert(view.id, view.reference.clone());
        views.views.push(view);
    }

    /// Stops maintaining (and forgets the name of) a dropped object.
    pub fn forget(&self, id: u32) {
        let mut views = self.lock();
        views.views.retain(|view| view.id != id);
        views.relations.remove(&id);
        self.sources().forget(id);
    }

    /// Applies every deferred change and what the sources' readers have read to the views
    /// and commits the result as one epoch: a barrier. Returns once everything committed
    /// before it reached the views.
    /// Stops before it commits if `interrupt` is raised.
    pub async fn flush(&self, interrupt: &Interrupt) -> Result<()> {
        let _writer = self.store.lock_writes(interrupt).await?;
        self.flush_locked(interrupt)
    }

    /// [`Maintainer::flush`] for a caller that holds the store's write lock.
    pub fn flush_locked(&self, interrupt: &Interrupt) -> Result<()> {
        let latest = self.store.snapshot();
        let pending = PendingChanges::read(&latest)?;
        let mut write = EpochWrite::default();
        let (taken, read) = self.sources().take(&latest, &mut write)?;
        if pending.is_empty() && taken.is_empty() {
            return Ok(());
        }
        // No early return from here: what was taken is committed or restored below.
        let applied = self.current_views(interrupt).and_then(|mut views| {
            let mut inputs = take_pending(&views, pending, &mut write);
            inputs.extend(read);
            self.apply(&mut views, &inputs, &latest, &mut write, interrupt)
        });
        let committed = applied.and_then(|()| {
            self.store
                .commit(write)
                .map(|_| ())
                .inspect_err(|_| self.abandoned())
        });
        match committed {
            Ok(()) => taken.into_iter().for_each(Taken::committed),
            Err(_) => taken.into_iter().for_each(Taken::restore),
        }
        committed
    }

    /// Sends `inputs` through the views (whose dataflows are not stale); on failure marks
    /// them stale.
    fn apply(
        &self,
        views: &mut Views,
        inputs: &[Input],
        latest: &ReadSnapshot,
        write: &mut EpochWrite,
        interrupt: &Interrupt,
    ) -> Result<()> {
        if inputs.is_empty() {
            return Ok(());
        }
        let Views {
            views: list,
            errors,
            ..
        } = views;
        let result = contain_panics(|| propagate(list, errors, inputs, latest, write, interrupt));
        if result.is_err() {
            self.mark_stale(views);
        }
        result
    }

    /// The views, locked, once their dataflows are not stale: waits for their rebuild
    /// (starting one if none runs) until it ends or `interrupt` is raised.
    fn current_views(&self, interrupt: &Interrupt) -> Result<MutexGuard<'_, Views>> {
        let mut views = self.lock();
        let mut awaited = None;
        while views.stale {
            if !views.rebuilding() {
                match &views.rebuild_failed {
                    Some((failed, error)) if awaited == Some(*failed) => return Err(error.clone()),
                    _ => self.start_rebuild(&mut views),
                }
            }
            awaited = Some(views.rebuilds);
            interrupt.check()?;
            views = self
                .rebuilt
                .wait_timeout(views, REBUILD_WAIT_CHECK)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        Ok(views)
    }

    /// Marks the dataflows stale and starts rebuilding them, so that the rebuild is likely
    /// done before the next change comes.
    fn mark_stale(&self, views: &mut Views) {
        if !views.stale {
            views.stale = true;
            self.start_rebuild(views);
        }
    }

    /// Starts [`Maintainer::rebuild`] on a thread of its own.
    fn start_rebuild(&self, views: &mut Views) {
        views.rebuilds += 1;
        let attempt = views.rebuilds;
        let itself = self.itself.clone();
        let rebuild = move || {
            if let Some(maintainer) = itself.upgrade() {
                maintainer.rebuild(attempt);
            }
        };
        if let Err(error) = std::thread::Builder::new()
            .name("weir-rebuild-dataflows".into())
            .spawn(rebuild)
        {
            let error = WeirError::internal(format!("could not start a rebuild: {error}"));
            views.rebuild_failed = Some((attempt, error));
        }
    }

    /// Rebuilds every dataflow, and which views failed, from the last committed state,
    /// holding the views' lock only to take their plans and old dataflows and to put the
    /// new ones in. That is safe because nothing commits a view's state meanwhile: every
    /// change waits for the rebuild ([`Maintainer::current_views`]), and a view created
    /// meanwhile was built from committed state and is left as it is. The old dataflows
    /// are freed first, outside the lock (that took seconds too).
    fn rebuild(&self, attempt: u64) {
        let (plans, old): (Vec<(u32, StreamPlan)>, Vec<Option<Dataflow>>) = self
            .lock()
            .views
            .iter_mut()
            .map(|view| ((view.id, view.plan.clone()), view.dataflow.take()))
            .unzip();
        drop(old);
        let snapshot = self.store.snapshot();
        let built = contain_panics(|| {
            plans
                .into_iter()
                .map(|(id, plan)| {
                    let dataflow = Dataflow::new(id, plan, &snapshot)?;
                    Ok((id, (dataflow, ViewFailure::read(id, &snapshot)?)))
                })
                .collect::<Result<HashMap<u32, _>>>()
        });
        // Those of views dropped meanwhile, freed after the lock.
        let mut unused = HashMap::new();
        {
            let mut views = self.lock();
            match built {
                Ok(mut built) => {
                    for view in &mut views.views {
                        if let Some((dataflow, failure)) = built.remove(&view.id) {
                            view.dataflow = Some(dataflow);
                            view.failure = failure;
                        }
                    }
                    unused = built;
                    views.stale = false;
                    views.rebuild_failed = None;
                }
                Err(error) => {
                    tracing::error!(%error, "could not rebuild stale materialized views");
                    views.rebuild_failed = Some((attempt, error));
                }
            }
        }
        self.rebuilt.notify_all();
        drop(unused);
    }
}

impl ChangeObserver for Maintainer {
    fn observes(&self, table_id: u32) -> bool {
        let views = self.lock();
        let Some(reference) = views.relations.get(&table_id) else {
            return false;
        };
        views
            .views
            .iter()
            .any(|view| view.plan.sources().contains(&reference))
    }

    fn changed(
        &self,
        table_id: u32,
        changes: &StreamChunk,
        latest: &ReadSnapshot,
        write: &mut EpochWrite,
        interrupt: &Interrupt,
    ) -> Result<()> {
        // Changes other sessions deferred go first, so that views see every change in
        // commit order.
        let mut views = self.current_views(interrupt)?;
        let mut inputs = take_pending(&views, PendingChanges::read(latest)?, write);
        if let Some(table) = views.relations.get(&table_id) {
            inputs.push(Input::for_all(table.clone(), changes.clone()));
        }
        self.apply(&mut views, &inputs, latest, write, interrupt)
    }

    fn abandoned(&self) {
        self.mark_stale(&mut self.lock());
    }
}

/// The changes of `pending` (oldest first) as inputs for the views, their keys deleted in
/// `write`; changes of tables dropped since are dropped with them.
fn take_pending(views: &Views, pending: Vec<PendingChange>, write: &mut EpochWrite) -> Vec<Input> {
    let mut inputs = Vec::new();
    for change in pending {
        write.delete(&change.key);
        if let Some(table) = views.relations.get(&change.table_id) {
            inputs.push(Input::for_all(table.clone(), change.changes));
        }
    }
    inputs
}

/// Runs operator code, turning a panic (a bug) into an internal error of the statement, so
/// that one bad view fails the statements that reach it, not the server; the caller then
/// has the dataflows rebuilt from the committed state.
fn contain_panics<T>(work: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(ToString::to_string)
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".to_owned());
        Err(WeirError::internal(format!(
            "a materialized view's operator failed: {message}"
        )))
    })
}

/// Sends `inputs` (changes of tables, in order) through every view that reads them, and
/// those views' changes through the views that read them. Each view's new rows are
/// written once, from all its changes together. A view that cannot take its changes
/// fails (see the module doc), and so does every view that reads a failed one.
fn propagate(
    views: &mut [View],
    errors: &mut ErrorLog,
    inputs: &[Input],
    latest: &ReadSnapshot,
    write: &mut EpochWrite,
    interrupt: &Interrupt,
) -> Result<()> {
    let mut pending: Vec<Input> = inputs.to_vec();
    let mut failed: Vec<(TableReference, ViewFailure)> = views
        .iter()
        .filter_map(|view| Some((view.reference.clone(), view.failure.clone()?)))
        .collect();
    for view in views.iter_mut() {
        if view.failure.is_some() {
            continue;
        }
        let Some(dataflow) = view.dataflow.as_mut() else {
            return Err(WeirError::internal(format!(
                "the dataflow of \"{}\" is being rebuilt",
                view.reference
            )));
        };
        let sources = view.plan.sources().into_iter().cloned().collect::<Vec<_>>();
        let pushed = match failed.iter().find(|(name, _)| sources.contains(name)) {
            Some((source, failure)) => Err(WeirError::new(
                failure.state,
                format!("it reads \"{source}\", which failed: {}", failure.message),
            )),
            None => contain_panics(|| {
                let mut out = Vec::new();
                for input in &pending {
                    if sources.contains(&input.relation)
                        && input.only_view.is_none_or(|only| only == view.id)
                    {
                        for piece in input.changes.pieces(ROWS_PER_PUSH) {
                            interrupt.check()?;
                            out.push(dataflow.push(&input.relation, &piece)?);
                        }
                    }
                }
                Ok(out)
            }),
        };
        let out = match pushed {
            Ok(out) => out,
            Err(error) if fails_the_statement(&error) => return Err(error),
            Err(error) => {
                failed.push((view.reference.clone(), fail(view, &error, write)));
                continue;
            }
        };
        if out.is_empty() {
            continue;
        }
        let schema = dataflow.schema();
        view.output.apply(&out, &schema, latest, write)?;
        dataflow.persist(write)?;
        errors.record(view.id, dataflow.take_errors(), write);
        let delta = StreamChunk::concat(&schema, &out)?;
        if !delta.is_empty() {
            pending.push(Input::for_all(view.reference.clone(), delta));
        }
    }
    Ok(())
}

/// Stops maintaining `view`, storing why in `write`, and returns why. Its dataflow may hold
/// part of the failed change; it is not used again (and is rebuilt if `write` does not
/// commit).
fn fail(view: &mut View, error: &WeirError, write: &mut EpochWrite) -> ViewFailure {
    tracing::error!(view = %view.reference, %error, "materialized view failed; it is no longer maintained");
    let failure = ViewFailure::of(error);
    failure.record(view.id, write);
    view.failure = Some(failure.clone());
    failure
}

/// Whether `error` comes from the disk or from the statement's interrupt rather than from
/// the view: the statement (or barrier) fails and is tried again, the view does not.
fn fails_the_statement(error: &WeirError) -> bool {
    [
        SqlState::DISK_FULL,
        SqlState::IO_ERROR,
        SqlState::QUERY_CANCELED,
        SqlState::CONNECTION_FAILURE,
    ]
    .contains(&error.state)
}

/// See [`Maintainer::is_append_only`]; `ids` are the relations' ids by name.
fn is_append_only(
    plan: &StreamPlan,
    views: &[View],
    ids: &HashMap<&TableReference, u32>,
    sources: &Sources,
) -> bool {
    plan.is_append_only(&|relation| {
        let Some(id) = ids.get(relation) else {
            return false;
        };
        sources.is_source(*id)
            || views
                .iter()
                .find(|view| view.id == *id)
                .is_some_and(|view| is_append_only(&view.plan, views, ids, sources))
    })
}
