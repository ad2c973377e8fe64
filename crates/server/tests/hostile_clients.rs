//! What a hostile or careless client may send must never take the server down: each case
//! is answered with PostgreSQL's error, and the server goes on serving everyone.

mod support;

use support::TestServer;
use tokio_postgres::Client;

/// `SELECT` of a chain of `terms` ones joined by `operator`.
fn chain(operator: &str, terms: usize) -> String {
    format!("SELECT {}", vec!["1"; terms].join(operator))
}

/// `SELECT` from `tables` tables joined by `join`.
fn joined(tables: usize, join: &str) -> String {
    let tables: Vec<String> = (0..tables).map(|i| format!("t{i}")).collect();
    format!("SELECT 1 FROM {}", tables.join(join))
}

async fn assert_too_deep(client: &Client, sql: &str) {
    for result in [
        client.simple_query(sql).await.map(drop),
        client.query(sql, &[]).await.map(drop),
    ] {
        let error = result.expect_err("a too deep statement is refused");
        let code = error.as_db_error().map(|error| error.code().code());
        assert_eq!(code, Some("54001"), "{}: {error}", &sql[..40]);
    }
}

/// The count `sql` answers.
async fn count(client: &Client, sql: &str) -> i64 {
    let row = client.query_one(sql, &[]).await.expect(&sql[..40]);
    row.get(0)
}

/// The longest chains weir plans, each answered in both protocols, quickly: long
/// `AND`/`OR` chains are planned as balanced trees (the 3,000 conjuncts took 22 s when
/// the optimizer joined them back into one deep chain).
#[tokio::test]
async fn the_longest_chains_weir_plans_are_answered_quickly() {
    let server = TestServer::start();
    let client = server.connect().await;
    let started = std::time::Instant::now();
    let sum = chain(" + ", 1_000);
    let row = client.query_one(&sum, &[]).await.expect("1,000 terms");
    assert_eq!(row.get::<_, i32>(0), 1_000);
    client
        .simple_query(&sum)
        .await
        .expect("1,000 terms, simple");
    let union = chain(" UNION ALL SELECT ", 1_001);
    assert_eq!(client.query(&union, &[]).await.unwrap().len(), 1_001);
    let over_one_row =
        |condition: String| format!("SELECT count(*) FROM (VALUES (1)) v(x) WHERE {condition}");
    let or = over_one_row(vec!["x = 2"; 4_000].join(" OR "));
    assert_eq!(count(&client, &or).await, 0);
    let conjuncts: Vec<String> = (0..3_000).map(|i| format!("x + {i} > 0")).collect();
    assert_eq!(
        count(&client, &over_one_row(conjuncts.join(" AND "))).await,
        1
    );
    let joins: Vec<String> = (1..100)
        .map(|i| format!("JOIN (VALUES (1)) t{i}(x) ON t{i}.x = t0.x"))
        .collect();
    let joins = format!(
        "SELECT count(*) FROM (VALUES (1)) t0(x) {}",
        joins.join(" ")
    );
    assert_eq!(count(&client, &joins).await, 1);
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
}

/// `open`, `depth` times, around `inner`, then `close` as many times.
fn nested(open: &str, inner: &str, close: &str, depth: usize) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

#[tokio::test]
async fn nesting_as_deep_as_people_write_is_planned_without_blowing_up() {
    let server = TestServer::start();
    let client = server.connect().await;
    let started = std::time::Instant::now();
    for (sql, expected) in [
        (format!("SELECT {}", nested("(", "1", ")", 4_000)), "1"),
        (
            format!(
                "SELECT {}",
                nested("CASE WHEN true THEN ", "1", " END", 999)
            ),
            "1",
        ),
        (format!("SELECT {}", nested("abs(", "-1", ")", 100)), "1"),
        // DataFusion writes each `coalesce` argument but the last twice: nested, that
        // doubled the plan at each level (22 levels: 42 s and 8 GB).
        (
            format!("SELECT {}", nested("coalesce(", "NULL::int", ", 2)", 22)),
            "2",
        ),
        (
            format!("SELECT {}", nested("ifnull(", "1", ", 2)", 12)),
            "1",
        ),
        (format!("SELECT {}", nested("pow(", "1", ", 2)", 12)), "1"),
        (format!("SELECT {}", nested("(SELECT ", "1", ")", 16)), "1"),
        (
            format!(
                "SELECT * FROM {}",
                nested("(SELECT * FROM ", "(SELECT 1 AS x) t", ") t", 100)
            ),
            "1",
        ),
    ] {
        let messages = client.simple_query(&sql).await.expect(&sql[..40]);
        let value = messages.iter().find_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        });
        assert_eq!(value.as_deref(), Some(expected), "{}", &sql[..40]);
    }
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
}

