//! weir's connector DDL, in RisingWave's syntax, which sqlparser's PostgreSQL dialect does
//! not know:
//!
//! ```sql
//! CREATE SOURCE [IF NOT EXISTS] name [(column type, …, [PRIMARY KEY (…)])]
//!     [INCLUDE partition | offset | timestamp | key [AS alias]] …
//!     WITH (connector = 'kafka', topic = '…', properties.bootstrap.server = '…', …)
//!     [FORMAT PLAIN | UPSERT | DEBEZIUM ENCODE JSON | CSV | AVRO [(option = '…', …)]]
//! CREATE TABLE … the same, for a relation fed by the connector that also stores its rows
//! ```
//!
//! A `CREATE TABLE` is connector DDL when its `WITH` options name a `connector`; any other
//! `CREATE TABLE` is parsed by sqlparser as usual. The statement's [`Display`] is a
//! canonical form that parses back to the same statement, which the catalog stores.

use std::fmt;

use datafusion::sql::sqlparser::ast::{
    ColumnDef, ColumnOption, Expr, Ident, ObjectName, TableConstraint,
};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

/// Which relation a connector feeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectorRelation {
    /// Rows are not stored; materialized views over it follow its records.
    Source,
    /// Rows are stored as in any table, and views follow the table.
    Table,
}

/// One `key = 'value'` of a `WITH` or `ENCODE` option list; keys are lower case.
pub type ConnectorOption = (String, String);

/// `INCLUDE item [AS alias]`: a record's metadata as a column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Include {
    /// Lower case, as written: `partition`, `offset`, `timestamp`, `key`.
    pub item: String,
    pub alias: Option<Ident>,
}

/// `FORMAT format ENCODE encode [(options)]`; `format` and `encode` are upper case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Format {
    pub format: String,
    pub encode: String,
    pub options: Vec<ConnectorOption>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateConnector {
    pub relation: ConnectorRelation,
    pub if_not_exists: bool,
    pub name: ObjectName,
    pub columns: Vec<ColumnDef>,
    pub constraints: Vec<TableConstraint>,
    pub includes: Vec<Include>,
    pub options: Vec<ConnectorOption>,
    pub format: Option<Format>,
}

impl CreateConnector {
    /// The value of the `WITH` option `key` (lower case).
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets the `WITH` option `key` (lower case) to `value`, replacing any value it had.
    pub fn set_option(&mut self, key: &str, value: &str) {
        self.remove_option(key);
        self.options.push((key.to_owned(), value.to_owned()));
    }

    /// Removes the `WITH` option `key` (lower case), if given.
    pub fn remove_option(&mut self, key: &str) {
        self.options.retain(|(k, _)| k != key);
    }

    /// The plain `CREATE TABLE` of the declared columns, which plans their types as any
    /// table's. Table constraints are left out: a primary key may name an `INCLUDE`d
    /// column (see [`CreateConnector::primary_key`]).
    pub fn columns_as_table(&self) -> String {
        let mut sql = format!("CREATE TABLE {} (", self.name);
        write_columns(&mut sql, &self.columns, &[]);
        sql.push(')');
        sql
    }

    /// The primary key's column names, from `PRIMARY KEY (…)` or a column's own
    /// `PRIMARY KEY`; empty without one.
    pub fn primary_key(&self) -> Vec<String> {
        for constraint in &self.constraints {
            if let TableConstraint::PrimaryKey(key) = constraint {
                return key
                    .columns
                    .iter()
                    .map(|column| match &column.column.expr {
                        Expr::Identifier(name) => name.value.clone(),
                        other => other.to_string(),
                    })
                    .collect();
            }
        }
        self.columns
            .iter()
            .filter(|column| {
                column
                    .options
                    .iter()
                    .any(|option| matches!(option.option, ColumnOption::PrimaryKey(_)))
            })
            .map(|column| column.name.value.clone())
            .collect()
    }
}

