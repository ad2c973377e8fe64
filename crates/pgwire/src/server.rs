//! Accepting connections and serving each on its own task.

use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::net::TcpListener;
use weir_frontend::Database;

use crate::handlers::WeirHandlers;

/// How clients prove who they are.
#[derive(Clone, Debug)]
pub enum Authentication {
    /// Any user name is accepted without a password.
    Trust,
    /// The password, sent by the client in cleartext.
    Cleartext { password: String },
    /// The password, checked with SCRAM-SHA-256.
    Scram { password: String },
}

pub struct Server {
    listener: TcpListener,
    handlers: Arc<WeirHandlers>,
}

impl Server {
    /// Binds `address`; fails if it is in use.
    pub async fn bind(
        address: &str,
        database: Arc<Database>,
        authentication: Authentication,
    ) -> std::io::Result<Server> {
        let listener = TcpListener::bind(address).await?;
        Ok(Server {
            listener,
            handlers: Arc::new(WeirHandlers::new(database, authentication)),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves connections until `shutdown` completes. A connection's failure ends only
    /// that connection.
    ///
    /// A boxed future, built here: an async function's body is compiled again in every
    /// crate that awaits it, and this one holds the whole server.
    #[inline(never)]
    pub fn run(self, shutdown: BoxFuture<'static, ()>) -> BoxFuture<'static, ()> {
        Box::pin(self.serve_until(shutdown))
    }

    async fn serve_until(self, mut shutdown: BoxFuture<'static, ()>) {
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((socket, peer)) => {
                        let _ = socket.set_nodelay(true);
                        let handlers = self.handlers.clone();
                        tokio::spawn(async move {
                            tracing::debug!(%peer, "connection opened");
                            if let Err(error) = crate::connection::serve(socket, handlers).await {
                                tracing::debug!(%peer, %error, "connection ended with an error");
                            }
                            tracing::debug!(%peer, "connection closed");
                        });
                    }
                    Err(error) => {
                        // Out of file descriptors and the like: keep serving the others.
                        tracing::warn!(%error, "could not accept a connection");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                },
            }
        }
    }
}
