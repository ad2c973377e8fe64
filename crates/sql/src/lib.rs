//! Parsing SQL text into statements, in PostgreSQL's dialect.
//!
//! User statements are parsed as written. Statements that read the system catalogs
//! (`pg_catalog`, `information_schema`) — the queries psql, drivers and GUI tools send —
//! are additionally rewritten by `datafusion-pg-catalog`'s compatibility parser into
//! forms DataFusion can plan. Those rewrites trade exactness for coverage (a subquery
//! DataFusion cannot plan becomes NULL), which is acceptable for catalog introspection
//! and never applied to queries over user data.
//!
//! Every query's result columns are then named as PostgreSQL names them (see
//! `column_names`).

mod boolean_chains;
mod calls;
mod column_names;
mod connector_ddl;
mod depth;
mod dialect;
mod function_syntax;
mod literals;
mod planning_cost;
mod redact;
mod set_returning;
mod sink_ddl;

pub use boolean_chains::BALANCE_AT;
pub use connector_ddl::{
    ConnectorObject, ConnectorOption, ConnectorRelation, CreateConnector, DropConnector, Format,
    Include,
};
pub use depth::MAX_DEPTH;
pub use redact::redacted;
pub use sink_ddl::{CreateSink, SinkInput};

use std::ops::ControlFlow;
use std::sync::LazyLock;

use datafusion::sql::sqlparser::ast::{
    Expr, FlushType, FunctionArg, FunctionArgExpr, FunctionArguments, ObjectName, SetExpr,
    Statement, Visit, VisitMut, visit_expressions_mut, visit_relations,
};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use weir_common::{Position, Result, WeirError};

use crate::dialect::WeirDialect;

pub use datafusion::sql::sqlparser;

static CATALOG_PARSER: LazyLock<PostgresCompatibilityParser> =
    LazyLock::new(PostgresCompatibilityParser::new);

/// The read-only schema of tables that describe weir itself.
pub const SYSTEM_SCHEMA: &str = "weir_catalog";

/// Schemas whose relations are emulated for client compatibility.
const SYSTEM_SCHEMAS: [&str; 2] = ["pg_catalog", "information_schema"];

/// Fragments of client catalog queries that DataFusion cannot plan, each with a
/// replacement that gives the same answer for every object weir can have.
const CATALOG_FRAGMENTS: [(&str, &str); 1] = [
    // psql's `\d+ NAME` lists the relation's and its TOAST table's storage options; weir
    // has neither (and DataFusion has no `array(SELECT …)` constructor).
    (
        "pg_catalog.array_to_string(c.reloptions || array(select 'toast.' || x from pg_catalog.unnest(tc.reloptions) x), ', ')",
        "''",
    ),
];

/// One parsed statement: SQL in sqlparser's PostgreSQL dialect, or weir's connector DDL.
#[derive(Clone, Debug, PartialEq)]
// Statements are parsed and run one at a time; boxing the common case would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum ParsedStatement {
    Sql(Statement),
    CreateConnector(CreateConnector),
    CreateSink(CreateSink),
    DropConnector(DropConnector),
}

impl std::fmt::Display for ParsedStatement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParsedStatement::Sql(statement) => statement.fmt(f),
            ParsedStatement::CreateConnector(create) => create.fmt(f),
            ParsedStatement::CreateSink(create) => create.fmt(f),
            ParsedStatement::DropConnector(drop) => drop.fmt(f),
        }
    }
}

impl ParsedStatement {
    /// Whether running the statement changes nothing: a query without `INTO`. Its work
    /// may be abandoned at any point, so a stopped one can be answered before it ends.
    pub fn only_reads(&self) -> bool {
        match self {
            ParsedStatement::Sql(Statement::Query(query)) => {
                !matches!(query.body.as_ref(), SetExpr::Select(select) if select.into.is_some())
            }
            _ => false,
        }
    }
}

