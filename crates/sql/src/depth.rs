//! A bound on how deep a statement's syntax tree can be, checked on its tokens before it is
//! parsed.
//!
//! Parsing, planning and evaluating a statement recurse once per level of its tree, and a
//! deep enough tree overflows the thread's stack, which aborts the whole server. sqlparser
//! bounds nesting by parentheses and keywords (its recursion limit) but not chains of
//! operators: `1 + 1 + … + 1`, `a OR b OR …`, `SELECT … UNION ALL SELECT …` and
//! `t JOIN u JOIN …` parse in a loop into trees as deep as the chain is long. A statement's
//! tree is at most as deep as its longest path through such chains: at each level of
//! parentheses, the operators since the last comma at that level, summed over the levels
//! that enclose it. A statement for which that exceeds [`MAX_DEPTH`] is refused with 54001
//! before it is parsed, as PostgreSQL refuses one that would exceed its stack.

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};
use weir_common::{Result, SqlState, WeirError};

/// The deepest chain of operators a statement may hold; PostgreSQL, with its default
/// 2 MB `max_stack_depth`, plans `SELECT 1 + … + 1` of 4,000 terms and refuses 5,000.
pub const MAX_DEPTH: usize = 10_000;

/// Refuses `tokens` (of one or more statements) if a chain of operators in them is deeper
/// than [`MAX_DEPTH`].
pub(crate) fn check_depth(tokens: &[TokenWithSpan]) -> Result<()> {
    // The operators since the last comma at each level of parentheses, outermost first,
    // and their sum.
    let mut levels: Vec<usize> = vec![0];
    let mut depth = 0;
    for token in tokens {
        match &token.token {
            Token::LParen | Token::LBracket => levels.push(0),
            Token::RParen | Token::RBracket if levels.len() > 1 => {
                depth -= levels.pop().unwrap_or(0);
            }
            Token::Comma => {
                let last = levels.last_mut().expect("the outermost level stays");
                depth -= *last;
                *last = 0;
            }
            Token::SemiColon => {
                levels = vec![0];
                depth = 0;
            }
            token if is_operator(token) => {
                *levels.last_mut().expect("the outermost level stays") += 1;
                depth += 1;
                if depth + levels.len() > MAX_DEPTH {
                    return Err(too_deep());
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether `token` joins two parts of an expression, query or join into one node.
fn is_operator(token: &Token) -> bool {
    match token {
        Token::Word(word) => matches!(
            word.keyword,
            Keyword::AND
                | Keyword::OR
                | Keyword::NOT
                | Keyword::IS
                | Keyword::IN
                | Keyword::LIKE
                | Keyword::ILIKE
                | Keyword::SIMILAR
                | Keyword::BETWEEN
                | Keyword::COLLATE
                | Keyword::AT
                | Keyword::UNION
                | Keyword::INTERSECT
                | Keyword::EXCEPT
                | Keyword::JOIN
        ),
        Token::EOF
        | Token::Number(..)
        | Token::Char(_)
        | Token::Whitespace(_)
        | Token::Period
        | Token::Placeholder(_)
        | Token::LBrace
        | Token::RBrace => false,
        token => !is_literal(token),
    }
}

fn is_literal(token: &Token) -> bool {
    matches!(
        token,
        Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::TripleSingleQuotedString(_)
            | Token::TripleDoubleQuotedString(_)
            | Token::DollarQuotedString(_)
            | Token::SingleQuotedByteStringLiteral(_)
            | Token::DoubleQuotedByteStringLiteral(_)
            | Token::TripleSingleQuotedByteStringLiteral(_)
            | Token::TripleDoubleQuotedByteStringLiteral(_)
            | Token::SingleQuotedRawStringLiteral(_)
            | Token::DoubleQuotedRawStringLiteral(_)
            | Token::TripleSingleQuotedRawStringLiteral(_)
            | Token::TripleDoubleQuotedRawStringLiteral(_)
            | Token::NationalStringLiteral(_)
            | Token::QuoteDelimitedStringLiteral(_)
            | Token::NationalQuoteDelimitedStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::HexStringLiteral(_)
    )
}

/// PostgreSQL's error for a statement too deep for its stack.
pub(crate) fn too_deep() -> WeirError {
    WeirError::new(
        SqlState::STATEMENT_TOO_COMPLEX,
        "stack depth limit exceeded",
    )
    .with_hint(format!(
        "The statement nests more than {MAX_DEPTH} levels of operators, subqueries or \
             parentheses; split it, or use IN (…) or VALUES for long lists."
    ))
}

#[cfg(test)]
mod tests {
    use crate::dialect::WeirDialect;
    use datafusion::sql::sqlparser::tokenizer::Tokenizer;

    use super::*;

    fn depth_ok(sql: &str) -> bool {
        let tokens = Tokenizer::new(&WeirDialect, sql)
            .tokenize_with_location()
            .unwrap();
        check_depth(&tokens).is_ok()
    }

    fn chain(separator: &str, terms: usize) -> String {
        vec!["1"; terms].join(separator)
    }

    #[test]
    fn long_chains_are_refused() {
        assert!(depth_ok(&format!(
            "SELECT {}",
            chain(" + ", MAX_DEPTH - 10)
        )));
        assert!(!depth_ok(&format!(
            "SELECT {}",
            chain(" + ", MAX_DEPTH + 1)
        )));
        assert!(!depth_ok(&format!("SELECT {}", chain(" OR ", 100_000))));
        assert!(!depth_ok(&format!(
            "SELECT {}",
            chain(" UNION ALL SELECT ", 100_000)
        )));
    }

    #[test]
    fn chains_add_up_through_parentheses_but_not_across_commas() {
        let half = chain(" + ", MAX_DEPTH / 2);
        assert!(!depth_ok(&format!("SELECT {half} + ({half} + 1)")));
        assert!(depth_ok(&format!(
            "SELECT {half}, ({half}), f({half}, {half})"
        )));
        assert!(depth_ok(&format!("SELECT {half}; SELECT {half}")));
    }

    #[test]
    fn long_lists_are_not_chains() {
        let list = vec!["'x'"; 100_000].join(", ");
        assert!(depth_ok(&format!("SELECT * FROM t WHERE a IN ({list})")));
        let rows = vec!["(1, 'a b c')"; 100_000].join(", ");
        assert!(depth_ok(&format!("INSERT INTO t VALUES {rows}")));
    }
}
