//! The correctness oracle: random tables, random materialized views over them (joins of
//! every kind, aggregates, DISTINCT, set operations, semi and anti joins, CTEs, views on
//! views, top-N), random INSERT/UPDATE/DELETE/TRUNCATE batches; after every batch each
//! view must hold exactly the rows its query returns when run as a batch SELECT on the
//! same data. Values include NULLs, ties, the empty string and long strings, NaN,
//! ±Infinity and -0 floats, and the extreme bigints. The finite floats are sums of a few
//! powers of two, so that any sum of them is exact and the view's sum (exact, then
//! rounded) and the query's (added row by row) must agree to the last bit.
//!
//! `cargo test --test oracle` runs `WEIR_ORACLE_CASES` cases (default 1000) from
//! `WEIR_ORACLE_SEED` (default fixed); `bash scripts/oracle.sh [CASES] [SEED]` runs as
//! many as asked. A failure prints its seed and a shortened SQL script that reproduces it.

mod support;

use std::fmt::Write;

use support::TestServer;
use support::random::Random;
use tokio_postgres::{Client, SimpleQueryMessage};

const TABLES: [&str; 3] = ["t1", "t2", "t3"];

/// One generated case: its setup, views and DML batches, all as SQL.
struct Case {
    tables: Vec<String>,
    views: Vec<(String, String)>,
    batches: Vec<Vec<String>>,
    next_id: u64,
}

fn value(random: &mut Random, bound: u64) -> String {
    match random.chance(15) {
        true => "NULL".into(),
        false => random.below(bound).to_string(),
    }
}

fn text(random: &mut Random) -> String {
    match random.chance(15) {
        true => "NULL".into(),
        false => format!(
            "'{}'",
            random.pick(&["a", "b", "c", "a", "b", "c", "", "zzzzzzzzz", "abcdefghijk"])
        ),
    }
}

fn float(random: &mut Random) -> &'static str {
    random.pick::<&'static str>(&[
        "NULL",
        "'-0'",
        "0",
        "0.5",
        "2.25",
        "-3.5",
        "1024.75",
        "'NaN'",
        "'Infinity'",
        "'-Infinity'",
    ])
}

fn bigint(random: &mut Random) -> &'static str {
    random.pick::<&'static str>(&[
        "NULL",
        "0",
        "1",
        "-1",
        "2147483648",
        "9223372036854775807",
        "-9223372036854775808",
    ])
}

fn row(random: &mut Random, id: u64) -> String {
    format!(
        "({id}, {}, {}, {}, {}, {})",
        value(random, 4),
        value(random, 20),
        text(random),
        float(random),
        bigint(random)
    )
}

fn predicate(random: &mut Random, alias: &str) -> String {
    match random.below(7) {
        0 => format!("{alias}.v > {}", random.below(15)),
        1 => format!("{alias}.k IS NULL"),
        2 => format!("{alias}.s = 'a'"),
        3 => format!("({alias}.v < {} OR {alias}.s IS NULL)", random.below(15)),
        4 => format!("{alias}.f > {}", random.pick(&["0", "1", "-1"])),
        5 => format!("{alias}.b >= {}", random.pick(&["0", "2147483648"])),
        _ => format!("{alias}.k <> {}", random.below(4)),
    }
}

/// `FROM` with one to three tables joined by kinds chosen at random.
fn join_tree(random: &mut Random, aliases: &mut Vec<String>) -> String {
    let mut from = format!("{} a0", random.pick(&TABLES));
    aliases.push("a0".into());
    for index in 1..=random.below(4) {
        let alias = format!("a{index}");
        if index == 1 && random.chance(10) {
            let _ = write!(from, " CROSS JOIN {} {alias}", random.pick(&TABLES));
            aliases.push(alias);
            continue;
        }
        let kind = random.pick(&["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN"]);
        let other = random.pick(aliases).clone();
        let _ = write!(
            from,
            " {kind} {} {alias} ON {other}.k = {alias}.k",
            random.pick(&TABLES)
        );
        if random.chance(30) {
            let _ = write!(from, " AND {}", predicate(random, &alias));
        }
        aliases.push(alias);
    }
    from
}

