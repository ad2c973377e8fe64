//! Parsing SQL text into statements, in PostgreSQL's dialect.
//!
//! User statements are parsed as written. Statements that read the system catalogs
//! (`pg_catalog`, `information_schema`) — the queries psql, drivers and GUI tools send —
//! are additionally rewritten by `datafusion-pg-catalog`'s compatibility parser into
//! forms DataFusion can plan. Those rewrites trade exactness for coverage (a subquery
//! DataFusion cannot plan becomes NULL), which is acceptable for catalog introspection
//! and never applied to queries over user data.

use std::ops::ControlFlow;
use std::sync::LazyLock;

use datafusion::sql::sqlparser::ast::{ObjectName, Statement, visit_relations};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use weir_common::{Position, Result, WeirError};

pub use datafusion::sql::sqlparser;

static CATALOG_PARSER: LazyLock<PostgresCompatibilityParser> =
    LazyLock::new(PostgresCompatibilityParser::new);

/// Schemas whose relations are emulated for client compatibility.
const SYSTEM_SCHEMAS: [&str; 2] = ["pg_catalog", "information_schema"];

/// Parses `sql`, which may hold several statements separated by `;`.
pub fn parse(sql: &str) -> Result<Vec<Statement>> {
    let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .map_err(|error| at_character(syntax_error(error), sql))?;
    if statements.iter().any(reads_system_catalog) {
        // The compatibility parser recognises some client queries by their exact text, so
        // it gets the text as the client sent it.
        return CATALOG_PARSER
            .parse(sql)
            .map_err(|error| at_character(syntax_error(error), sql));
    }
    Ok(statements)
}

fn syntax_error(error: datafusion::sql::sqlparser::parser::ParserError) -> WeirError {
    WeirError::from(datafusion::error::DataFusionError::SQL(
        Box::new(error),
        None,
    ))
}

/// Reports a parser's line-and-column position as the character offset clients expect.
fn at_character(error: WeirError, sql: &str) -> WeirError {
    match error.position {
        Some(position) => {
            let offset = position.char_offset(sql);
            error.with_position(Position::Char(offset))
        }
        None => error,
    }
}

fn reads_system_catalog(statement: &Statement) -> bool {
    let found = visit_relations(statement, |relation: &ObjectName| {
        let names: Vec<String> = relation.0.iter().map(|part| part.to_string()).collect();
        let system = names.len() > 1 && SYSTEM_SCHEMAS.contains(&names[names.len() - 2].as_str())
            || names.last().is_some_and(|name| name.starts_with("pg_"));
        if system {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    found.is_break()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_statements_parse() {
        let statements = parse("SELECT 1; CREATE TABLE t (a int)").unwrap();
        assert_eq!(statements.len(), 2);
    }

    #[test]
    fn user_queries_are_not_rewritten() {
        let sql = "SELECT (SELECT x FROM t) FROM u";
        let statement = parse(sql).unwrap().remove(0);
        assert_eq!(statement.to_string(), sql);
    }

    #[test]
    fn catalog_queries_are_detected() {
        let statement = parse("SELECT relname FROM pg_catalog.pg_class")
            .unwrap()
            .remove(0);
        assert!(reads_system_catalog(&statement));
        let statement = parse("SELECT * FROM information_schema.tables")
            .unwrap()
            .remove(0);
        assert!(reads_system_catalog(&statement));
        let statement = parse("SELECT * FROM orders").unwrap().remove(0);
        assert!(!reads_system_catalog(&statement));
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let error = parse("SELECT (1 + ) FROM t").unwrap_err();
        assert_eq!(error.state, weir_common::SqlState::SYNTAX_ERROR);
        assert_eq!(error.position, Some(Position::Char(13)), "{error:?}");
    }
}