/// The connector objects `DROP` names with weir's own syntax.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectorObject {
    Source,
    Sink,
}

impl ConnectorObject {
    fn keyword(self) -> &'static str {
        match self {
            ConnectorObject::Source => "SOURCE",
            ConnectorObject::Sink => "SINK",
        }
    }
}

/// `DROP SOURCE | SINK [IF EXISTS] name, … [CASCADE | RESTRICT]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropConnector {
    pub object: ConnectorObject,
    pub names: Vec<ObjectName>,
    pub if_exists: bool,
    pub cascade: bool,
}

impl fmt::Display for DropConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DROP {} ", self.object.keyword())?;
        if self.if_exists {
            write!(f, "IF EXISTS ")?;
        }
        let names: Vec<String> = self.names.iter().map(ToString::to_string).collect();
        write!(f, "{}", names.join(", "))?;
        if self.cascade {
            write!(f, " CASCADE")?;
        }
        Ok(())
    }
}

/// The connector object a `DROP` at the parser's position drops, if it is one.
pub(crate) fn dropped_connector(parser: &Parser) -> Option<ConnectorObject> {
    if !matches!(&parser.peek_nth_token_ref(0).token, Token::Word(word) if word.keyword == Keyword::DROP)
    {
        return None;
    }
    match &parser.peek_nth_token_ref(1).token {
        Token::Word(word) if word.keyword == Keyword::SOURCE => Some(ConnectorObject::Source),
        Token::Word(word) if word.value.eq_ignore_ascii_case("sink") => Some(ConnectorObject::Sink),
        _ => None,
    }
}

pub(crate) fn parse_drop_connector(
    parser: &mut Parser,
    object: ConnectorObject,
) -> Result<DropConnector, ParserError> {
    parser.expect_keyword(Keyword::DROP)?;
    expect_word(parser, object.keyword())?;
    let if_exists = parser.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
    let names = parser.parse_comma_separated(|parser| parser.parse_object_name(false))?;
    let cascade = matches!(
        parser.parse_one_of_keywords(&[Keyword::CASCADE, Keyword::RESTRICT]),
        Some(Keyword::CASCADE)
    );
    Ok(DropConnector {
        object,
        names,
        if_exists,
        cascade,
    })
}

/// Whether the statement at the parser's position is connector DDL (without consuming it).
pub(crate) fn is_connector_ddl(parser: &Parser) -> bool {
    let is_word = |n: usize, keyword: Keyword| matches!(&parser.peek_nth_token_ref(n).token, Token::Word(word) if word.keyword == keyword);
    if !is_word(0, Keyword::CREATE) {
        return false;
    }
    if is_word(1, Keyword::SOURCE) {
        return true;
    }
    if !is_word(1, Keyword::TABLE) {
        return false;
    }
    let mut n = 2;
    loop {
        match &parser.peek_nth_token_ref(n).token {
            Token::SemiColon | Token::EOF => return false,
            Token::Word(word)
                if word.value.eq_ignore_ascii_case("connector")
                    && parser.peek_nth_token_ref(n + 1).token == Token::Eq =>
            {
                return true;
            }
            _ => n += 1,
        }
    }
}

/// Parses the connector DDL at the parser's position (see [`is_connector_ddl`]).
pub(crate) fn parse_connector_ddl(parser: &mut Parser) -> Result<CreateConnector, ParserError> {
    parser.expect_keyword(Keyword::CREATE)?;
    let relation = match parser.parse_one_of_keywords(&[Keyword::SOURCE, Keyword::TABLE]) {
        Some(Keyword::SOURCE) => ConnectorRelation::Source,
        _ => ConnectorRelation::Table,
    };
    let if_not_exists = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = parser.parse_object_name(false)?;
    let (columns, constraints) = parser.parse_columns()?;
    let mut includes = Vec::new();
    while parser.parse_keyword(Keyword::INCLUDE) {
        let item = parser.parse_identifier()?.value.to_lowercase();
        let alias = match parser.parse_keyword(Keyword::AS) {
            true => Some(parser.parse_identifier()?),
            false => None,
        };
        includes.push(Include { item, alias });
    }
    parser.expect_keyword(Keyword::WITH)?;
    let options = parse_options(parser)?;
    let format = parse_format(parser)?;
    Ok(CreateConnector {
        relation,
        if_not_exists,
        name,
        columns,
        constraints,
        includes,
        options,
        format,
    })
}