fn query(random: &mut Random, earlier_view: Option<&str>) -> String {
    let mut aliases = Vec::new();
    match random.below(8) {
        0 | 1 => {
            let from = join_tree(random, &mut aliases);
            let mut columns: Vec<String> = Vec::new();
            for (index, alias) in aliases.iter().enumerate() {
                columns.push(format!("{alias}.id AS c{index}i"));
                for column in ["v", "s", "f", "b"] {
                    if random.chance(30) {
                        columns.push(format!("{alias}.{column} AS c{index}{column}"));
                    }
                }
            }
            let distinct = if random.chance(20) { "DISTINCT " } else { "" };
            let mut sql = format!("SELECT {distinct}{} FROM {from}", columns.join(", "));
            if random.chance(50) {
                let alias = random.pick(&aliases).clone();
                let _ = write!(sql, " WHERE {}", predicate(random, &alias));
            }
            if distinct.is_empty() && random.chance(25) {
                // Ordered by every output column, the ids last, so ties cannot differ.
                let mut order: Vec<String> = columns
                    .iter()
                    .map(|c| c.split(" AS ").nth(1).unwrap_or(c).to_owned() + " DESC NULLS LAST")
                    .collect();
                order.sort_by_key(|key| key.contains("i DESC"));
                let _ = write!(
                    sql,
                    " ORDER BY {} LIMIT {}",
                    order.join(", "),
                    1 + random.below(4)
                );
                if random.chance(30) {
                    let _ = write!(sql, " OFFSET {}", random.below(3));
                }
            }
            sql
        }
        2 | 3 => {
            let from = join_tree(random, &mut aliases);
            let group = random.pick(&aliases).clone();
            let value_of = random.pick(&aliases).clone();
            let aggregates = [
                "count(*)".to_owned(),
                format!("count({value_of}.v)"),
                format!("sum({value_of}.v)"),
                format!("min({value_of}.v)"),
                format!("max({value_of}.s)"),
                format!("avg({value_of}.v)"),
                format!("count(DISTINCT {value_of}.k)"),
                format!("count(*) FILTER (WHERE {value_of}.v > 5)"),
                format!("bool_or({value_of}.v > 10)"),
                format!("bool_and({value_of}.s = 'a')"),
                // One ordering for all, as DataFusion's batch answer requires.
                format!("string_agg({value_of}.s, ',' ORDER BY {value_of}.s)"),
                format!("string_agg(DISTINCT {value_of}.s, '' ORDER BY {value_of}.s)"),
                format!("array_agg({value_of}.s ORDER BY {value_of}.s)"),
                format!("sum({value_of}.f)"),
                format!("avg({value_of}.f)"),
                format!("min({value_of}.f)"),
                format!("max({value_of}.f)"),
                format!("count(DISTINCT {value_of}.f)"),
                format!("sum({value_of}.b)"),
                format!("max({value_of}.b)"),
            ];
            let chosen: Vec<String> = (0..1 + random.below(3))
                .map(|index| format!("{} AS g{index}", random.pick(&aggregates)))
                .collect();
            let mut sql = match random.below(11) {
                0 | 1 => format!("SELECT {} FROM {from}", chosen.join(", ")),
                3 => format!(
                    "SELECT {group}.f AS gk, {} FROM {from} GROUP BY {group}.f",
                    chosen.join(", ")
                ),
                2 => format!(
                    "SELECT {group}.k AS gk, {group}.s AS gs, {} FROM {from} GROUP BY {}",
                    chosen.join(", "),
                    random.pick(&[
                        format!("ROLLUP ({group}.k, {group}.s)"),
                        format!("CUBE ({group}.k, {group}.s)"),
                        format!("GROUPING SETS (({group}.k), ({group}.s), ())"),
                    ])
                ),
                _ => format!(
                    "SELECT {group}.k AS gk, {} FROM {from} GROUP BY {group}.k",
                    chosen.join(", ")
                ),
            };
            if sql.contains("GROUP BY") && random.chance(30) {
                sql.push_str(" HAVING count(*) > 1");
            }
            sql
        }
        4 => {
            let operation = random.pick(&["UNION", "UNION ALL", "INTERSECT", "EXCEPT"]);
            let left = *random.pick(&TABLES);
            format!(
                "SELECT k AS c0, s AS c1 FROM {left} WHERE {} {operation} SELECT k, s FROM {}",
                predicate(random, left),
                random.pick(&TABLES)
            )
        }
        5 if random.chance(25) => {
            let (outer, inner) = (random.pick(&TABLES), random.pick(&TABLES));
            match random.chance(50) {
                true => format!(
                    "SELECT a.id AS c0, a.v AS c1 FROM {outer} a \
                     WHERE a.v > (SELECT avg(b.v) FROM {inner} b WHERE {})",
                    predicate(random, "b")
                ),
                false => format!(
                    "SELECT a.id AS c0, (SELECT max(b.v) FROM {inner} b) - a.v AS c1 FROM {outer} a"
                ),
            }
        }
        5 => {
            let negated = if random.chance(50) { "NOT " } else { "" };
            let inner = random.pick(&TABLES);
            let condition = match random.chance(50) {
                true => format!(" AND {}", predicate(random, "b")),
                false => String::new(),
            };
            match random.chance(40) {
                true => format!(
                    "SELECT a.id AS c0, a.v AS c1 FROM {} a WHERE a.k {negated}IN (SELECT b.k FROM {inner} b WHERE b.v > {})",
                    random.pick(&TABLES),
                    random.below(10)
                ),
                false => format!(
                    "SELECT a.id AS c0, a.v AS c1 FROM {} a WHERE {negated}EXISTS \
                     (SELECT 1 FROM {inner} b WHERE b.k = a.k{condition})",
                    random.pick(&TABLES)
                ),
            }
        }
        6 if random.chance(50) => {
            let function = random.pick(&[
                "sum(a.v)",
                "count(*)",
                "avg(a.v)",
                "lag(a.v)",
                "lead(a.s, 2)",
                "first_value(a.s)",
                "row_number()",
                "ntile(2)",
                "cume_dist()",
            ]);
            let partition = match random.chance(70) {
                true => "PARTITION BY a.k ",
                false => "",
            };
            format!(
                "SELECT a.id AS c0, a.k AS c1, {function} OVER ({partition}ORDER BY a.v, a.id) AS c2 \
                 FROM {} a",
                random.pick(&TABLES)
            )
        }
        6 => {
            let function = random.pick(&["row_number()", "rank()", "dense_rank()"]);
            format!(
                "SELECT * FROM (SELECT a.id AS c0, a.k AS c1, a.v AS c2, {function} OVER \
                 (PARTITION BY a.k ORDER BY a.v DESC NULLS LAST, a.id) AS r FROM {} a) AS ranked \
                 WHERE r <= {}",
                random.pick(&TABLES),
                1 + random.below(3)
            )
        }
        _ => match earlier_view {
            Some(view) => format!(
                "SELECT x.gk AS c0, count(*) AS c1, sum(y.v) AS c2 FROM {view} x LEFT JOIN {} y ON x.gk = y.k GROUP BY x.gk",
                random.pick(&TABLES)
            ),
            None => format!(
                "WITH c AS (SELECT k AS ck, count(*) AS n FROM {} GROUP BY k) \
                 SELECT x.ck AS c0, x.n AS c1, y.n AS c2 FROM c x JOIN c y ON x.n = y.n",
                random.pick(&TABLES)
            ),
        },
    }
}