/// Parses `sql`, which may hold several statements separated by `;`.
///
/// weir's own `FLUSH` (wait until every change before it is committed and visible in all
/// views) is not in sqlparser's PostgreSQL dialect; it is carried as sqlparser's `FLUSH`
/// statement with no options (see [`is_flush`]), alone or among other statements. So is
/// connector DDL (`CREATE SOURCE`, `CREATE SINK`, their `DROP`s), as its own kinds of
/// statement.
///
/// A statement whose syntax tree would be deeper than [`MAX_DEPTH`] is refused with 54001
/// (see `depth`), and so is one that DataFusion would take long to plan (see
/// `planning_cost`).
pub fn parse(sql: &str) -> Result<Vec<ParsedStatement>> {
    parse_bounded(sql, true)
}

/// [`parse`], with the bounds on planning time if `bound_planning`.
fn parse_bounded(sql: &str, bound_planning: bool) -> Result<Vec<ParsedStatement>> {
    let tokens = Tokenizer::new(&WeirDialect, sql)
        .tokenize_with_location()
        .map_err(|error| at_character(syntax_error(error.into()), sql))?;
    depth::check_depth(&tokens)?;
    let mut statements =
        parse_with_extensions(tokens).map_err(|error| at_character(syntax_error(error), sql))?;
    let all_sql = statements
        .iter()
        .all(|statement| matches!(statement, ParsedStatement::Sql(_)));
    let reads_catalog = statements.iter().any(
        |statement| matches!(statement, ParsedStatement::Sql(sql) if reads_system_catalog(sql)),
    );
    if all_sql && reads_catalog {
        // The compatibility parser recognises some client queries by their exact text, so
        // it gets the text as the client sent it.
        let mut sql = sql.to_owned();
        for (fragment, replacement) in CATALOG_FRAGMENTS {
            sql = sql.replace(fragment, replacement);
        }
        statements = CATALOG_PARSER
            .parse(&sql)
            .map_err(|error| at_character(syntax_error(error), &sql))?
            .into_iter()
            .map(ParsedStatement::Sql)
            .collect();
    }
    for statement in &mut statements {
        if let ParsedStatement::CreateSink(CreateSink {
            input: SinkInput::Query(query),
            ..
        }) = statement
        {
            balance_and_bound(query, bound_planning)?;
        }
        if let ParsedStatement::Sql(statement) = statement {
            balance_and_bound(statement, bound_planning)?;
            column_names::name_columns(statement);
            set_returning::expand_series(statement);
            answer_view_definitions(statement);
            literals::rewrite_literals(statement);
            function_syntax::rewrite_calls(statement);
        }
    }
    Ok(statements)
}

/// Balances `statement`'s long `AND`/`OR` chains, then refuses it if its expressions nest
/// too deep, or (if `bound_planning`) it would take long to plan.
fn balance_and_bound(statement: &mut (impl Visit + VisitMut), bound_planning: bool) -> Result<()> {
    boolean_chains::balance_boolean_chains(statement);
    depth::check_expression_depth(statement)?;
    if bound_planning {
        planning_cost::check_planning_cost(statement)?;
    }
    Ok(())
}

/// Parses `sql`, which must be one SQL statement sqlparser knows (e.g. a stored
/// definition or a query weir writes itself). Its planning time is not bounded: a stored
/// definition was admitted when it was created, under the bounds of that version, and
/// must open again (literal rewrites may also have made it a level deeper).
pub fn parse_sql(sql: &str) -> Result<Statement> {
    match parse_bounded(sql, false)?.as_slice() {
        [ParsedStatement::Sql(statement)] => Ok(statement.clone()),
        _ => Err(WeirError::internal(format!("not one SQL statement: {sql}"))),
    }
}

