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
//! before it is parsed, as PostgreSQL refuses one that would exceed its stack. `CASE …
//! END` nests as parentheses do, its `WHEN`, `THEN` and `ELSE` parting it as commas do.
//! sqlparser's own recursion limit (by default 50, which refused statements PostgreSQL
//! plans, such as 50 nested parentheses) is set above what this admits.
//!
//! Planning cannot be interrupted, so the time it takes is bounded too: nested calls and
//! nested subqueries in expressions, which DataFusion plans in time that grows faster
//! than the cube of their depth, have tighter bounds of their own ([`MAX_CALL_DEPTH`],
//! and [`MAX_SUBQUERY_DEPTH`], checked on the parsed statement), and so does `BETWEEN` in
//! the operand of `BETWEEN`, which it writes twice ([`MAX_BETWEEN_DEPTH`]). What it plans
//! in time in the square of the depth — chains of operators, nested `CASE`s, long unions
//! and joins — is bounded on the parsed statement by `planning_cost`.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::LazyLock;

use datafusion::sql::sqlparser::ast::{Expr, Visit, Visitor};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};
use weir_common::{Result, SqlState, WeirError};

/// The deepest chain of operators a statement may hold; PostgreSQL, with its default
/// 2 MB `max_stack_depth`, plans `SELECT 1 + … + 1` of 4,000 terms and refuses 5,000.
pub const MAX_DEPTH: usize = 10_000;

/// sqlparser's bound on its recursion, which each level of parentheses or `CASE` takes
/// once (measured: 4,400 levels of either parse under a limit of 4,500), so statements
/// [`check_depth`] admits stay below it.
pub(crate) const RECURSION_LIMIT: usize = 2 * MAX_DEPTH;

/// The deepest nesting of calls (`f(g(h(…)))`, casts) a statement may hold. DataFusion plans nested calls in time in the cube of their depth
/// (each level's name is the text of every level below it, and each level is named at
/// every level above it): 200 levels of `abs(…)` take 1.2 s on a 2-core machine, 400
/// levels 9.5 s. PostgreSQL plans 3,000.
pub(crate) const MAX_CALL_DEPTH: usize = 200;

/// The deepest nesting of subqueries in expressions (`(SELECT …)`, `IN (SELECT …)`,
/// `EXISTS (…)`) a statement may hold. DataFusion checks a plan by walking each subquery
/// from each level that holds it, in time that nearly doubles with each level: 18 levels
/// took 1.1 to 2.8 s to plan on a 2-core machine, 20 levels 2.4 s (PostgreSQL: 0.05 s).
/// Subqueries in `FROM` do not count; they plan in time that grows with their number.
const MAX_SUBQUERY_DEPTH: usize = 16;

/// The deepest nesting of `BETWEEN` in the operand of `BETWEEN` a statement may hold.
/// DataFusion writes `x BETWEEN a AND b` as `x >= a AND x <= b`, `x` twice, so each level
/// doubles the plan: 14 levels took 0.4 s to plan, 16 levels 1.9 s, 20 levels more than
/// 30 s.
const MAX_BETWEEN_DEPTH: usize = 12;

/// Refuses `statement` (or a sink's query) if subqueries in its expressions nest deeper
/// than [`MAX_SUBQUERY_DEPTH`], or `BETWEEN`s deeper than [`MAX_BETWEEN_DEPTH`].
pub(crate) fn check_expression_depth(statement: &impl Visit) -> Result<()> {
    let mut subqueries = SubqueryDepth { depth: 0 };
    if statement.visit(&mut subqueries).is_break() {
        return Err(too_deep(format!(
            "The statement nests more than {MAX_SUBQUERY_DEPTH} subqueries in expressions; \
             write the inner ones as common table expressions or joins."
        )));
    }
    let mut betweens = BetweenDepth {
        operands: vec![],
        depth: 0,
    };
    if statement.visit(&mut betweens).is_break() {
        return Err(too_deep(format!(
            "The statement nests more than {MAX_BETWEEN_DEPTH} BETWEENs, each in the \
             operand of the next; compute the inner ones in a common table expression."
        )));
    }
    Ok(())
}

/// How many `BETWEEN` operands enclose the expression visited.
struct BetweenDepth {
    /// The operand of each `BETWEEN` being visited, innermost last.
    operands: Vec<*const Expr>,
    depth: usize,
}

