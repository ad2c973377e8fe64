//! The extended query protocol: statements prepared once (Parse), bound to parameters
//! (Bind), described and executed.

use std::fmt::Debug;
use std::sync::Arc;

use arrow_pg::datatypes::df::deserialize_parameters;
use arrow_pg::datatypes::into_pg_type;
use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use futures::Sink;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::ExtendedQueryHandler;
use pgwire::api::results::{FieldFormat, FieldInfo, Response};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use tracing::Instrument;
use weir_common::{SqlState, WeirError};
use weir_frontend::{Database, Prepared};

use crate::early_answer::{abandoned, run_statement, unless_interrupted};
use crate::errors::to_pgwire;
use crate::handlers::{QueryHandler, send_session_messages, session_of};
use crate::responses::to_response;
use crate::session_lock::lock_session;
use crate::text_values::result_fields;

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
        let (mut guard, interrupt) = lock_session(client, session).await.map_err(to_pgwire)?;
        let sql = sql.to_owned();
        // Parsing and planning have no effects, so a Parse stopped by a cancel request or
        // its `statement_timeout` is answered at once (see `early_answer`); its work ends on
        // the executor, holding the session until then.
        let work = async move {
            let prepared = guard.prepare(&sql).await;
            if prepared.is_err() {
                guard.fail_transaction();
            }
            (guard, prepared)
        };
        let executor = self.database.executor();
        match unless_interrupted(executor, &interrupt, work, abandoned).await {
            Ok((_, prepared)) => prepared.map_err(to_pgwire),
            Err(error) => Err(to_pgwire(error)),
        }
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
            Some(schema) => result_fields(schema, format.unwrap_or(&Format::UnifiedText)),
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
        check_parameters(portal, &types)?;
        let parameters = match json_parameters_as_text(portal) {
            Some(portal) => decode_parameters(&portal, &types)?,
            None => decode_parameters(portal, &types)?,
        };
        let session = session_of(client, &self.database);
        let (mut guard, interrupt) = lock_session(client, session.clone())
            .await
            .map_err(to_pgwire)?;
        let span = tracing::debug_span!("statement", sql = %prepared.sql);
        let prepared = prepared.clone();
        let only_reads = prepared.statement.only_reads();
        let statement_interrupt = interrupt.clone();
        let work = async move {
            let result = guard
                .execute_prepared(&prepared, parameters, statement_interrupt)
                .instrument(span)
                .await;
            (guard, result)
        };
        let executor = self.database.executor();
        let (mut guard, result) = run_statement(executor, &interrupt, only_reads, work)
            .await
            .map_err(to_pgwire)?;
        send_session_messages(client, &mut guard).await?;
        match result {
            Ok(outcome) => to_response(outcome, &portal.result_column_format, session.clone()),
            Err(error) => Err(to_pgwire(error)),
        }
    }
}

/// The byte length of a PostgreSQL binary format of fixed size.
fn fixed_binary_length(pg_type: &Type) -> Option<usize> {
    Some(match *pg_type {
        Type::BOOL | Type::CHAR => 1,
        Type::INT2 => 2,
        Type::INT4 | Type::FLOAT4 | Type::DATE | Type::OID => 4,
        Type::INT8 | Type::FLOAT8 | Type::TIME | Type::TIMESTAMP | Type::TIMESTAMPTZ => 8,
        Type::INTERVAL | Type::UUID => 16,
        _ => return None,
    })
}

/// Refuses, as PostgreSQL does, a parameter that no value of its type can be read from:
/// a NUL byte in text (22021: PostgreSQL's text values cannot hold one), or a binary
/// value of a fixed-size type with another size (22P03; `arrow-pg` would read past its
/// end).
fn check_parameters(portal: &Portal<Prepared>, types: &[Option<&DataType>]) -> PgWireResult<()> {
    for (index, value) in portal.parameters.iter().enumerate() {
        let Some(bytes) = value else { continue };
        let declared = portal
            .statement
            .parameter_types
            .get(index)
            .cloned()
            .flatten();
        let pg_type = declared.or_else(|| {
            let data_type = types.get(index).copied().flatten()?;
            into_pg_type(data_type).ok()
        });
        let binary = portal.parameter_format.format_for(index) == FieldFormat::Binary;
        let holds_text = !binary || pg_type.as_ref().is_none_or(is_text_type);
        if holds_text && bytes.contains(&0) {
            return Err(to_pgwire(WeirError::new(
                SqlState::CHARACTER_NOT_IN_REPERTOIRE,
                "invalid byte sequence for encoding \"UTF8\": 0x00",
            )));
        }
        let expected = pg_type.as_ref().and_then(fixed_binary_length);
        if binary && expected.is_some_and(|expected| expected != bytes.len()) {
            return Err(binary_format_error(Some(index)));
        }
    }
    Ok(())
}

/// Whether a type's binary format is its text (after a version byte, for jsonb).
fn is_text_type(pg_type: &Type) -> bool {
    [
        Type::TEXT,
        Type::VARCHAR,
        Type::BPCHAR,
        Type::NAME,
        Type::UNKNOWN,
        Type::JSON,
        Type::JSONB,
    ]
    .contains(pg_type)
}

/// PostgreSQL's error for a binary parameter its type cannot read (the parameter at
/// `index`, when known).
fn binary_format_error(index: Option<usize>) -> PgWireError {
    let which = match index {
        Some(index) => format!("bind parameter {}", index + 1),
        None => "a bind parameter".to_owned(),
    };
    to_pgwire(WeirError::new(
        SqlState::INVALID_BINARY_REPRESENTATION,
        format!("incorrect binary data format in {which}"),
    ))
}

/// `arrow-pg`'s decoding of the parameters, whose binary readers of variable-length
/// formats (numeric, arrays) panic on a value cut short: that is the client's malformed
/// parameter, refused with 22P03.
fn decode_parameters(
    portal: &Portal<Prepared>,
    types: &[Option<&DataType>],
) -> PgWireResult<datafusion::common::ParamValues> {
    // Decoding only reads the portal, so nothing is left half-changed by a panic.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        deserialize_parameters(portal, types)
    }));
    decoded.unwrap_or_else(|_| Err(binary_format_error(None)))
}

/// `arrow-pg` reads json and jsonb parameters as text only; binary jsonb is the text after
/// a version byte (1). Returns a copy of `portal` with such parameters as text, or `None`
/// when it has none.
fn json_parameters_as_text(portal: &Portal<Prepared>) -> Option<Portal<Prepared>> {
    let types = &portal.statement.parameter_types;
    let is_json = |t: &Option<Type>| matches!(t, Some(t) if *t == Type::JSON || *t == Type::JSONB);
    if !types.iter().any(is_json) {
        return None;
    }
    let parameters = portal
        .parameters
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let binary_jsonb = types.get(index) == Some(&Some(Type::JSONB))
                && portal.parameter_format.format_for(index) == FieldFormat::Binary;
            match value {
                Some(bytes) if binary_jsonb && bytes.first() == Some(&1) => Some(bytes.slice(1..)),
                other => other.clone(),
            }
        })
        .collect();
    let parameter_types = types
        .iter()
        .map(|t| {
            if is_json(t) {
                Some(Type::TEXT)
            } else {
                t.clone()
            }
        })
        .collect();
    let statement = StoredStatement::new(
        portal.statement.id.clone(),
        portal.statement.statement.clone(),
        parameter_types,
    );
    let mut copy = Portal::new_cursor(portal.name.clone(), Arc::new(statement));
    copy.parameter_format = portal.parameter_format.clone();
    copy.parameters = parameters;
    Some(copy)
}