/// `[FORMAT format ENCODE encode [(options)]]`.
pub(crate) fn parse_format(parser: &mut Parser) -> Result<Option<Format>, ParserError> {
    if !parser.parse_keyword(Keyword::FORMAT) {
        return Ok(None);
    }
    let format = parser.parse_identifier()?.value.to_uppercase();
    expect_word(parser, "ENCODE")?;
    let encode = parser.parse_identifier()?.value.to_uppercase();
    let options = match parser.peek_token_ref().token == Token::LParen {
        true => parse_options(parser)?,
        false => Vec::new(),
    };
    Ok(Some(Format {
        format,
        encode,
        options,
    }))
}

pub(crate) fn expect_word(parser: &mut Parser, word: &str) -> Result<(), ParserError> {
    let next = parser.next_token();
    match &next.token {
        Token::Word(found) if found.value.eq_ignore_ascii_case(word) => Ok(()),
        _ => parser.expected(word, next),
    }
}

/// `( key = value, … )`, where a key is a dotted name or a quoted string and a value a
/// literal or a word.
pub(crate) fn parse_options(parser: &mut Parser) -> Result<Vec<ConnectorOption>, ParserError> {
    parser.expect_token(&Token::LParen)?;
    let options = parser.parse_comma_separated(|parser| {
        let key = match parser.peek_token_ref().token.clone() {
            Token::SingleQuotedString(key) => {
                parser.next_token();
                key
            }
            _ => {
                let mut parts = vec![parser.parse_identifier()?.value];
                while parser.consume_token(&Token::Period) {
                    parts.push(parser.parse_identifier()?.value);
                }
                parts.join(".")
            }
        };
        parser.expect_token(&Token::Eq)?;
        let next = parser.next_token();
        let value = match next.token {
            Token::SingleQuotedString(value) => value,
            Token::Number(number, _) => number,
            Token::Word(word) => word.value,
            Token::Minus => match parser.next_token().token {
                Token::Number(number, _) => format!("-{number}"),
                _ => return parser.expected("a number", next),
            },
            _ => return parser.expected("an option value", next),
        };
        Ok((key.to_lowercase(), value))
    })?;
    parser.expect_token(&Token::RParen)?;
    Ok(options)
}

fn write_columns(sql: &mut String, columns: &[ColumnDef], constraints: &[TableConstraint]) {
    let parts: Vec<String> = columns
        .iter()
        .map(ToString::to_string)
        .chain(constraints.iter().map(ToString::to_string))
        .collect();
    sql.push_str(&parts.join(", "));
}

