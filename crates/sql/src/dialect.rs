//! weir's SQL dialect: sqlparser's PostgreSQL dialect, except that a named function
//! argument must be named by an identifier, as in PostgreSQL (`f(a => 1)`).
//!
//! sqlparser's PostgreSQL dialect also reads an expression as an argument's name: it
//! parses each argument as a name first and, finding no `=>`, parses it again as the
//! argument itself. Each level of nested calls doubles the work, so
//! `f(f(f(…)))` twenty deep took 1.6 s to parse and twenty-five deep a minute. With
//! identifiers only, the first attempt fails at once. Likewise a `CAST(` that is not a
//! well-formed cast was parsed again as a call of a function named `cast` (22 nested:
//! over a minute); `CAST` is reserved, as in PostgreSQL, so it is a syntax error at once.
//!
//! Everything else is the PostgreSQL dialect's: [`WeirDialect`] answers as that dialect
//! for the parser's dialect checks, and passes every setting the dialect makes on to it.

use std::any::TypeId;

use datafusion::sql::sqlparser::dialect::{Dialect, PostgreSqlDialect, Precedence};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

#[derive(Debug, Default)]
pub struct WeirDialect;

/// Passes each named setting on to the PostgreSQL dialect.
macro_rules! as_postgresql {
    ($(fn $name:ident(&self $(, $argument:ident: $type:ty)*) -> $result:ty;)*) => {
        $(fn $name(&self $(, $argument: $type)*) -> $result {
            PostgreSqlDialect {}.$name($($argument),*)
        })*
    };
}

impl Dialect for WeirDialect {
    fn dialect(&self) -> TypeId {
        TypeId::of::<PostgreSqlDialect>()
    }

    fn supports_named_fn_args_with_expr_name(&self) -> bool {
        false
    }

    /// `CAST` is reserved in PostgreSQL, so a `CAST(` that does not parse as a cast is an
    /// error, not a call of a function named `cast` parsed a second time.
    fn is_reserved_for_identifier(&self, keyword: Keyword) -> bool {
        keyword == Keyword::CAST || PostgreSqlDialect {}.is_reserved_for_identifier(keyword)
    }

    as_postgresql! {
        fn identifier_quote_style(&self, identifier: &str) -> Option<char>;
        fn is_delimited_identifier_start(&self, ch: char) -> bool;
        fn is_identifier_start(&self, ch: char) -> bool;
        fn is_identifier_part(&self, ch: char) -> bool;
        fn supports_unicode_string_literal(&self) -> bool;
        fn is_custom_operator_part(&self, ch: char) -> bool;
        fn get_next_precedence(&self, parser: &Parser) -> Option<Result<u8, ParserError>>;
        fn supports_filter_during_aggregation(&self) -> bool;
        fn supports_group_by_expr(&self) -> bool;
        fn prec_value(&self, precedence: Precedence) -> u8;
        fn allow_extract_custom(&self) -> bool;
        fn allow_extract_single_quotes(&self) -> bool;
        fn supports_create_index_with_clause(&self) -> bool;
        fn supports_explain_with_utility_options(&self) -> bool;
        fn supports_listen_notify(&self) -> bool;
        fn supports_factorial_operator(&self) -> bool;
        fn supports_bitwise_shift_operators(&self) -> bool;
        fn supports_comment_on(&self) -> bool;
        fn supports_load_extension(&self) -> bool;
        fn supports_named_fn_args_with_colon_operator(&self) -> bool;
        fn supports_empty_projections(&self) -> bool;
        fn supports_nested_comments(&self) -> bool;
        fn supports_string_escape_constant(&self) -> bool;
        fn supports_numeric_literal_underscores(&self) -> bool;
        fn supports_array_typedef_with_brackets(&self) -> bool;
        fn supports_geometric_types(&self) -> bool;
        fn supports_set_names(&self) -> bool;
        fn supports_alter_column_type_using(&self) -> bool;
        fn supports_notnull_operator(&self) -> bool;
        fn supports_interval_options(&self) -> bool;
        fn supports_insert_table_alias(&self) -> bool;
        fn supports_create_table_like_parenthesized(&self) -> bool;
        fn supports_select_wildcard_with_alias(&self) -> bool;
        fn supports_comma_separated_trim(&self) -> bool;
        fn supports_xml_expressions(&self) -> bool;
        fn supports_comment_optimizer_hint(&self) -> bool;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_as_postgresql_but_names_arguments_by_identifiers_only() {
        let parse = |sql: &str| Parser::parse_sql(&WeirDialect, sql).map(|s| s[0].to_string());
        let postgresql =
            |sql: &str| Parser::parse_sql(&PostgreSqlDialect {}, sql).map(|s| s[0].to_string());
        for sql in [
            "SELECT f(a => 1, b := 2), x::int, E'\\n', 5!, 'a' ~* 'b', $1, ARRAY[1][1]",
            "SELECT \"Q\" FROM t WHERE a NOTNULL",
        ] {
            assert_eq!(parse(sql).unwrap(), postgresql(sql).unwrap(), "{sql}");
        }
        let nested = format!("SELECT {}1{}", "abs(".repeat(40), ")".repeat(40));
        let started = std::time::Instant::now();
        parse(&nested).unwrap();
        let broken_casts = format!("SELECT {}1{}", "CAST(".repeat(40), ")".repeat(40));
        assert!(parse(&broken_casts).is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        let casts = format!("SELECT {}1{}", "CAST(".repeat(40), " AS int)".repeat(40));
        assert_eq!(parse(&casts).unwrap(), postgresql(&casts).unwrap());
    }
}