#[tokio::test]
async fn deeper_statements_are_refused_not_fatal() {
    let server = TestServer::start();
    let client = server.connect().await;
    let bystander = server.connect().await;

    // Far deeper than PostgreSQL plans: refused with 54001, never a crash.
    for operator in [" + ", " OR ", " AND ", " || ", " UNION ALL SELECT "] {
        assert_too_deep(&client, &chain(operator, 100_000)).await;
    }
    let parenthesized = format!("SELECT {}", nested("(", "1", ")", 100_000));
    assert_too_deep(&client, &parenthesized).await;
    assert_too_deep(&client, &joined(100_000, " JOIN ")).await;
    // Nesting DataFusion plans in time that grows faster than the square of its depth
    // has bounds of its own.
    assert_too_deep(
        &client,
        &format!("SELECT {}", nested("abs(", "1", ")", 201)),
    )
    .await;
    let subqueries = format!("SELECT {}", nested("(SELECT ", "1", ")", 17));
    assert_too_deep(&client, &subqueries).await;
    // A name that is a keyword does not part or close a level: the chain is counted.
    let terms = vec!["1"; 999].join(" + ");
    let disguised = format!(
        "SELECT {} FROM t",
        vec![terms; 12].join(" + t.then + t.end + ")
    );
    assert_too_deep(&client, &disguised).await;
    assert_too_deep(
        &client,
        &format!("SELECT {}", nested("ifnull(", "1", ", 2)", 13)),
    )
    .await;
    let queries = nested("(SELECT * FROM ", "t", ") s", 1_001);
    assert_too_deep(&client, &format!("SELECT * FROM {queries}")).await;
    let betweens = nested("(", "x", " BETWEEN false AND true)", 13);
    assert_too_deep(
        &client,
        &format!("SELECT {betweens} FROM (VALUES (true)) v(x)"),
    )
    .await;
    let cases = nested("CASE WHEN true THEN ", "1", " END", 20_000);
    assert_too_deep(&client, &format!("SELECT {cases}")).await;
    // What DataFusion would take seconds to plan, and cannot stop planning once begun.
    assert_too_deep(&client, &chain(" + ", 1_001)).await;
    let cases = nested("CASE WHEN true THEN ", "1", " END", 1_000);
    assert_too_deep(&client, &format!("SELECT {cases}")).await;
    let sums = vec![vec!["1"; 500].join(" + "); 5].join(", ");
    assert_too_deep(&client, &format!("SELECT {sums}")).await;
    assert_too_deep(&client, &chain(" UNION ALL SELECT ", 1_002)).await;
    assert_too_deep(&client, &joined(101, " CROSS JOIN ")).await;

    // A deep view is maintained like any other.
    client
        .batch_execute(&format!(
            "CREATE TABLE t (x bigint);
             CREATE MATERIALIZED VIEW deep AS SELECT {} AS y FROM t;
             INSERT INTO t VALUES (1), (2);",
            vec!["x"; 1_000].join(" + ")
        ))
        .await
        .expect("a view over 1,000 terms");
    let rows = client
        .query("SELECT y FROM deep ORDER BY y", &[])
        .await
        .unwrap();
    let values: Vec<i64> = rows.iter().map(|row| row.get(0)).collect();
    assert_eq!(values, vec![1_000, 2_000]);
    assert_too_deep(
        &client,
        &format!(
            "CREATE MATERIALIZED VIEW deeper AS SELECT {} AS y FROM t",
            vec!["x"; 100_000].join(" + ")
        ),
    )
    .await;

    bystander
        .batch_execute("SELECT 1")
        .await
        .expect("the server goes on");
}

