//! Answering a stopped statement before its work ends, where that work has no effects
//! (a parse, planning a statement for the extended protocol's Parse, or planning a query
//! up to the stream of its rows).
//!
//! Exactly one side decides what the client hears: the work, if it finishes first, or
//! the interrupt, if it is raised first. Whichever claims the answer first wins; a work
//! that lost gets its result handed to `abandoned` on the executor (to fail the
//! transaction block the client was told had failed), so the client's answer and the
//! session's state never disagree.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::OwnedMutexGuard;
use weir_common::{Interrupt, WeirError};
use weir_frontend::{QueryExecutor, Session};

/// `work`'s result, run on `executor`, or `interrupt`'s error as soon as it is raised
/// before `work` has finished; then `abandoned` gets `work`'s result when it comes.
pub(crate) async fn unless_interrupted<T: Send + 'static>(
    executor: &QueryExecutor,
    interrupt: &Interrupt,
    work: impl Future<Output = T> + Send + 'static,
    abandoned: impl FnOnce(T) + Send + 'static,
) -> Result<T, WeirError> {
    let answered = Arc::new(AtomicBool::new(false));
    let claim = answered.clone();
    let task = executor.run(async move {
        let value = work.await;
        match claim.swap(true, Ordering::AcqRel) {
            true => {
                abandoned(value);
                None
            }
            false => Some(value),
        }
    });
    tokio::pin!(task);
    tokio::select! {
        biased;
        value = &mut task => value.ok_or_else(|| interrupt_error(interrupt)),
        error = interrupt.raised() => match answered.swap(true, Ordering::AcqRel) {
            false => Err(error),
            // The work claimed the answer first: its result is on its way.
            true => task.await.ok_or(error),
        },
    }
}

/// Runs a statement's `work` (which returns the session's guard) on `executor`: a query,
/// which changes nothing, is answered at once when `interrupt` is raised, even while it is
/// planned, the abandoned work failing the transaction block when it ends; any other
/// statement stops at its own safe points, and its result is always the work's.
pub(crate) async fn run_statement<T: Send + 'static>(
    executor: &QueryExecutor,
    interrupt: &Interrupt,
    only_reads: bool,
    work: impl Future<Output = (OwnedMutexGuard<Session>, T)> + Send + 'static,
) -> Result<(OwnedMutexGuard<Session>, T), WeirError> {
    match only_reads {
        true => unless_interrupted(executor, interrupt, work, abandoned).await,
        false => Ok(executor.run(work).await),
    }
}

/// What becomes of a session whose statement was answered before its work ended, for
/// work that returns the session's guard: the transaction block the client was told had
/// failed fails.
pub(crate) fn abandoned<T>((mut guard, _): (OwnedMutexGuard<Session>, T)) {
    guard.fail_transaction();
}

fn interrupt_error(interrupt: &Interrupt) -> WeirError {
    match interrupt.check() {
        Err(error) => error,
        Ok(()) => WeirError::internal("a statement's answer was claimed twice"),
    }
}
