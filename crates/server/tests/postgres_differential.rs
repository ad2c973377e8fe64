//! The differential test against PostgreSQL: random scalar expressions over one table of
//! every supported type (see `differential/grammar.rs`), each run by weir and by a private
//! PostgreSQL on the same rows, as a batch `SELECT` and, in weir, inside a materialized
//! view. The answers must agree:
//!
//! * equal values, compared as the text both servers send;
//! * equal result column types;
//! * an error where PostgreSQL errs, of the same SQLSTATE class; inside a view, the rows
//!   PostgreSQL cannot compute are left out (and recorded in `weir_catalog.view_errors`),
//!   the others equal PostgreSQL's values row by row. The view is created over an empty
//!   table that is then given the rows, so the rows go through view maintenance, and
//!   then deleted, which must empty it.
//!
//! weir may refuse what it does not support, with 0A000 or 42883; refusals are counted
//! and listed, never a failure. An expression PostgreSQL itself rejects as ill-typed
//! (class 42) is skipped. A difference is shrunk to a smallest expression that still
//! differs and printed with its seed and a script that reproduces it.
//!
//! `cargo test --test postgres_differential` runs `WEIR_DIFFERENTIAL_EXPRESSIONS`
//! expressions (default 2000) from `WEIR_DIFFERENTIAL_SEED` (default fixed);
//! `bash scripts/differential.sh [N] [SEED]` runs as many as asked.
//! `WEIR_DIFFERENTIAL_KNOWN=1` also draws the templates known to differ.

mod support;

#[path = "differential/grammar.rs"]
mod grammar;

use std::collections::BTreeMap;

use grammar::{Expr, Grammar, IDS, TYPES, setup};
use support::TestServer;
use support::postgres::Postgres;
use support::random::Random;
use tokio_postgres::{Client, SimpleQueryMessage};

/// How deep generated expressions nest.
const DEPTH: u32 = 3;

/// What one server answered to a one-column query: its rows as text, or an error.
#[derive(Clone, Debug, PartialEq)]
enum Answer {
    Rows(Vec<Option<String>>),
    Error { code: String, message: String },
}

impl Answer {
    fn code(&self) -> Option<&str> {
        match self {
            Answer::Rows(_) => None,
            Answer::Error { code, .. } => Some(code),
        }
    }
}

fn error_answer(error: &tokio_postgres::Error) -> Answer {
    match error.as_db_error() {
        Some(db) => Answer::Error {
            code: db.code().code().to_owned(),
            message: db.message().to_owned(),
        },
        None => Answer::Error {
            code: "connection".into(),
            message: error.to_string(),
        },
    }
}

async fn answer(client: &Client, sql: &str) -> Answer {
    match client.simple_query(sql).await {
        Ok(messages) => Answer::Rows(
            messages
                .iter()
                .filter_map(|message| match message {
                    SimpleQueryMessage::Row(row) => Some(row.get(0).map(str::to_owned)),
                    _ => None,
                })
                .collect(),
        ),
        Err(error) => error_answer(&error),
    }
}

/// The type of the query's one column, as the server describes it.
async fn column_type(client: &Client, sql: &str) -> Result<String, Answer> {
    match client.prepare(sql).await {
        Ok(statement) => Ok(statement.columns()[0].type_().name().to_owned()),
        Err(error) => Err(error_answer(&error)),
    }
}

/// How weir's answers to one expression compare with PostgreSQL's.
#[derive(Debug)]
enum Outcome {
    Same,
    /// weir refused, with this message, what PostgreSQL answers.
    Refused(String),
    /// PostgreSQL rejects the expression itself.
    Invalid,
    /// One server errs where the other answers: the mark of a constant part folded by
    /// one planner and not the other. Either the other answers NULL in every row
    /// (PostgreSQL makes `e + NULL` NULL without computing `e`, DataFusion
    /// `(1/0) IS NULL` false), or a part without a column fails on its own.
    Folded,
    Differs(String),
}

struct Servers {
    weir: Client,
    postgres: Client,
    /// Keeps the servers running.
    _processes: (TestServer, Postgres),
}

fn refusal(answer: &Answer) -> Option<String> {
    match answer {
        Answer::Error { code, message } if code == "0A000" || code == "42883" => {
            Some(format!("{code} {message}"))
        }
        _ => None,
    }
}

/// Whether one answer is an error and the other NULL in every row.
fn folded(a: &Answer, b: &Answer) -> bool {
    let all_null =
        |answer: &Answer| matches!(answer, Answer::Rows(rows) if rows.iter().all(Option::is_none));
    (a.code().is_some() && all_null(b)) || (b.code().is_some() && all_null(a))
}

/// Whether both are errors of one SQLSTATE class.
fn same_class(a: &Answer, b: &Answer) -> bool {
    match (a.code(), b.code()) {
        (Some(a), Some(b)) => a.get(..2) == b.get(..2),
        _ => false,
    }
}