fn dml(random: &mut Random, case: &mut Case) -> String {
    let table = random.pick(&TABLES);
    match random.below(5) {
        4 if random.chance(30) => format!("TRUNCATE {table}"),
        0 | 1 | 4 => {
            let rows: Vec<String> = (0..1 + random.below(3))
                .map(|_| {
                    case.next_id += 1;
                    row(random, case.next_id)
                })
                .collect();
            format!("INSERT INTO {table} VALUES {}", rows.join(", "))
        }
        2 => format!(
            "UPDATE {table} SET {} WHERE {}",
            random.pick(&[
                "v = v + 3",
                "k = 1",
                "s = 'b'",
                "v = NULL",
                "k = NULL",
                "f = -f",
                "f = 'NaN'",
                "s = ''",
                "b = NULL",
            ]),
            predicate(random, table)
        ),
        _ => format!("DELETE FROM {table} WHERE {}", predicate(random, table)),
    }
}

fn generate(seed: u64) -> Case {
    let mut random = Random::new(seed);
    let mut case = Case {
        tables: Vec::new(),
        views: Vec::new(),
        batches: Vec::new(),
        next_id: 0,
    };
    for table in TABLES {
        case.tables.push(format!(
            "CREATE TABLE {table} (id int PRIMARY KEY, k int, v int, s text, f double precision, b bigint)"
        ));
        let rows: Vec<String> = (0..random.below(6))
            .map(|_| {
                case.next_id += 1;
                row(&mut random, case.next_id)
            })
            .collect();
        if !rows.is_empty() {
            case.tables
                .push(format!("INSERT INTO {table} VALUES {}", rows.join(", ")));
        }
    }
    // A grouped view first, so that a later one may read it.
    let first = loop {
        let sql = query(&mut random, None);
        if sql.contains("GROUP BY") && sql.contains(" AS gk") {
            break sql;
        }
    };
    case.views.push(("v0".into(), first));
    for index in 1..1 + random.below(3) {
        let sql = query(&mut random, Some("v0"));
        case.views.push((format!("v{index}"), sql));
    }
    for _ in 0..3 {
        let batch = (0..1 + random.below(4))
            .map(|_| dml(&mut random, &mut case))
            .collect();
        case.batches.push(batch);
    }
    case
}

