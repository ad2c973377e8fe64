//! The handlers pgwire calls, and what the simple and extended protocols share: finding
//! the connection's session, running a statement under its timeout, and passing the
//! session's notices and setting changes to the client.

use std::fmt::Debug;
use std::sync::Arc;

use futures::{Sink, SinkExt};
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::{ClientInfo, ConnectionManager, PgWireServerHandlers};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::startup::ParameterStatus;
use tokio::sync::Mutex;
use weir_frontend::{Database, Session, Settings};

use crate::errors::notice;
use crate::server::Authentication;
use crate::startup::{Credentials, WeirStartup};

/// Serves the simple and the extended query protocol for every connection.
pub(crate) struct QueryHandler {
    pub database: Arc<Database>,
    pub parser: Arc<crate::extended::WeirQueryParser>,
}

/// The connection's session, created on its first statement.
pub(crate) fn session_of<C: ClientInfo>(
    client: &C,
    database: &Arc<Database>,
) -> Arc<Mutex<Session>> {
    client.session_extensions().get_or_insert_with(|| {
        let (pid, _) = client.pid_and_secret_key();
        let settings = Settings::from_startup(
            client
                .metadata()
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
        );
        Mutex::new(Session::new(database.clone(), pid, settings))
    })
}

/// Sends the notices and setting changes the last statement produced.
pub(crate) async fn send_session_messages<C>(
    client: &mut C,
    session: &mut Session,
) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    for text in session.take_notices() {
        client
            .feed(PgWireBackendMessage::NoticeResponse(notice(&text)))
            .await?;
    }
    for (name, value) in session.take_reported_changes() {
        client
            .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                name, value,
            )))
            .await?;
    }
    Ok(())
}

/// Everything pgwire needs to serve a connection. The query and cancel handlers are
/// shared; each connection gets a start-up handler of its own (pgwire asks for it once per
/// connection), as its authentication exchange has state.
pub(crate) struct WeirHandlers {
    query: Arc<QueryHandler>,
    credentials: Credentials,
    connections: Arc<ConnectionManager>,
    cancel: Arc<DefaultCancelHandler>,
}

impl WeirHandlers {
    pub fn new(database: Arc<Database>, authentication: Authentication) -> WeirHandlers {
        let connections = Arc::new(ConnectionManager::new());
        let parser = Arc::new(crate::extended::WeirQueryParser {
            database: database.clone(),
        });
        WeirHandlers {
            query: Arc::new(QueryHandler { database, parser }),
            credentials: Credentials::new(authentication),
            cancel: Arc::new(DefaultCancelHandler::new(connections.clone())),
            connections,
        }
    }
}

impl PgWireServerHandlers for WeirHandlers {
    fn simple_query_handler(&self) -> Arc<impl pgwire::api::query::SimpleQueryHandler> {
        self.query.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl pgwire::api::query::ExtendedQueryHandler> {
        self.query.clone()
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        Arc::new(WeirStartup::new(
            &self.credentials,
            self.connections.clone(),
        ))
    }

    fn copy_handler(&self) -> Arc<impl pgwire::api::copy::CopyHandler> {
        self.query.clone()
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        self.cancel.clone()
    }
}