#[tokio::test]
async fn values_beyond_postgresqls_limits_are_refused_at_once() {
    let server = TestServer::start();
    let client = server.connect().await;
    let started = std::time::Instant::now();
    for sql in [
        "SELECT lpad('x', 2147483647)",
        "SELECT rpad('x', 300000000, 'y')",
        "SELECT repeat('xy', 600000000)",
        "SELECT repeat(t, 1000000000) FROM (VALUES ('a'), ('bb')) AS v(t)",
    ] {
        support::assert_refused(
            &client,
            sql.to_owned(),
            "54000",
            "requested length too large",
        )
        .await;
    }
    // A record's text doubles with each level of records in it (40 levels: 2^40 times).
    let records = |depth| format!("SELECT {}1{}", "(1, ".repeat(depth), ")".repeat(depth));
    support::assert_refused(&client, records(40), "54000", "out of memory").await;
    assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
    client.simple_query(&records(10)).await.expect("10 levels");
    let row = client
        .query_one(
            "SELECT length(repeat('ab', 1000)), length(lpad('x', 5, 'yz'))",
            &[],
        )
        .await
        .unwrap();
    assert_eq!((row.get::<_, i32>(0), row.get::<_, i32>(1)), (2000, 5));
}

#[tokio::test]
async fn nul_bytes_are_not_text() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE t (s text)")
        .await
        .unwrap();
    let error = client
        .execute("INSERT INTO t VALUES ($1)", &[&"a\0b"])
        .await
        .unwrap_err();
    assert_eq!(error.code().map(|c| c.code()), Some("22021"), "{error}");
    let sink = client.copy_in("COPY t FROM STDIN").await.unwrap();
    futures::pin_mut!(sink);
    futures::SinkExt::send(&mut sink, bytes::Bytes::from_static(b"ok\nx\0y\n"))
        .await
        .unwrap();
    let error = sink.finish().await.unwrap_err();
    assert_eq!(error.code().map(|c| c.code()), Some("22021"), "{error}");
    let count: i64 = client
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0, "nothing of the refused statements was stored");
}

#[tokio::test]
async fn generate_series_in_a_select_list_returns_rows() {
    let server = TestServer::start();
    let client = server.connect().await;
    let listed = support::text_rows(&client, "SELECT generate_series(1, 4) AS n, 'x'").await;
    let from =
        support::text_rows(&client, "SELECT value AS n, 'x' FROM generate_series(1, 4)").await;
    assert_eq!(listed, from);
    let rows = client
        .query("SELECT generate_series(1, 3)", &[])
        .await
        .unwrap();
    assert_eq!(rows[0].columns()[0].name(), "generate_series");
    assert_eq!(
        rows.iter().map(|r| r.get::<_, i64>(0)).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    // A LIMIT stops the series early instead of making all of it first.
    let started = std::time::Instant::now();
    let rows = client
        .query("SELECT generate_series(1, 100000000) LIMIT 3", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
    let correlated = support::text_rows(
        &client,
        "SELECT x, generate_series(1, x) FROM (VALUES (1), (2)) AS v(x) ORDER BY 1, 2",
    )
    .await;
    assert_eq!(correlated, [["1", "1"], ["2", "1"], ["2", "2"]]);
}

/// The peak resident memory of process `pid` so far, in bytes.
fn peak_memory(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kilobytes: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kilobytes * 1024
}

#[tokio::test]
async fn a_statement_holds_at_most_its_share_of_memory() {
    let server = TestServer::start_fresh(&["--statement-memory", "64MB"], &[]);
    let client = server.connect().await;
    let bystander = server.connect().await;

    // A hash join's table of 20 million rows cannot spill: the statement fails alone.
    let join = "SELECT count(*) FROM generate_series(1, 20000000) a \
                JOIN generate_series(1, 20000000) b ON a.value = b.value";
    support::assert_refused(&client, join.to_owned(), "53200", "out of memory").await;
    bystander
        .batch_execute("SELECT 1")
        .await
        .expect("other sessions go on");
    // What it held went back: the same statement's share serves the next one.
    let row = client
        .query_one("SELECT count(*) FROM generate_series(1, 1000) a JOIN generate_series(1, 1000) b ON a.value = b.value", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 1000);

    // A sort of more than the share spills to disk and answers.
    let row = client
        .query_one(
            "SELECT value FROM (SELECT value FROM generate_series(1, 12000000) \
             ORDER BY value DESC OFFSET 11999999) AS last",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 1);
    let peak = peak_memory(server.pid());
    assert!(peak < 1 << 30, "the server's memory peaked at {peak} bytes");
}