async fn text_rows(client: &Client, sql: &str) -> Result<Vec<String>, String> {
    let messages = client
        .simple_query(sql)
        .await
        .map_err(|e| format!("{sql}: {e:?}"))?;
    let mut rows: Vec<String> = messages
        .into_iter()
        .filter_map(|message| match message {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| normalize(row.get(i)))
                    .collect::<Vec<_>>()
                    .join("|"),
            ),
            _ => None,
        })
        .collect();
    rows.sort();
    Ok(rows)
}

/// Floats computed incrementally and in one pass may differ in the last bits (not with
/// this grammar's values, whose sums are exact, but with the averages of integers). The
/// minimum or maximum of `-0` and `0` is either, in PostgreSQL too.
fn normalize(value: Option<&str>) -> String {
    match value {
        None => "NULL".into(),
        Some("-0") => "0".into(),
        Some(text) if text.contains('.') => match text.parse::<f64>() {
            Ok(number) => format!("{number:.6}"),
            Err(_) => text.into(),
        },
        Some(text) => text.into(),
    }
}

/// Runs `case` on a clean database; the number of views it checked, or the first
/// mismatch or error.
async fn run(client: &Client, case: &Case, batches: &[Vec<String>]) -> Result<usize, String> {
    client
        .simple_query("DROP TABLE IF EXISTS t1 CASCADE; DROP TABLE IF EXISTS t2 CASCADE; DROP TABLE IF EXISTS t3 CASCADE")
        .await
        .map_err(|e| format!("cleanup: {e:?}"))?;
    for sql in &case.tables {
        client
            .simple_query(sql)
            .await
            .map_err(|e| format!("{sql}: {e:?}"))?;
    }
    let mut views = Vec::new();
    for (name, sql) in &case.views {
        match client
            .simple_query(&format!("CREATE MATERIALIZED VIEW {name} AS {sql}"))
            .await
        {
            Ok(_) => views.push((name, sql)),
            // The grammar only makes queries weir maintains, so a refusal is a failure.
            Err(error) => {
                return Err(format!(
                    "CREATE MATERIALIZED VIEW {name} AS {sql}: {error:?}"
                ));
            }
        }
    }
    let check = |step: String| {
        let views = &views;
        async move {
            for (name, sql) in views {
                let stored = text_rows(client, &format!("SELECT * FROM {name}")).await?;
                let computed = text_rows(client, sql).await?;
                if stored != computed {
                    return Err(format!(
                        "view {name} differs from its query after {step}\n  view:  {stored:?}\n  query: {computed:?}"
                    ));
                }
            }
            Ok(())
        }
    };
    check("creation".into()).await?;
    for (index, batch) in batches.iter().enumerate() {
        for sql in batch {
            client
                .simple_query(sql)
                .await
                .map_err(|e| format!("{sql}: {e:?}"))?;
        }
        check(format!("batch {index}")).await?;
    }
    Ok(views.len())
}

/// Drops DML statements while the failure remains, for a shorter script.
async fn shorten(client: &Client, case: &Case) -> Vec<Vec<String>> {
    let mut batches = case.batches.clone();
    for batch in 0..batches.len() {
        let mut statement = 0;
        while statement < batches[batch].len() {
            let mut fewer = batches.clone();
            fewer[batch].remove(statement);
            if run(client, case, &fewer).await.is_err() {
                batches = fewer;
            } else {
                statement += 1;
            }
        }
    }
    batches
}

fn script(case: &Case, batches: &[Vec<String>]) -> String {
    let mut lines: Vec<String> = case.tables.clone();
    for (name, sql) in &case.views {
        lines.push(format!("CREATE MATERIALIZED VIEW {name} AS {sql}"));
    }
    for batch in batches {
        lines.extend(batch.iter().cloned());
        for (name, sql) in &case.views {
            lines.push(format!("SELECT * FROM {name};  -- must equal: {sql}"));
        }
    }
    lines.join(";\n") + ";"
}

#[tokio::test]
async fn views_equal_their_queries_after_random_changes() {
    let cases: u64 = std::env::var("WEIR_ORACLE_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let first_seed: u64 = std::env::var("WEIR_ORACLE_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let server = TestServer::start();
    let client = server.connect().await;
    let mut checked = 0;
    for seed in first_seed..first_seed + cases {
        let case = generate(seed);
        match run(&client, &case, &case.batches).await {
            Ok(views) => checked += views,
            Err(failure) => {
                let batches = shorten(&client, &case).await;
                panic!(
                    "oracle case with seed {seed} failed: {failure}\n\
                     reproduce with WEIR_ORACLE_SEED={seed} WEIR_ORACLE_CASES=1, or run:\n{}",
                    script(&case, &batches)
                );
            }
        }
    }
    println!(
        "oracle: {cases} cases passed (seeds {first_seed}..{}): {checked} views checked",
        first_seed + cases
    );
}
