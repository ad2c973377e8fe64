//! The simple query protocol: a string of one or more statements, run in order until
//! one fails. Each is parsed and run on the query executor, watched for cancel requests,
//! its `statement_timeout` and the client going away.

use std::fmt::Debug;

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::portal::Format;
use pgwire::api::query::SimpleQueryHandler;
use pgwire::api::results::Response;
use pgwire::api::{ClientInfo, ClientPortalStore};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use tracing::Instrument;

use crate::early_answer::{abandoned, run_statement, unless_interrupted};
use crate::errors::{error_info, to_pgwire};
use crate::handlers::{QueryHandler, send_session_messages, session_of};
use crate::responses::{buffered, to_response};
use crate::session_lock::{lock_session, watch_session_statement};

#[async_trait]
impl SimpleQueryHandler for QueryHandler {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session_of(client, &self.database);
        let (guard, parse_interrupt) = lock_session(client, session.clone())
            .await
            .map_err(to_pgwire)?;
        let executor = self.database.executor().clone();
        let text = query.to_owned();
        // A parse has no effects, so a statement stopped while it is parsed is answered at
        // once; the parse ends on the executor holding the session, so a client has at most
        // one such parse running.
        let parse = async move {
            let parsed = weir_frontend::parse(&text);
            (guard, parsed)
        };
        let parsed = unless_interrupted(&executor, &parse_interrupt, parse, abandoned).await;
        drop(parse_interrupt);
        let (mut guard, statements) = match parsed {
            Ok((guard, Ok(statements))) => (guard, statements),
            Ok((mut guard, Err(error))) => {
                guard.fail_transaction();
                return Err(to_pgwire(error));
            }
            Err(error) => return Err(to_pgwire(error)),
        };
        let count = statements.len();
        let mut responses = Vec::with_capacity(count);
        for (index, statement) in statements.into_iter().enumerate() {
            let interrupt = watch_session_statement(client, &guard).await;
            let span = tracing::debug_span!("statement", sql = %statement);
            let only_reads = statement.only_reads();
            let statement_interrupt = interrupt.clone();
            let work = async move {
                let result = guard
                    .execute(statement, statement_interrupt)
                    .instrument(span)
                    .await;
                (guard, result)
            };
            let (returned, mut result) =
                match run_statement(&executor, &interrupt, only_reads, work).await {
                    Ok(done) => done,
                    Err(error) => {
                        responses.push(Response::Error(Box::new(error_info(&error))));
                        break;
                    }
                };
            guard = returned;
            if index + 1 < count
                && let Ok(outcome) = result
            {
                result = buffered(outcome).await;
            }
            send_session_messages(client, &mut guard).await?;
            match result {
                Ok(outcome) => {
                    responses.push(to_response(outcome, &Format::UnifiedText, session.clone())?)
                }
                Err(error) => {
                    guard.fail_transaction();
                    responses.push(Response::Error(Box::new(error_info(&error))));
                    break;
                }
            }
        }
        Ok(responses)
    }
}