pub(crate) fn write_options(
    f: &mut fmt::Formatter<'_>,
    options: &[ConnectorOption],
) -> fmt::Result {
    let parts: Vec<String> = options
        .iter()
        .map(|(key, value)| {
            let plain = key.split('.').all(|part| {
                !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
            let key = match plain {
                true => key.clone(),
                false => format!("'{}'", key.replace('\'', "''")),
            };
            format!("{key} = '{}'", value.replace('\'', "''"))
        })
        .collect();
    write!(f, "({})", parts.join(", "))
}

impl fmt::Display for CreateConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let relation = match self.relation {
            ConnectorRelation::Source => "SOURCE",
            ConnectorRelation::Table => "TABLE",
        };
        write!(f, "CREATE {relation} ")?;
        if self.if_not_exists {
            write!(f, "IF NOT EXISTS ")?;
        }
        write!(f, "{}", self.name)?;
        if !self.columns.is_empty() || !self.constraints.is_empty() {
            let mut columns = String::new();
            write_columns(&mut columns, &self.columns, &self.constraints);
            write!(f, " ({columns})")?;
        }
        for include in &self.includes {
            write!(f, " INCLUDE {}", include.item)?;
            if let Some(alias) = &include.alias {
                write!(f, " AS {alias}")?;
            }
        }
        write!(f, " WITH ")?;
        write_options(f, &self.options)?;
        if let Some(format) = &self.format {
            write!(f, " {format}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FORMAT {} ENCODE {}", self.format, self.encode)?;
        if !self.options.is_empty() {
            write!(f, " ")?;
            write_options(f, &self.options)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{ParsedStatement, parse};

    fn connector(sql: &str) -> super::CreateConnector {
        match parse(sql).unwrap().remove(0) {
            ParsedStatement::CreateConnector(create) => create,
            other => panic!("not connector DDL: {other}"),
        }
    }

    #[test]
    fn a_kafka_source_parses_and_prints_back() {
        let sql = "CREATE SOURCE IF NOT EXISTS bids (auction BIGINT, price NUMERIC(10,2), PRIMARY KEY (auction)) \
                   INCLUDE partition AS p INCLUDE offset \
                   WITH (connector = 'kafka', topic = 'bids', properties.bootstrap.server = 'localhost:9092', \
                   scan.startup.timestamp.millis = 1700000000000) \
                   FORMAT PLAIN ENCODE CSV (delimiter = ';', without_header = true)";
        let create = connector(sql);
        assert_eq!(create.relation, super::ConnectorRelation::Source);
        assert!(create.if_not_exists);
        assert_eq!(create.columns.len(), 2);
        assert_eq!(create.constraints.len(), 1);
        assert_eq!(create.includes.len(), 2);
        assert_eq!(create.option("topic"), Some("bids"));
        assert_eq!(
            create.option("properties.bootstrap.server"),
            Some("localhost:9092")
        );
        assert_eq!(
            create.option("scan.startup.timestamp.millis"),
            Some("1700000000000")
        );
        let format = create.format.clone().unwrap();
        assert_eq!(
            (format.format.as_str(), format.encode.as_str()),
            ("PLAIN", "CSV")
        );
        assert_eq!(format.options[1], ("without_header".into(), "true".into()));
        assert_eq!(connector(&create.to_string()), create);
    }

    #[test]
    fn a_table_is_connector_ddl_only_with_a_connector() {
        let create = connector(
            "CREATE TABLE t (a INT) WITH (connector='kafka', topic='t') FORMAT PLAIN ENCODE JSON; SELECT 1",
        );
        assert_eq!(create.relation, super::ConnectorRelation::Table);
        assert_eq!(create.columns_as_table(), "CREATE TABLE t (a INT)");
        assert!(matches!(
            parse("CREATE TABLE t (connector INT)").unwrap().remove(0),
            ParsedStatement::Sql(_)
        ));
    }

    #[test]
    fn drop_source_and_sink_parse() {
        for sql in ["DROP SOURCE IF EXISTS a, b CASCADE", "DROP SINK s"] {
            let ParsedStatement::DropConnector(drop) = parse(sql).unwrap().remove(0) else {
                panic!("not connector DDL: {sql}");
            };
            assert_eq!(drop.to_string(), sql);
        }
    }

    #[test]
    fn malformed_connector_ddl_is_a_syntax_error() {
        let error = parse("CREATE SOURCE s (a INT) WITH (connector = ) FORMAT PLAIN ENCODE JSON")
            .unwrap_err();
        assert_eq!(error.state, weir_common::SqlState::SYNTAX_ERROR);
        let error = parse("CREATE SOURCE s (a INT) FORMAT PLAIN ENCODE JSON").unwrap_err();
        assert_eq!(error.detail.as_deref(), Some("Expected WITH."), "{error:?}");
    }
}
