//! Taking a connection's session for its next message, and watching the statement that
//! message runs (see `statement_watch`).
//!
//! The session is busy when a message comes only while work the client was already
//! answered for ends on the executor (an abandoned parse, Parse or query, see
//! `early_answer`). The next message waits for it, watched as its statement is: a cancel
//! request, the `statement_timeout` in effect (as the connection's last statement left
//! it) or the client going away answers 57014 at once, as PostgreSQL answers a statement
//! stopped at any point. Its transaction block then fails, once the session is free, so
//! the client's answer and the session agree.

use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use pgwire::api::ClientInfo;
use tokio::sync::{Mutex, OwnedMutexGuard};
use weir_common::{Interrupt, WeirError};
use weir_frontend::Session;

use crate::statement_watch::watch_statement;

/// The `statement_timeout` of the connection's last statement, for a message that must
/// wait for the session before it can read the setting.
#[derive(Default)]
struct LastStatementTimeout(StdMutex<Option<Duration>>);

/// The session, and the interrupt of the statement the message runs (watched from the
/// moment the message came).
pub(crate) async fn lock_session<C: ClientInfo>(
    client: &C,
    session: Arc<Mutex<Session>>,
) -> Result<(OwnedMutexGuard<Session>, Interrupt), WeirError> {
    if let Ok(guard) = session.clone().try_lock_owned() {
        let interrupt = watch_session_statement(client, &guard).await;
        return Ok((guard, interrupt));
    }
    let interrupt = watch_statement(client, last_statement_timeout(client)).await;
    let mut acquire = Box::pin(session.lock_owned());
    tokio::select! {
        biased;
        guard = &mut acquire => Ok((guard, interrupt)),
        error = interrupt.raised() => {
            // Keeps the message's place in the session's queue.
            tokio::spawn(async move { acquire.await.fail_transaction() });
            Err(error)
        }
    }
}

/// Starts watching the statement `client` is about to run in `session` (see
/// `watch_statement`), with the session's `statement_timeout`.
pub(crate) async fn watch_session_statement<C: ClientInfo>(
    client: &C,
    session: &Session,
) -> Interrupt {
    let timeout = session.settings().statement_timeout();
    let extensions = client.session_extensions();
    let last = extensions.get_or_insert_with(LastStatementTimeout::default);
    *last
        .0
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = timeout;
    watch_statement(client, timeout).await
}

fn last_statement_timeout<C: ClientInfo>(client: &C) -> Option<Duration> {
    let last = client.session_extensions().get::<LastStatementTimeout>()?;
    *last
        .0
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
