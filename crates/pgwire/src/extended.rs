//! The extended query protocol: statements prepared once (Parse), bound to parameters
//! (Bind), described and executed.

use std::fmt::Debug;
use std::sync::Arc;

use arrow_pg::datatypes::df::deserialize_parameters;
use arrow_pg::datatypes::{arrow_schema_to_pg_fields, into_pg_type};
use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use futures::Sink;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::ExtendedQueryHandler;
use pgwire::api::results::{FieldInfo, Response};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use tracing::Instrument;
use weir_frontend::{Database, Prepared};

use crate::errors::to_pgwire;
use crate::handlers::{QueryHandler, send_session_messages, session_of};
use crate::responses::to_response;

pub(crate) struct WeirQueryParser {
    pub database: Arc<Database>,
}

#[async_trait]
impl QueryParser for WeirQueryParser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let session = session_of(client, &self.database);
        let mut guard = session.lock().await;
        guard.prepare(sql).await.map_err(|error| {
            guard.fail_transaction();
            to_pgwire(error)
        })
    }

    fn get_parameter_types(&self, statement: &Prepared) -> PgWireResult<Vec<Type>> {
        statement
            .parameter_types()
            .iter()
            .map(|data_type| match data_type {
                Some(data_type) => into_pg_type(data_type),
                None => Ok(Type::UNKNOWN),
            })
            .collect()
    }

    fn get_result_schema(
        &self,
        statement: &Prepared,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        match &statement.result_schema {
            Some(schema) => {
                arrow_schema_to_pg_fields(schema, format.unwrap_or(&Format::UnifiedText), None)
            }
            None => Ok(vec![]),
        }
    }
}

#[async_trait]
impl ExtendedQueryHandler for QueryHandler {
    type Statement = Prepared;
    type QueryParser = WeirQueryParser;

    fn query_parser(&self) -> Arc<WeirQueryParser> {
        self.parser.clone()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let prepared = &portal.statement.statement;
        let types = prepared.parameter_types();
        let types: Vec<Option<&DataType>> = types.iter().map(Option::as_ref).collect();
        let parameters = deserialize_parameters(portal, &types)?;
        let session = session_of(client, &self.database);
        let mut guard = session.lock().await;
        let span = tracing::debug_span!("statement", sql = %prepared.sql);
        let result = guard
            .execute_prepared(prepared, parameters)
            .instrument(span)
            .await;
        send_session_messages(client, &mut guard).await?;
        match result {
            Ok(outcome) => to_response(outcome, &portal.result_column_format, session.clone()),
            Err(error) => Err(to_pgwire(error)),
        }
    }
}