impl Visitor for BetweenDepth {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if self.operands.last() == Some(&std::ptr::from_ref(expr)) {
            self.depth += 1;
            if self.depth > MAX_BETWEEN_DEPTH {
                return ControlFlow::Break(());
            }
        }
        if let Expr::Between { expr: operand, .. } = expr {
            self.operands.push(std::ptr::from_ref(operand.as_ref()));
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if matches!(expr, Expr::Between { .. }) {
            self.operands.pop();
        }
        if self.operands.last() == Some(&std::ptr::from_ref(expr)) {
            self.depth -= 1;
        }
        ControlFlow::Continue(())
    }
}

/// How many subquery expressions enclose the expression visited.
struct SubqueryDepth {
    depth: usize,
}

impl Visitor for SubqueryDepth {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if is_subquery(expr) {
            self.depth += 1;
            if self.depth > MAX_SUBQUERY_DEPTH {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if is_subquery(expr) {
            self.depth -= 1;
        }
        ControlFlow::Continue(())
    }
}

fn is_subquery(expr: &Expr) -> bool {
    matches!(
        expr,
        Expr::Subquery(_) | Expr::InSubquery { .. } | Expr::Exists { .. }
    )
}

/// The deepest nesting of queries in parentheses (`FROM (SELECT … FROM (SELECT …))`) a
/// statement may hold: planning copies a query's tree, 9,990 levels of it nearly all of
/// an executor thread's 256 MB stack.
const MAX_QUERY_DEPTH: usize = 1_000;

/// The deepest nesting of calls that name a function by another of its names (`ifnull`
/// for `nvl`, `pow` for `power`): DataFusion names such a call after its arguments' text,
/// which holds each inner call's name twice, so names double at each level (20 levels of
/// `ifnull` took 41 s to plan; more exhausted memory).
const MAX_ALIASED_CALL_DEPTH: usize = 12;

/// What opened a level of nesting.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    /// The whole statement.
    Statement,
    /// Parentheses (or brackets) that group.
    Group,
    /// A call's (or cast's) arguments; `aliased` if it names its function by another name.
    Call { aliased: bool },
    /// A query in parentheses.
    Query,
    /// `CASE … END`.
    Case,
}

/// Refuses `tokens` (of one or more statements) if a chain of operators in them is deeper
/// than [`MAX_DEPTH`], or calls or queries nest deeper than their own bounds.
pub(crate) fn check_depth(tokens: &[TokenWithSpan]) -> Result<()> {
    // Each level, outermost first, with the operators since the last comma at it; the sum
    // of those; and how many levels of each bounded kind are open.
    let mut levels: Vec<(Level, usize)> = vec![(Level::Statement, 0)];
    let mut depth = 0;
    let mut calls = 0;
    let mut aliased_calls = 0;
    let mut queries = 0;
    let mut previous: Option<&Token> = None;
    for token in tokens {
        // A keyword after `.` is a name (`t.end`).
        let keyword = match &token.token {
            Token::Word(word) if previous != Some(&Token::Period) => word.keyword,
            _ => Keyword::NoKeyword,
        };
        let top = levels.last().map(|(level, _)| *level);
        let mut opened = None;
        match &token.token {
            Token::Whitespace(_) => continue,
            Token::Word(_) if keyword == Keyword::CASE => opened = Some(Level::Case),
            Token::Word(_) if keyword == Keyword::END && top == Some(Level::Case) => {
                depth -= levels.pop().map_or(0, |(_, operators)| operators);
            }
            Token::Word(_)
                if matches!(keyword, Keyword::SELECT | Keyword::WITH | Keyword::VALUES)
                    && previous == Some(&Token::LParen)
                    && top == Some(Level::Group) =>
            {
                if let Some(last) = levels.last_mut() {
                    last.0 = Level::Query;
                }
                queries += 1;
                if queries > MAX_QUERY_DEPTH {
                    return Err(too_deep(format!(
                        "The statement nests more than {MAX_QUERY_DEPTH} queries in \
                         parentheses; write the inner ones as common table expressions."
                    )));
                }
            }
            Token::LParen | Token::LBracket => {
                opened = Some(match previous {
                    Some(name) if opens_call(name) => Level::Call {
                        aliased: is_other_name(name),
                    },
                    _ => Level::Group,
                });
            }
            Token::RParen | Token::RBracket if levels.len() > 1 => {
                let (level, operators) = levels.pop().unwrap_or((Level::Group, 0));
                depth -= operators;
                match level {
                    Level::Call { aliased } => {
                        calls -= 1;
                        aliased_calls -= usize::from(aliased);
                    }
                    Level::Query => queries -= 1,
                    _ => {}
                }
            }
            token if parts(token, keyword, top) => {
                let last = levels.last_mut().expect("the outermost level stays");
                depth -= last.1;
                last.1 = 0;
            }
            Token::SemiColon => {
                levels = vec![(Level::Statement, 0)];
                depth = 0;
                calls = 0;
                aliased_calls = 0;
                queries = 0;
            }
            token if is_operator(token) => {
                levels.last_mut().expect("the outermost level stays").1 += 1;
                depth += 1;
            }
            _ => {}
        }
        if let Some(level) = opened {
            levels.push((level, 0));
            if let Level::Call { aliased } = level {
                calls += 1;
                aliased_calls += usize::from(aliased);
            }
            if calls > MAX_CALL_DEPTH {
                return Err(too_deep(format!(
                    "The statement nests more than {MAX_CALL_DEPTH} function calls or casts; \
                     split it into views or common table expressions."
                )));
            }
            if aliased_calls > MAX_ALIASED_CALL_DEPTH {
                return Err(too_deep(format!(
                    "The statement nests more than {MAX_ALIASED_CALL_DEPTH} calls that name \
                     their function by another name (such as ifnull for nvl); use the \
                     function's own name."
                )));
            }
        }
        if depth + levels.len() > MAX_DEPTH {
            return Err(chain_too_deep());
        }
        previous = Some(&token.token);
    }
    Ok(())
}

