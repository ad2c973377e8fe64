//! What a hostile or careless client may send must never take the server down: each case
//! is answered with PostgreSQL's error, and the server goes on serving everyone.

mod support;

use support::TestServer;
use tokio_postgres::Client;

/// `SELECT` of a chain of `terms` ones joined by `operator`.
fn chain(operator: &str, terms: usize) -> String {
    format!("SELECT {}", vec!["1"; terms].join(operator))
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

#[tokio::test]
async fn deep_statements_are_refused_not_fatal() {
    let server = TestServer::start();
    let client = server.connect().await;
    let bystander = server.connect().await;

    // As deep as PostgreSQL plans with its default stack: answered, in both protocols.
    let sum = chain(" + ", 4_000);
    let row = client.query_one(&sum, &[]).await.expect("4,000 terms");
    assert_eq!(row.get::<_, i64>(0), 4_000);
    client
        .simple_query(&sum)
        .await
        .expect("4,000 terms, simple");
    let union = chain(" UNION ALL SELECT ", 4_000);
    assert_eq!(client.query(&union, &[]).await.unwrap().len(), 4_000);
    let or = format!(
        "SELECT count(*) FROM (VALUES (1)) v(x) WHERE {}",
        vec!["x = 2"; 4_000].join(" OR ")
    );
    assert_eq!(
        client.query_one(&or, &[]).await.unwrap().get::<_, i64>(0),
        0
    );

    // Far deeper: refused with 54001, never a crash.
    for operator in [" + ", " OR ", " AND ", " || ", " UNION ALL SELECT "] {
        assert_too_deep(&client, &chain(operator, 100_000)).await;
    }
    let nested = format!("SELECT {}1{}", "(".repeat(100_000), ")".repeat(100_000));
    assert_too_deep(&client, &nested).await;
    let joins = format!(
        "SELECT 1 FROM {}",
        (0..100_000)
            .map(|i| format!("t{i}"))
            .collect::<Vec<_>>()
            .join(" JOIN ")
    );
    assert_too_deep(&client, &joins).await;

    // A deep view is maintained like any other.
    client
        .batch_execute(&format!(
            "CREATE TABLE t (x bigint);
             CREATE MATERIALIZED VIEW deep AS SELECT {} AS y FROM t;
             INSERT INTO t VALUES (1), (2);",
            vec!["x"; 2_000].join(" + ")
        ))
        .await
        .expect("a view over 2,000 terms");
    let rows = client
        .query("SELECT y FROM deep ORDER BY y", &[])
        .await
        .unwrap();
    let values: Vec<i64> = rows.iter().map(|row| row.get(0)).collect();
    assert_eq!(values, vec![2_000, 4_000]);
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