fn show(answer: &Answer) -> String {
    match answer {
        Answer::Rows(rows) => format!(
            "[{}]",
            rows.iter()
                .map(|row| row.as_deref().unwrap_or("NULL"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Answer::Error { code, message } => format!("error {code}: {message}"),
    }
}

impl Servers {
    async fn start() -> Servers {
        let weir_server = TestServer::start();
        let postgres_server = Postgres::start();
        let weir = weir_server.connect().await;
        let postgres = postgres_server.connect().await;
        postgres
            .batch_execute(&setup())
            .await
            .expect("PostgreSQL setup");
        weir.batch_execute(&setup()).await.expect("weir setup");
        Servers {
            weir,
            postgres,
            _processes: (weir_server, postgres_server),
        }
    }

    /// Compares the servers' answers to `expression`: batch values, errors and types,
    /// then the materialized view's rows.
    async fn compare(&self, grammar: &Grammar, expr: &Expr) -> Outcome {
        let expression = &grammar.render(expr);
        let query = format!("SELECT {expression} AS x FROM t ORDER BY id");
        let expected = answer(&self.postgres, &query).await;
        if expected.code().is_some_and(|code| code.starts_with("42")) {
            return Outcome::Invalid;
        }
        let found = answer(&self.weir, &query).await;
        if let Some(refused) = refusal(&found) {
            return Outcome::Refused(refused);
        }
        let same = match (&expected, &found) {
            (Answer::Rows(a), Answer::Rows(b)) => a == b,
            (a, b) => same_class(a, b),
        };
        let one_errs = expected.code().is_some() != found.code().is_some();
        if !same && one_errs && (folded(&expected, &found) || self.folds(grammar, expr).await) {
            return Outcome::Folded;
        }
        if !same {
            return Outcome::Differs(format!(
                "SELECT: PostgreSQL {}, weir {}",
                show(&expected),
                show(&found)
            ));
        }
        if let Answer::Rows(_) = expected {
            let expected_type = column_type(&self.postgres, &query).await;
            let found_type = column_type(&self.weir, &query).await;
            if let Some(refused) = found_type.as_ref().err().and_then(refusal) {
                return Outcome::Refused(refused);
            }
            if expected_type != found_type {
                return Outcome::Differs(format!(
                    "result type: PostgreSQL {expected_type:?}, weir {found_type:?}"
                ));
            }
        }
        self.compare_view(grammar, expr, &expected).await
    }

    /// Whether `expr` has a NULL literal or a part without a column that fails on its
    /// own, in either server: then whether the whole fails depends on what a planner
    /// computes ahead (PostgreSQL computes constant parts even in a `CASE` branch no row
    /// takes, and folds `e + NULL` to NULL; weir's DataFusion leaves a part that fails to
    /// run time, where `CASE` and `coalesce` may skip it).
    async fn folds(&self, grammar: &Grammar, expr: &Expr) -> bool {
        if grammar.has_null(expr) {
            return true;
        }
        let mut parts = Vec::new();
        grammar.constant_parts(expr, &mut parts);
        for part in parts {
            let sql = format!("SELECT {}", grammar.render(part));
            for client in [&self.postgres, &self.weir] {
                if answer(client, &sql).await.code().is_some() {
                    return true;
                }
            }
        }
        false
    }

    /// A view of `expression` over `u`, created empty and then given `t`'s rows, must
    /// hold PostgreSQL's value for each row it can compute and leave out the rows where
    /// it errs; once the rows are deleted again, it must be empty.
    async fn compare_view(&self, grammar: &Grammar, expr: &Expr, batch: &Answer) -> Outcome {
        let expression = &grammar.render(expr);
        let mut expected = BTreeMap::new();
        match batch {
            Answer::Rows(rows) => expected.extend(IDS.iter().copied().zip(rows.iter().cloned())),
            Answer::Error { .. } => {
                for id in IDS {
                    let sql = format!("SELECT {expression} FROM t WHERE id = {id}");
                    if let Answer::Rows(rows) = answer(&self.postgres, &sql).await {
                        expected.insert(id, rows[0].clone());
                    }
                }
            }
        }
        // PostgreSQL erring on every row is the mark of an error in a constant part of the
        // expression, which its planner computes once, even in a branch no row takes;
        // weir's CREATE may fail as PostgreSQL's would, or its view compute more rows.
        let constant_error = expected.is_empty();
        let create = format!("CREATE MATERIALIZED VIEW dv AS SELECT id, {expression} AS x FROM u");
        if let Err(error) = self.weir.batch_execute(&create).await {
            let error = error_answer(&error);
            return match refusal(&error) {
                Some(refused) => Outcome::Refused(refused),
                None if constant_error && same_class(batch, &error) => Outcome::Same,
                None if self.folds(grammar, expr).await => Outcome::Folded,
                None => Outcome::Differs(format!("CREATE MATERIALIZED VIEW: {}", show(&error))),
            };
        }
        let found = self.view_rows("INSERT INTO u SELECT * FROM t").await;
        let emptied = self.view_rows("DELETE FROM u").await;
        self.weir
            .batch_execute("DROP MATERIALIZED VIEW dv")
            .await
            .expect("DROP MATERIALIZED VIEW");
        match (found, emptied) {
            (Ok(found), _) if found != expected && !constant_error => Outcome::Differs(format!(
                "view rows by id: PostgreSQL {expected:?}, weir {found:?}"
            )),
            (Ok(_), Ok(left)) if left.is_empty() => Outcome::Same,
            (Ok(_), Ok(left)) => {
                Outcome::Differs(format!("rows left in the view after DELETE: {left:?}"))
            }
            (Err(error), _) | (_, Err(error)) => {
                Outcome::Differs(format!("view: {}", show(&error)))
            }
        }
    }

    /// Runs `change` on `u`, then reads the view `dv` by id.
    async fn view_rows(&self, change: &str) -> Result<BTreeMap<i32, Option<String>>, Answer> {
        self.weir
            .batch_execute(change)
            .await
            .map_err(|e| error_answer(&e))?;
        let messages = self
            .weir
            .simple_query("SELECT id, x FROM dv ORDER BY id")
            .await
            .map_err(|e| error_answer(&e))?;
        Ok(messages
            .iter()
            .filter_map(|message| match message {
                SimpleQueryMessage::Row(row) => Some((
                    row.get(0).and_then(|id| id.parse().ok()).expect("an id"),
                    row.get(1).map(str::to_owned),
                )),
                _ => None,
            })
            .collect())
    }

    /// The smallest expression, shrinking `expr` a step at a time, that still differs.
    async fn shrink(&self, grammar: &Grammar, mut expr: Expr, mut why: String) -> (Expr, String) {
        'shrinking: loop {
            for candidate in grammar.smaller(&expr) {
                if let Outcome::Differs(reason) = self.compare(grammar, &candidate).await {
                    (expr, why) = (candidate, reason);
                    continue 'shrinking;
                }
            }
            return (expr, why);
        }
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|value| {
            value
                .parse()
                .unwrap_or_else(|_| panic!("{name} is a number"))
        })
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread")]
async fn expressions_answer_as_postgresql_does() {
    let expressions = env_number("WEIR_DIFFERENTIAL_EXPRESSIONS", 2000);
    let first_seed = env_number("WEIR_DIFFERENTIAL_SEED", 1);
    let grammar = Grammar::new(std::env::var("WEIR_DIFFERENTIAL_KNOWN").is_ok_and(|v| v == "1"));
    let servers = Servers::start().await;

    let mut counts = BTreeMap::<&str, u64>::new();
    let mut refusals = BTreeMap::<String, u64>::new();
    let mut differences = Vec::new();
    let mut differing_templates = std::collections::BTreeSet::new();
    for seed in first_seed..first_seed + expressions {
        let mut random = Random::new(seed);
        let ty = *random.pick(&TYPES);
        let expr = grammar.generate(&mut random, ty, DEPTH);
        match servers.compare(&grammar, &expr).await {
            Outcome::Same => *counts.entry("same").or_default() += 1,
            Outcome::Invalid => *counts.entry("invalid").or_default() += 1,
            Outcome::Folded => *counts.entry("folded").or_default() += 1,
            Outcome::Refused(message) => {
                *counts.entry("refused").or_default() += 1;
                *refusals.entry(message).or_default() += 1;
            }
            Outcome::Differs(why) => {
                *counts.entry("differ").or_default() += 1;
                let (small, why) = servers.shrink(&grammar, expr, why).await;
                // One reproducer per template (or leaf); the rest are counted.
                let key = match &small {
                    Expr::Apply(template, args) => format!(
                        "template {:?} of {:?}",
                        grammar.templates[*template].sql,
                        args.iter().map(|arg| grammar.ty(arg)).collect::<Vec<_>>()
                    ),
                    Expr::Leaf(_, sql) => format!("leaf {sql}"),
                };
                if differing_templates.insert(key.clone()) {
                    differences.push((seed, grammar.render(&small), format!("{key}: {why}")));
                }
            }
        }
    }

    println!("{expressions} expressions from seed {first_seed}: {counts:?}");
    let mut refusals: Vec<_> = refusals.into_iter().collect();
    refusals.sort_by_key(|refusal| std::cmp::Reverse(refusal.1));
    for (message, count) in refusals.iter().take(30) {
        println!("  refused {count}×: {message}");
    }
    for (seed, expression, why) in &differences {
        println!("\nseed {seed}: SELECT {expression} AS x FROM t ORDER BY id;\n  {why}");
    }
    assert!(
        differences.is_empty(),
        "{} expressions differ from PostgreSQL ({} templates); the tables:\n{}",
        counts.get("differ").copied().unwrap_or(0),
        differences.len(),
        setup()
    );
}
