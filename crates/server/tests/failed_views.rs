//! A change that a materialized view cannot take fails that view alone: the statement and
//! every other table and view go on, reading the failed view answers with its failure
//! (across a restart too), and DROP clears it. A deferred change that overflows used to
//! make every later barrier fail, and with it every write to any table, for ever. The
//! overflow here is a sum beyond numeric's 38 digits, weir's limit (PostgreSQL's numeric
//! has none).

mod support;

use support::{TestServer, first_column};
use tokio_postgres::Client;

const SETUP: &str = "CREATE TABLE a (id bigint PRIMARY KEY, y numeric(38, 0));
     CREATE TABLE b (id int PRIMARY KEY, kind int);
     CREATE MATERIALIZED VIEW vsum AS SELECT sum(y) AS s FROM a;
     CREATE MATERIALIZED VIEW vcount AS SELECT count(*) AS n, max(y) AS top FROM a;
     CREATE MATERIALIZED VIEW vdep AS SELECT s FROM vsum;
     CREATE MATERIALIZED VIEW per_kind AS SELECT kind, count(*) AS n FROM b GROUP BY kind;";

async fn one(client: &Client, sql: &str) -> String {
    first_column(client, sql).await.remove(0)
}

/// Asserts that reading `view` answers with its failure: 22003 naming the view.
async fn assert_failed(client: &Client, view: &str) {
    let error = client
        .simple_query(&format!("SELECT * FROM {view}"))
        .await
        .expect_err("a failed view answers with its failure");
    let error = error.as_db_error().expect("a server error");
    assert_eq!(error.code().code(), "22003", "{}", error.message());
    assert!(
        error.message().contains(&format!("\"{view}\" failed")),
        "{}",
        error.message()
    );
    let failure = one(
        client,
        &format!("SELECT failure FROM weir_catalog.objects WHERE name = '{view}'"),
    )
    .await;
    assert!(failure.starts_with("22003: "), "{failure}");
}

/// The views that did not fail equal their queries, and every kind of statement works.
async fn assert_the_rest_goes_on(client: &Client, next_id: i64) {
    client
        .batch_execute(&format!(
            "INSERT INTO a VALUES ({next_id}, 5);
             INSERT INTO b VALUES ({next_id}, {next_id} % 3);
             DELETE FROM b WHERE id = 1;
             UPDATE b SET kind = 7 WHERE id = 2;
             CREATE TABLE scratch_{next_id} (x int); DROP TABLE scratch_{next_id};
             FLUSH;"
        ))
        .await
        .expect("writes, DDL and FLUSH work beside a failed view");
    assert_eq!(
        one(client, "SELECT n || ',' || top FROM vcount").await,
        one(client, "SELECT count(*) || ',' || max(y) FROM a").await
    );
    assert_eq!(
        first_column(
            client,
            "SELECT kind || ':' || n FROM per_kind ORDER BY kind"
        )
        .await,
        first_column(
            client,
            "SELECT kind || ':' || count(*) FROM b GROUP BY kind ORDER BY kind"
        )
        .await
    );
}

#[tokio::test]
async fn a_deferred_overflow_fails_only_its_view() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(dir.path());
    let client = server.connect().await;
    client.batch_execute(SETUP).await.unwrap();
    client
        .batch_execute("INSERT INTO a VALUES (1, 10); INSERT INTO b VALUES (1, 1), (2, 2)")
        .await
        .unwrap();
    assert_eq!(one(&client, "SELECT s FROM vsum").await, "10");

    // The reproducer: a deferred change on which the view's sum overflows.
    client
        .batch_execute(
            "SET implicit_flush = off;
             INSERT INTO a VALUES (3, '99999999999999999999999999999999999999'), (4, 1);
             SET implicit_flush = on;",
        )
        .await
        .unwrap();
    client
        .batch_execute("FLUSH")
        .await
        .expect("the barrier commits");
    assert_failed(&client, "vsum").await;
    assert_failed(&client, "vdep").await;
    assert_the_rest_goes_on(&client, 10).await;

    // A write that maintains the views at once is not refused for a view's sake either.
    client
        .batch_execute(
            "CREATE TABLE c (id int PRIMARY KEY, y numeric(38, 0));
             CREATE MATERIALIZED VIEW csum AS SELECT sum(y) AS s FROM c;
             INSERT INTO c VALUES (1, '99999999999999999999999999999999999999');
             INSERT INTO c VALUES (2, 1);",
        )
        .await
        .expect("the insert succeeds");
    assert_failed(&client, "csum").await;

    server.stop();
    let server = TestServer::start_in(dir.path());
    let client = server.connect().await;
    assert_failed(&client, "vsum").await;
    assert_failed(&client, "vdep").await;
    assert_the_rest_goes_on(&client, 11).await;

    // A view over a failed view cannot be created; once the failed ones are dropped and the
    // row that overflowed is gone, the view can be made again.
    let error = client
        .batch_execute("CREATE MATERIALIZED VIEW vdep2 AS SELECT s FROM vsum")
        .await
        .expect_err("a view over a failed view is refused");
    assert_eq!(error.code().map(|code| code.code()), Some("22003"));
    client
        .batch_execute(
            "DROP MATERIALIZED VIEW vdep; DROP MATERIALIZED VIEW vsum;
             DELETE FROM a WHERE id = 3;
             CREATE MATERIALIZED VIEW vsum AS SELECT sum(y) AS s FROM a;",
        )
        .await
        .unwrap();
    assert_eq!(
        one(&client, "SELECT s FROM vsum").await,
        one(&client, "SELECT sum(y) FROM a").await
    );
    assert_eq!(
        one(
            &client,
            "SELECT count(failure) FROM weir_catalog.objects WHERE name <> 'csum'"
        )
        .await,
        "0"
    );
}
