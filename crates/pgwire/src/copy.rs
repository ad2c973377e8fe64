//! The COPY sub-protocol: data a client sends for `COPY … FROM STDIN`.

use std::fmt::Debug;

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::ClientInfo;
use pgwire::api::copy::CopyHandler;
use pgwire::api::results::Tag;
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};
use weir_common::SqlState;

use crate::errors::to_pgwire;
use crate::handlers::{QueryHandler, session_of};
use crate::session_lock::lock_session;

#[async_trait]
impl CopyHandler for QueryHandler {
    async fn on_copy_data<C>(&self, client: &mut C, copy_data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session_of(client, &self.database);
        session.lock().await.copy_data(&copy_data.data);
        Ok(())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session_of(client, &self.database);
        let (mut guard, interrupt) = lock_session(client, session).await.map_err(to_pgwire)?;
        let work = async move { guard.copy_done(interrupt).await };
        let rows = self
            .database
            .executor()
            .run(work)
            .await
            .map_err(to_pgwire)?;
        let tag = Tag::new("COPY").with_rows(rows);
        client
            .send(PgWireBackendMessage::CommandComplete(tag.into()))
            .await?;
        Ok(())
    }

    async fn on_copy_fail<C>(&self, client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session_of(client, &self.database);
        session.lock().await.copy_failed();
        PgWireError::UserError(Box::new(ErrorInfo::new(
            "ERROR".to_owned(),
            SqlState::QUERY_CANCELED.code().to_owned(),
            format!("COPY from stdin failed: {}", fail.message),
        )))
    }
}