/// The statements of `sql` as sqlparser's PostgreSQL dialect parses them, with `FLUSH`
/// alone between semicolons taken as weir's, and connector DDL parsed by weir.
fn parse_with_extensions(
    tokens: Vec<TokenWithSpan>,
) -> std::result::Result<Vec<ParsedStatement>, ParserError> {
    let dialect = WeirDialect;
    let mut parser = Parser::new(&dialect)
        .with_recursion_limit(depth::RECURSION_LIMIT)
        .with_tokens_with_locations(tokens);
    let mut statements = Vec::new();
    let mut expecting_delimiter = false;
    loop {
        while parser.consume_token(&Token::SemiColon) {
            expecting_delimiter = false;
        }
        let next = parser.peek_token();
        if next.token == Token::EOF {
            return Ok(statements);
        }
        if expecting_delimiter {
            return parser.expected("end of statement", next);
        }
        let flush = matches!(&next.token, Token::Word(word) if word.keyword == Keyword::FLUSH)
            && matches!(
                parser.peek_nth_token(1).token,
                Token::SemiColon | Token::EOF
            );
        if flush {
            parser.next_token();
            statements.push(ParsedStatement::Sql(Statement::Flush {
                object_type: FlushType::Tables,
                location: None,
                channel: None,
                read_lock: false,
                export: false,
                tables: vec![],
            }));
        } else if connector_ddl::is_connector_ddl(&parser) {
            statements.push(ParsedStatement::CreateConnector(
                connector_ddl::parse_connector_ddl(&mut parser)?,
            ));
        } else if sink_ddl::is_create_sink(&parser) {
            statements.push(ParsedStatement::CreateSink(sink_ddl::parse_create_sink(
                &mut parser,
            )?));
        } else if let Some(object) = connector_ddl::dropped_connector(&parser) {
            statements.push(ParsedStatement::DropConnector(
                connector_ddl::parse_drop_connector(&mut parser, object)?,
            ));
        } else {
            statements.push(ParsedStatement::Sql(parser.parse_statement()?));
        }
        expecting_delimiter = true;
    }
}

/// Whether `statement` is weir's `FLUSH`.
pub fn is_flush(statement: &Statement) -> bool {
    matches!(statement, Statement::Flush { tables, read_lock: false, export: false, location: None, channel: None, .. } if tables.is_empty())
}

/// Replaces `pg_get_viewdef(oid [, pretty])` by a lookup of the view's query in the
/// system schema. The lookup finds at most one row; `max` says so to DataFusion, which
/// plans a correlated scalar subquery only over an aggregate.
fn answer_view_definitions(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |expr| {
        let Expr::Function(function) = expr else {
            return ControlFlow::Continue(());
        };
        let is_viewdef = function
            .name
            .0
            .last()
            .is_some_and(|part| part.to_string().eq_ignore_ascii_case("pg_get_viewdef"));
        let FunctionArguments::List(arguments) = &function.args else {
            return ControlFlow::Continue(());
        };
        if let (true, Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(oid)))) =
            (is_viewdef, arguments.args.first())
        {
            let lookup = format!(
                "(SELECT max(viewdef_o.query) FROM {SYSTEM_SCHEMA}.objects viewdef_o \
                 JOIN pg_catalog.pg_namespace viewdef_n ON viewdef_n.nspname = viewdef_o.schema_name \
                 JOIN pg_catalog.pg_class viewdef_c \
                 ON viewdef_c.relnamespace = viewdef_n.oid AND viewdef_c.relname = viewdef_o.name \
                 WHERE viewdef_c.oid = {oid})"
            );
            if let Ok(replacement) = Parser::new(&WeirDialect)
                .try_with_sql(&lookup)
                .and_then(|mut parser| parser.parse_expr())
            {
                *expr = replacement;
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

fn syntax_error(error: ParserError) -> WeirError {
    if matches!(error, ParserError::RecursionLimitExceeded) {
        return depth::nested_too_deep();
    }
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
        let sql = "SELECT (SELECT x FROM t) AS y FROM u";
        let statement = parse_sql(sql).unwrap();
        assert_eq!(statement.to_string(), sql);
    }

    #[test]
    fn catalog_queries_are_detected() {
        let statement = parse_sql("SELECT relname FROM pg_catalog.pg_class").unwrap();
        assert!(reads_system_catalog(&statement));
        let statement = parse_sql("SELECT * FROM information_schema.tables").unwrap();
        assert!(reads_system_catalog(&statement));
        let statement = parse_sql("SELECT * FROM orders").unwrap();
        assert!(!reads_system_catalog(&statement));
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let error = parse("SELECT (1 + ) FROM t").unwrap_err();
        assert_eq!(error.state, weir_common::SqlState::SYNTAX_ERROR);
        assert_eq!(error.position, Some(Position::Char(13)), "{error:?}");
    }
}
