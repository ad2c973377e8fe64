//! Connection start-up: the database name, authentication, and the parameters reported to
//! the client.
//!
//! A weir server holds one database, `weir`; asking for another is refused with 3D000 as
//! PostgreSQL does. Authentication is off by default (any user name is accepted), or a
//! single password checked in cleartext or with SCRAM-SHA-256.
//!
//! Each connection gets its own start-up handler: SCRAM is a conversation of several
//! messages whose state belongs to one connection. The password is salted once, at start
//! (salting is slow on purpose). A failed login is answered only after
//! [`FAILED_LOGIN_DELAY`], as PostgreSQL's `auth_delay` does, so that guessing passwords
//! takes time.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::auth::cleartext::CleartextPasswordAuthStartupHandler;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::{SCRAM_ITERATIONS, ScramAuth, gen_salted_password};
use pgwire::api::auth::{
    AuthSource, LoginInfo, Password, ServerParameterProvider, StartupHandler,
    finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata,
};
use pgwire::api::{
    ClientInfo, ConnectionManager, PgWireConnectionState, PidSecretKeyGenerator,
    RandomPidSecretKeyGenerator,
};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::startup::PasswordMessageFamily;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use weir_catalog::DATABASE_NAME;
use weir_common::SqlState;
use weir_frontend::Settings;

use crate::errors::fatal;
use crate::server::Authentication;
use crate::statement_watch::register_for_cancel;

/// The parameters sent right after authentication: PostgreSQL's reported settings, with
/// the client's own startup choices applied.
#[derive(Debug)]
pub(crate) struct WeirParameters;

impl ServerParameterProvider for WeirParameters {
    fn server_parameters<C: ClientInfo>(&self, client: &C) -> Option<HashMap<String, String>> {
        let settings = Settings::from_startup(
            client
                .metadata()
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
        );
        Some(settings.reported().into_iter().collect())
    }
}

/// How long a failed login waits before its error is sent.
pub const FAILED_LOGIN_DELAY: std::time::Duration = std::time::Duration::from_millis(500);

/// The one password of a server that requires one, already salted for SCRAM.
#[derive(Clone, Debug)]
pub(crate) struct ServerPassword {
    cleartext: Vec<u8>,
    salt: Vec<u8>,
    salted: Vec<u8>,
    scram: bool,
}

#[async_trait]
impl AuthSource for ServerPassword {
    async fn get_password(&self, _login: &LoginInfo) -> PgWireResult<Password> {
        Ok(if self.scram {
            Password::new(Some(self.salt.clone()), self.salted.clone())
        } else {
            Password::new(None, self.cleartext.clone())
        })
    }
}

/// What a client must show to log in, prepared once for every connection.
#[derive(Clone, Debug)]
pub(crate) enum Credentials {
    Trust,
    Cleartext(ServerPassword),
    Scram(ServerPassword),
}

impl Credentials {
    pub fn new(authentication: Authentication) -> Credentials {
        let password = |password: String, scram: bool| {
            let salt: Vec<u8> = rand::random::<[u8; 16]>().to_vec();
            ServerPassword {
                salted: gen_salted_password(&password, &salt, SCRAM_ITERATIONS),
                cleartext: password.into_bytes(),
                salt,
                scram,
            }
        };
        match authentication {
            Authentication::Trust => Credentials::Trust,
            Authentication::Cleartext { password: secret } => {
                Credentials::Cleartext(password(secret, false))
            }
            Authentication::Scram { password: secret } => {
                Credentials::Scram(password(secret, true))
            }
        }
    }
}

enum Method {
    Trust,
    Cleartext(CleartextPasswordAuthStartupHandler<ServerPassword, WeirParameters>),
    Scram(SASLAuthStartupHandler<WeirParameters>),
}

/// The start-up of one connection.
pub(crate) struct WeirStartup {
    method: Method,
    connections: Arc<ConnectionManager>,
    pids: RandomPidSecretKeyGenerator,
    /// Whether the client's SASLInitialResponse has come (SCRAM only).
    sasl_started: AtomicBool,
}

impl WeirStartup {
    pub fn new(credentials: &Credentials, connections: Arc<ConnectionManager>) -> Self {
        let method = match credentials {
            Credentials::Trust => Method::Trust,
            Credentials::Cleartext(password) => Method::Cleartext(
                CleartextPasswordAuthStartupHandler::new(password.clone(), WeirParameters),
            ),
            Credentials::Scram(password) => {
                let mut scram = ScramAuth::new(Arc::new(password.clone()));
                scram.set_iterations(SCRAM_ITERATIONS);
                Method::Scram(
                    SASLAuthStartupHandler::new(Arc::new(WeirParameters)).with_scram(scram),
                )
            }
        };
        WeirStartup {
            method,
            connections,
            pids: RandomPidSecretKeyGenerator::default(),
            sasl_started: AtomicBool::new(false),
        }
    }

    /// Trust: accept the client as it introduces itself.
    async fn trust<C>(&self, client: &mut C, message: &PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let PgWireFrontendMessage::Startup(startup) = message else {
            return Ok(());
        };
        protocol_negotiation(client, startup).await?;
        save_startup_parameters_to_metadata(client, startup);
        let (pid, secret_key) = self.pids.generate(client);
        client.set_pid_and_secret_key(pid, secret_key.clone());
        register_for_cancel(client, &self.connections);
        finish_authentication(client, &WeirParameters).await
    }
}

/// Whether a password message holds a SASLInitialResponse: the mechanism's name, and the
/// length of the initial response (-1 for none) followed by that many bytes.
fn is_sasl_initial_response(message: &PasswordMessageFamily) -> bool {
    let PasswordMessageFamily::Raw(body) = message else {
        return true;
    };
    let Some(end) = body.iter().position(|byte| *byte == 0) else {
        return false;
    };
    let rest = &body[end + 1..];
    let Some(length) = rest.get(..4) else {
        return false;
    };
    let length = i32::from_be_bytes(length.try_into().expect("4 bytes"));
    let data = rest.len() - 4;
    length == -1 && data == 0 || usize::try_from(length) == Ok(data)
}

#[async_trait]
impl StartupHandler for WeirStartup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let PgWireFrontendMessage::Startup(startup) = &message {
            // PostgreSQL's default database is the one named like the user.
            let database = startup
                .parameters
                .get("database")
                .or_else(|| startup.parameters.get("user"))
                .map(String::as_str)
                .unwrap_or(DATABASE_NAME);
            if database != DATABASE_NAME {
                return Err(fatal(
                    SqlState::INVALID_CATALOG_NAME,
                    format!("database \"{database}\" does not exist"),
                ));
            }
        }
        if let (Method::Scram(_), PgWireFrontendMessage::PasswordMessageFamily(password)) =
            (&self.method, &message)
            && !self.sasl_started.swap(true, Ordering::AcqRel)
            && !is_sasl_initial_response(password)
        {
            // pgwire reads the mechanism's response length without checking it is there.
            return Err(fatal(
                SqlState::PROTOCOL_VIOLATION,
                "malformed SASLInitialResponse message".to_owned(),
            ));
        }
        let result = match &self.method {
            Method::Trust => return self.trust(client, &message).await,
            Method::Cleartext(handler) => handler.on_startup(client, message).await,
            Method::Scram(handler) => handler.on_startup(client, message).await,
        };
        match &result {
            Ok(()) if matches!(client.state(), PgWireConnectionState::ReadyForQuery) => {
                register_for_cancel(client, &self.connections);
            }
            Ok(()) => {}
            Err(_) => tokio::time::sleep(FAILED_LOGIN_DELAY).await,
        }
        result
    }
}
