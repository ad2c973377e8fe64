//! `CREATE SINK`, in RisingWave's syntax:
//!
//! ```sql
//! CREATE SINK [IF NOT EXISTS] name FROM relation | AS query
//!     WITH (connector = 'kafka', topic = '…', properties.bootstrap.server = '…', …)
//!     [FORMAT PLAIN | UPSERT | DEBEZIUM ENCODE JSON [(option = '…', …)]]
//! ```
//!
//! The query of `AS query` ends at the last `WITH (` outside parentheses: sqlparser
//! would otherwise read the options as table hints of the query's last table. The
//! statement's [`Display`] parses back to the same statement, which the catalog stores.

use std::fmt;

use crate::dialect::WeirDialect;
use datafusion::sql::sqlparser::ast::{ObjectName, Query};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

use crate::connector_ddl::{ConnectorOption, Format, expect_word, parse_format, parse_options};

/// What a sink sends on: the changes of a relation or of a query of its own.
#[derive(Clone, Debug, PartialEq)]
pub enum SinkInput {
    Relation(ObjectName),
    Query(Box<Query>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct CreateSink {
    pub if_not_exists: bool,
    pub name: ObjectName,
    pub input: SinkInput,
    pub options: Vec<ConnectorOption>,
    pub format: Option<Format>,
}

impl CreateSink {
    /// The value of the `WITH` option `key` (lower case).
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The query whose changes the sink sends.
    pub fn query(&self) -> String {
        match &self.input {
            SinkInput::Relation(name) => format!("SELECT * FROM {name}"),
            SinkInput::Query(query) => query.to_string(),
        }
    }
}

/// Whether the statement at the parser's position is `CREATE SINK`.
pub(crate) fn is_create_sink(parser: &Parser) -> bool {
    matches!(&parser.peek_nth_token_ref(0).token, Token::Word(word) if word.keyword == Keyword::CREATE)
        && matches!(&parser.peek_nth_token_ref(1).token, Token::Word(word) if word.value.eq_ignore_ascii_case("sink"))
}

pub(crate) fn parse_create_sink(parser: &mut Parser) -> Result<CreateSink, ParserError> {
    parser.expect_keyword(Keyword::CREATE)?;
    expect_word(parser, "SINK")?;
    let if_not_exists = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = parser.parse_object_name(false)?;
    let input = match parser.parse_one_of_keywords(&[Keyword::FROM, Keyword::AS]) {
        Some(Keyword::FROM) => SinkInput::Relation(parser.parse_object_name(false)?),
        Some(_) => SinkInput::Query(parse_query_before_options(parser)?),
        None => return parser.expected("FROM or AS", parser.peek_token()),
    };
    parser.expect_keyword(Keyword::WITH)?;
    let options = parse_options(parser)?;
    let format = parse_format(parser)?;
    Ok(CreateSink {
        if_not_exists,
        name,
        input,
        options,
        format,
    })
}

/// Parses the query that runs up to the statement's last `WITH (` outside parentheses.
fn parse_query_before_options(parser: &mut Parser) -> Result<Box<Query>, ParserError> {
    let mut depth = 0usize;
    let mut options_at = None;
    let mut n = 0;
    loop {
        match &parser.peek_nth_token_ref(n).token {
            Token::SemiColon | Token::EOF => break,
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            Token::Word(word)
                if depth == 0
                    && word.keyword == Keyword::WITH
                    && parser.peek_nth_token_ref(n + 1).token == Token::LParen =>
            {
                options_at = Some(n);
            }
            _ => {}
        }
        n += 1;
    }
    let Some(end) = options_at else {
        return parser.expected("WITH (…) after the sink's query", parser.peek_token());
    };
    let tokens = (0..end).map(|_| parser.next_token()).collect();
    let dialect = WeirDialect;
    let mut query_parser = Parser::new(&dialect)
        .with_recursion_limit(crate::depth::RECURSION_LIMIT)
        .with_tokens_with_locations(tokens);
    let query = query_parser.parse_query()?;
    let rest = query_parser.peek_token();
    if rest.token != Token::EOF {
        return query_parser.expected("the end of the sink's query", rest);
    }
    Ok(query)
}

impl fmt::Display for CreateSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CREATE SINK ")?;
        if self.if_not_exists {
            write!(f, "IF NOT EXISTS ")?;
        }
        write!(f, "{} ", self.name)?;
        match &self.input {
            SinkInput::Relation(name) => write!(f, "FROM {name}")?,
            SinkInput::Query(query) => write!(f, "AS {query}")?,
        }
        write!(f, " WITH ")?;
        crate::connector_ddl::write_options(f, &self.options)?;
        if let Some(format) = &self.format {
            write!(f, " {format}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{ParsedStatement, parse};

    fn sink(sql: &str) -> super::CreateSink {
        match parse(sql).unwrap().remove(0) {
            ParsedStatement::CreateSink(create) => create,
            other => panic!("not CREATE SINK: {other}"),
        }
    }

    #[test]
    fn a_sink_from_a_view_parses_and_prints_back() {
        let create = sink(
            "CREATE SINK IF NOT EXISTS totals_out FROM totals \
             WITH (connector = 'kafka', topic = 'totals', primary_key = 'customer') \
             FORMAT UPSERT ENCODE JSON; SELECT 1",
        );
        assert!(create.if_not_exists);
        assert_eq!(create.query(), "SELECT * FROM totals");
        assert_eq!(create.option("primary_key"), Some("customer"));
        assert_eq!(create.format.as_ref().unwrap().format, "UPSERT");
        assert_eq!(sink(&create.to_string()), create);
    }

    #[test]
    fn a_sink_query_ends_at_the_options() {
        let create = sink(
            "CREATE SINK s AS WITH big AS (SELECT * FROM t WHERE a IN (1, 2)) \
             SELECT a, count(*) FROM big GROUP BY a WITH (connector = 'kafka', topic = 'x')",
        );
        assert!(
            create.query().starts_with("WITH big AS"),
            "{}",
            create.query()
        );
        assert_eq!(create.option("topic"), Some("x"));
        assert_eq!(create.format, None);
        assert_eq!(sink(&create.to_string()), create);
        let error = parse("CREATE SINK s AS SELECT 1").unwrap_err();
        assert!(error.detail.unwrap().contains("WITH (…)"));
    }
}
