//! The database engine as clients see it, independent of the wire protocol: a
//! [`Database`] shared by all connections, and a [`Session`] per connection that runs
//! statements.
//!
//! Queries and DML are planned and run by DataFusion over weir's stored tables; DDL,
//! settings and transaction control are handled here. Every statement reads the last
//! committed epoch through one snapshot, and every statement that writes commits its
//! changes as one atomic epoch.

mod barrier;
mod bounded_log;
mod bytea_input;
mod checked_arithmetic;
mod coalesce;
mod connector_access;
mod copy;
mod copy_format;
mod database;
mod ddl;
mod executor;
mod functions;
mod interruptible;
mod json_operators;
mod length_limits;
mod maintainer;
mod materialized;
mod outcome;
mod pg_aggregates;
mod pg_class;
mod pg_datetime;
mod pg_extract;
mod pg_numbers;
mod pg_order;
mod pg_typeof;
mod query_memory;
mod rule_support;
mod schema_columns;
mod session;
mod settings;
mod short_circuit;
mod sinks;
mod source_table;
mod sources;
mod system;
mod text_input;
mod text_output;
mod transaction;
mod type_planner;
mod view_errors;
mod wrapped_function;

pub use connector_access::ConnectorAccess;
pub use copy_format::CopyFormat;
pub use database::{Database, DatabaseOptions};
pub use executor::{QueryExecutor, STATEMENT_STACK_BYTES};
pub use outcome::{Outcome, Prepared};
pub use query_memory::QueryMemory;
pub use session::Session;
pub use settings::Settings;
pub use transaction::TransactionState;
pub use weir_connectors::{AllowedHost, ConnectPolicy};
pub use weir_sql::parse;