/// Whether `token` ends one part of a level and begins the next: a comma, or the `WHEN`,
/// `THEN` or `ELSE` of a `CASE` (`keyword` is the token's, unless it is a name).
fn parts(token: &Token, keyword: Keyword, top: Option<Level>) -> bool {
    match token {
        Token::Comma => true,
        Token::Word(_) => {
            top == Some(Level::Case)
                && matches!(keyword, Keyword::WHEN | Keyword::THEN | Keyword::ELSE)
        }
        _ => false,
    }
}

/// Whether `token` names a function by another of its names, as DataFusion's functions
/// have them (`ifnull`, `pow`, `length`, …).
fn is_other_name(token: &Token) -> bool {
    let Token::Word(word) = token else {
        return false;
    };
    static OTHER_NAMES: LazyLock<HashSet<String>> = LazyLock::new(|| {
        let mut functions = datafusion::functions::all_default_functions();
        functions.extend(datafusion::functions_nested::all_default_nested_functions());
        functions
            .iter()
            .flat_map(|function| function.aliases().iter().map(|alias| alias.to_lowercase()))
            .collect()
    });
    OTHER_NAMES.contains(&word.value.to_lowercase())
}

/// Whether a parenthesis after `token` opens a call's arguments (or a subquery's, or a
/// cast's): after a name, or a keyword other than those that open a group.
fn opens_call(token: &Token) -> bool {
    let Token::Word(word) = token else {
        return false;
    };
    !matches!(
        word.keyword,
        Keyword::AND
            | Keyword::OR
            | Keyword::NOT
            | Keyword::IN
            | Keyword::IS
            | Keyword::LIKE
            | Keyword::ILIKE
            | Keyword::BETWEEN
            | Keyword::EXISTS
            | Keyword::VALUES
            | Keyword::AS
            | Keyword::ON
            | Keyword::USING
            | Keyword::WHERE
            | Keyword::HAVING
            | Keyword::SELECT
            | Keyword::FROM
            | Keyword::JOIN
            | Keyword::BY
            | Keyword::CASE
            | Keyword::WHEN
            | Keyword::THEN
            | Keyword::ELSE
            | Keyword::ANY
            | Keyword::ALL
            | Keyword::SOME
            | Keyword::DISTINCT
            | Keyword::LATERAL
            | Keyword::UNION
            | Keyword::INTERSECT
            | Keyword::EXCEPT
            | Keyword::WITH
            | Keyword::RETURN
            | Keyword::RETURNING
            | Keyword::SET
    )
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

/// PostgreSQL's error for a statement too deep for its stack, with `hint` saying which
/// bound it went past.
fn too_deep(hint: String) -> WeirError {
    WeirError::new(
        SqlState::STATEMENT_TOO_COMPLEX,
        "stack depth limit exceeded",
    )
    .with_hint(hint)
}

fn chain_too_deep() -> WeirError {
    too_deep(format!(
        "The statement nests more than {MAX_DEPTH} levels of operators, subqueries or \
         parentheses; split it, or use IN (…) or VALUES for long lists."
    ))
}

/// The error for a statement past sqlparser's [`RECURSION_LIMIT`].
pub(crate) fn nested_too_deep() -> WeirError {
    too_deep(format!(
        "The statement nests more than {RECURSION_LIMIT} levels of expressions or \
         subqueries; split it into views or common table expressions."
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

    /// `open`, `depth` times, around `inner`, then `close` as many times.
    fn nested(open: &str, inner: &str, close: &str, depth: usize) -> String {
        format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
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
    fn calls_nest_to_their_own_bound() {
        let calls = |depth: usize| format!("SELECT {}", nested("abs(", "1", ")", depth));
        assert!(depth_ok(&calls(MAX_CALL_DEPTH)));
        assert!(!depth_ok(&calls(MAX_CALL_DEPTH + 1)));
        let cast = format!("SELECT {}", nested("CAST(", "1", " AS int)", 300));
        assert!(!depth_ok(&cast));
        // Parentheses that group, after an operator or a keyword, are not calls.
        let grouped = format!("SELECT {}", nested("NOT (", "1", ")", 1_000));
        assert!(depth_ok(&grouped));
        let parenthesized = format!("SELECT {}", nested("(", "1", ")", 1_000));
        assert!(depth_ok(&parenthesized));
        // A keyword after `.` is a name: it neither parts nor closes a level.
        let terms = vec!["1"; 999].join(" + ");
        let disguised = format!("SELECT {}", vec![terms; 12].join(" + t.then + t.end + "));
        assert!(!depth_ok(&disguised));
        let cases = format!(
            "SELECT {}",
            nested("CASE WHEN true THEN ", "1", " END", MAX_DEPTH)
        );
        assert!(!depth_ok(&cases));
        // Other names of functions, and queries in parentheses, have bounds of their own.
        let ifnull = |depth| format!("SELECT {}", nested("ifnull(", "1", ", 2)", depth));
        assert!(depth_ok(&ifnull(MAX_ALIASED_CALL_DEPTH)));
        assert!(!depth_ok(&ifnull(MAX_ALIASED_CALL_DEPTH + 1)));
        let queries = |depth| {
            format!(
                "SELECT * FROM {}",
                nested("(SELECT * FROM ", "t", ") s", depth)
            )
        };
        assert!(depth_ok(&queries(MAX_QUERY_DEPTH)));
        assert!(!depth_ok(&queries(MAX_QUERY_DEPTH + 1)));
        // Calls side by side do not nest.
        let side_by_side = vec!["abs(1)"; 1_000].join(", ");
        assert!(depth_ok(&format!("SELECT {side_by_side}")));
    }

    #[test]
    fn subqueries_and_betweens_in_expressions_nest_to_their_own_bounds() {
        let parses_in_bounds = |sql: &str| {
            let statement = crate::parse_sql(sql);
            match statement {
                Ok(_) => true,
                Err(error) => {
                    assert_eq!(error.state, SqlState::STATEMENT_TOO_COMPLEX, "{error}");
                    false
                }
            }
        };
        let scalar = |depth| format!("SELECT {}", nested("(SELECT ", "1", ")", depth));
        assert!(parses_in_bounds(&scalar(MAX_SUBQUERY_DEPTH)));
        assert!(!parses_in_bounds(&scalar(MAX_SUBQUERY_DEPTH + 1)));
        let exists = format!(
            "SELECT 1 {}",
            nested("WHERE EXISTS (SELECT 1 ", "", ")", MAX_SUBQUERY_DEPTH + 1)
        );
        assert!(!parses_in_bounds(&exists));
        let betweens = |depth| {
            format!(
                "SELECT {} FROM t",
                nested("(", "x", " BETWEEN false AND true)", depth)
            )
        };
        assert!(parses_in_bounds(&betweens(MAX_BETWEEN_DEPTH)));
        assert!(!parses_in_bounds(&betweens(MAX_BETWEEN_DEPTH + 1)));
        // In the bounds, BETWEENs do not nest.
        let bounds = format!(
            "SELECT x BETWEEN {} FROM t",
            nested("(x BETWEEN 0 AND ", "0", ") AND 1", 20)
        );
        assert!(parses_in_bounds(&bounds));
        // Subqueries in FROM are not expressions (this thread's stack parses 20).
        let derived = format!(
            "SELECT * FROM {}",
            nested("(SELECT * FROM ", "(SELECT 1 AS x) t", ") t", 20)
        );
        assert!(parses_in_bounds(&derived));
    }

    #[test]
    fn long_lists_are_not_chains() {
        let list = vec!["'x'"; 100_000].join(", ");
        assert!(depth_ok(&format!("SELECT * FROM t WHERE a IN ({list})")));
        let rows = vec!["(1, 'a b c')"; 100_000].join(", ");
        assert!(depth_ok(&format!("INSERT INTO t VALUES {rows}")));
    }
}
