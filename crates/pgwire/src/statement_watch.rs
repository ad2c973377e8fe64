//! Watching a running statement for the three things that stop it from outside: a cancel
//! request for its connection, its `statement_timeout`, and its client going away.
//!
//! Each statement gets an [`Interrupt`] and a watcher task beside it, on the connection
//! runtime. The watcher raises the interrupt at once when a cancel request arrives or the
//! deadline passes, and looks at the client's socket every [`CHECK_INTERVAL`]; it ends as
//! soon as the statement and its rows are done (nothing holds the interrupt any longer).
//! How the statement then stops is `weir_common::Interrupt`'s business.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use futures::channel::oneshot;
use pgwire::api::{ClientInfo, ConnectionGuard, ConnectionHandle, ConnectionManager};
use rustix::event::{PollFd, PollFlags, Timespec};
use tokio::time::Instant;
use weir_common::{Interrupt, InterruptReason, WeakInterrupt};

/// How often a running statement's client socket is looked at, and how soon a watcher
/// notices that its statement is done.
const CHECK_INTERVAL: Duration = Duration::from_millis(20);

/// A second handle on a client's socket, kept in the connection's session extensions, to
/// see whether the client has gone while the connection itself is busy with a statement.
pub(crate) struct ClientSocket(OwnedFd);

impl ClientSocket {
    pub fn of(socket: &tokio::net::TcpStream) -> io::Result<ClientSocket> {
        Ok(ClientSocket(socket.as_fd().try_clone_to_owned()?))
    }

    /// Whether the client closed its end (even with messages it sent before still unread,
    /// as PostgreSQL's `client_connection_check_interval` sees it) or the connection broke.
    fn is_gone(&self) -> bool {
        let gone = PollFlags::RDHUP | PollFlags::HUP | PollFlags::ERR;
        let mut fds = [PollFd::new(&self.0, PollFlags::RDHUP)];
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        match rustix::event::poll(&mut fds, Some(&now)) {
            Ok(0) => false,
            Ok(_) => fds[0].revents().intersects(gone),
            Err(_) => false,
        }
    }
}

/// A connection's cancel signal, fired by a cancel request naming its process id and
/// secret key. It is kept where pgwire does not look for one: pgwire would drop the
/// running statement at a cancel request, whatever it was in the middle of, where weir
/// lets the statement stop at a safe point.
struct CancelSignal(Arc<ConnectionHandle>);

/// Makes `client`, once logged in, the target of cancel requests with its process id
/// and secret key, until the connection ends.
pub(crate) fn register_for_cancel<C: ClientInfo>(client: &C, connections: &Arc<ConnectionManager>) {
    let (pid, secret_key) = client.pid_and_secret_key();
    let (handle, guard) = connections.register(pid, secret_key);
    let extensions = client.session_extensions();
    extensions.insert(CancelSignal(handle));
    extensions.insert::<ConnectionGuard>(guard);
}

/// Starts watching the statement `client` is about to run, with `timeout` as its
/// `statement_timeout`; returns the statement's interrupt.
pub(crate) async fn watch_statement<C: ClientInfo>(
    client: &C,
    timeout: Option<Duration>,
) -> Interrupt {
    let interrupt = Interrupt::new();
    let extensions = client.session_extensions();
    let cancel = match extensions.get::<CancelSignal>() {
        Some(signal) => Some(signal.0.start_query().await),
        None => None,
    };
    let watcher = Watcher {
        statement: interrupt.downgrade(),
        cancel,
        socket: extensions.get::<ClientSocket>(),
        deadline: timeout.map(|timeout| Instant::now() + timeout),
    };
    tokio::spawn(watcher.run());
    interrupt
}

struct Watcher {
    statement: WeakInterrupt,
    /// Fires on a cancel request; `None` once it cannot (the next statement took over).
    cancel: Option<oneshot::Receiver<()>>,
    socket: Option<Arc<ClientSocket>>,
    deadline: Option<Instant>,
}

impl Watcher {
    async fn run(mut self) {
        let mut checks = tokio::time::interval(CHECK_INTERVAL);
        checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let reason = tokio::select! {
                canceled = canceled(&mut self.cancel) => canceled.then_some(InterruptReason::Canceled),
                () = passed(self.deadline) => Some(InterruptReason::TimedOut),
                _ = checks.tick() => None,
            };
            let Some(interrupt) = self.statement.upgrade() else {
                return;
            };
            let reason = reason.or_else(|| {
                let gone = self.socket.as_ref().is_some_and(|socket| socket.is_gone());
                gone.then_some(InterruptReason::ClientGone)
            });
            if let Some(reason) = reason {
                tracing::debug!(?reason, "interrupting the statement");
                interrupt.raise(reason);
                return;
            }
        }
    }
}

/// Whether a cancel request came: `true` when it did, `false` (and no more waiting) when
/// the connection's next statement took the cancel signal over.
async fn canceled(cancel: &mut Option<oneshot::Receiver<()>>) -> bool {
    let Some(receiver) = cancel else {
        return std::future::pending().await;
    };
    let came = receiver.await.is_ok();
    *cancel = None;
    came
}

/// Completes when `deadline` passes; never without one.
async fn passed(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
