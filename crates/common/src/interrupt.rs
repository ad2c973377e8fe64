//! Stopping a running statement from outside it: a cancel request, `statement_timeout`, or
//! the client going away raise the statement's [`Interrupt`].
//!
//! A statement is never dropped half-way through a write. Instead, what it runs looks at
//! its interrupt at safe points — between batches of a scan, between the views a change
//! flows through, while it waits for a lock — and stops there with 57014, before anything
//! commits. Once a statement's write has begun to commit, it completes and reports
//! success, as a PostgreSQL command that has committed does. Read-only work may simply be
//! dropped when its interrupt is raised.

use std::sync::Arc;

use tokio::sync::watch;

use crate::{SqlState, WeirError};

/// Why a statement was asked to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterruptReason {
    /// The client sent a cancel request.
    Canceled,
    /// The statement ran longer than `statement_timeout`.
    TimedOut,
    /// The client's connection closed; nobody waits for the answer.
    ClientGone,
}

impl InterruptReason {
    /// PostgreSQL's error for a statement stopped for this reason.
    pub fn error(self) -> WeirError {
        match self {
            InterruptReason::Canceled => WeirError::new(
                SqlState::QUERY_CANCELED,
                "canceling statement due to user request",
            ),
            InterruptReason::TimedOut => WeirError::new(
                SqlState::QUERY_CANCELED,
                "canceling statement due to statement timeout",
            ),
            InterruptReason::ClientGone => {
                WeirError::new(SqlState::CONNECTION_FAILURE, "connection to client lost")
            }
        }
    }
}

/// One statement's stop signal, shared by whoever may raise it and whatever checks it.
/// The first reason raised is the one reported.
#[derive(Clone, Debug)]
pub struct Interrupt {
    reason: Arc<watch::Sender<Option<InterruptReason>>>,
}

impl Default for Interrupt {
    fn default() -> Self {
        Interrupt::new()
    }
}

impl Interrupt {
    /// An interrupt not raised yet. Work that no client waits for (a barrier of the
    /// coordinator) is given one that nobody raises.
    pub fn new() -> Interrupt {
        Interrupt {
            reason: Arc::new(watch::Sender::new(None)),
        }
    }

    /// A handle that raises this interrupt while the statement still holds it, and tells
    /// when it no longer does (the statement and its rows are done).
    pub fn downgrade(&self) -> WeakInterrupt {
        WeakInterrupt(Arc::downgrade(&self.reason))
    }

    /// Asks the statement to stop; later reasons are ignored.
    pub fn raise(&self, reason: InterruptReason) {
        self.reason.send_if_modified(|current| {
            let first = current.is_none();
            if first {
                *current = Some(reason);
            }
            first
        });
    }

    pub fn reason(&self) -> Option<InterruptReason> {
        *self.reason.borrow()
    }

    /// The statement's error if it was asked to stop: a safe point's check.
    pub fn check(&self) -> crate::Result<()> {
        match self.reason() {
            Some(reason) => Err(reason.error()),
            None => Ok(()),
        }
    }

    /// Waits until the statement is asked to stop, and returns its error.
    pub async fn raised(&self) -> WeirError {
        let mut receiver = self.reason.subscribe();
        match receiver.wait_for(Option::is_some).await {
            Ok(reason) => reason
                .map(InterruptReason::error)
                .unwrap_or_else(|| WeirError::internal("an interrupt was raised without a reason")),
            // The sender lives in `self`, so it cannot be gone while this waits.
            Err(_) => WeirError::internal("an interrupt's sender was dropped"),
        }
    }

    /// Runs `work` unless the statement is asked to stop first, in which case `work` is
    /// dropped: only for work that writes nothing, such as reading a statement's input or
    /// waiting for a lock.
    pub async fn unless_raised<T>(
        &self,
        work: impl Future<Output = crate::Result<T>>,
    ) -> crate::Result<T> {
        self.check()?;
        tokio::select! {
            biased;
            error = self.raised() => Err(error),
            result = work => result,
        }
    }
}

/// See [`Interrupt::downgrade`].
#[derive(Clone, Debug)]
pub struct WeakInterrupt(std::sync::Weak<watch::Sender<Option<InterruptReason>>>);

impl WeakInterrupt {
    /// The interrupt, unless everything that checks it is gone.
    pub fn upgrade(&self) -> Option<Interrupt> {
        self.0.upgrade().map(|reason| Interrupt { reason })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_reason_is_kept() {
        let interrupt = Interrupt::new();
        assert!(interrupt.check().is_ok());
        interrupt.raise(InterruptReason::TimedOut);
        interrupt.raise(InterruptReason::Canceled);
        let error = interrupt.check().unwrap_err();
        assert_eq!(error.state, SqlState::QUERY_CANCELED);
        assert_eq!(
            error.message,
            "canceling statement due to statement timeout"
        );
    }

    #[tokio::test]
    async fn waiting_work_stops_when_raised() {
        let interrupt = Interrupt::new();
        let raiser = interrupt.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            raiser.raise(InterruptReason::Canceled);
        });
        let never = std::future::pending::<crate::Result<()>>();
        let error = interrupt.unless_raised(never).await.unwrap_err();
        assert_eq!(error.message, "canceling statement due to user request");
    }
}
