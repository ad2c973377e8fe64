//! `SET implicit_flush = off`: DML commits its table changes at once and leaves the views
//! to the next barrier (the coordinator's tick or `FLUSH`); nothing is lost or counted
//! twice, across a crash too.

mod support;

use std::time::{Duration, Instant};

use support::TestServer;
use tokio_postgres::{Client, SimpleQueryMessage};

async fn value(client: &Client, sql: &str) -> String {
    client
        .simple_query(sql)
        .await
        .unwrap()
        .into_iter()
        .find_map(|message| match message {
            SimpleQueryMessage::Row(row) => Some(row.get(0).unwrap_or("NULL").to_owned()),
            _ => None,
        })
        .expect("one row")
}

const SETUP: &str = "CREATE TABLE events (id int PRIMARY KEY, kind int);
     CREATE MATERIALIZED VIEW per_kind AS SELECT kind, count(*) AS n FROM events GROUP BY kind;
     CREATE MATERIALIZED VIEW total AS SELECT sum(n) AS n FROM per_kind;";

#[tokio::test]
async fn views_follow_deferred_changes_at_the_next_barrier() {
    let dir = tempfile::tempdir().unwrap();
    // Barriers an hour apart: only FLUSH (or DML that maintains at once) applies changes.
    let server = TestServer::start_with(dir.path(), &["--barrier-interval-ms", "3600000"]);
    let loader = server.connect().await;
    loader.batch_execute(SETUP).await.unwrap();
    loader
        .batch_execute(
            "SET implicit_flush = off;
             INSERT INTO events VALUES (1, 1), (2, 1), (3, 2);
             UPDATE events SET kind = 3 WHERE id = 2;",
        )
        .await
        .unwrap();
    assert_eq!(value(&loader, "SELECT count(*) FROM events").await, "3");
    assert_eq!(value(&loader, "SELECT count(*) FROM total").await, "1");
    assert_eq!(value(&loader, "SELECT n FROM total").await, "NULL");

    // A session with implicit flush applies everything pending before its own change.
    let other = server.connect().await;
    other
        .batch_execute("INSERT INTO events VALUES (4, 2)")
        .await
        .unwrap();
    assert_eq!(value(&other, "SELECT n FROM total").await, "4");
    assert_eq!(
        value(&other, "SELECT n FROM per_kind WHERE kind = 2").await,
        "2"
    );

    loader
        .batch_execute("DELETE FROM events WHERE kind = 1; FLUSH;")
        .await
        .unwrap();
    assert_eq!(value(&loader, "SELECT n FROM total").await, "3");
    assert_eq!(
        value(
            &loader,
            "SELECT count(*) FROM (SELECT * FROM per_kind EXCEPT SELECT kind, count(*) FROM events GROUP BY kind) AS d"
        )
        .await,
        "0"
    );
}

#[tokio::test]
async fn the_coordinator_applies_deferred_changes_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), &["--barrier-interval-ms", "100"]);
    let client = server.connect().await;
    client.batch_execute(SETUP).await.unwrap();
    client
        .batch_execute("SET implicit_flush = off; INSERT INTO events VALUES (1, 1), (2, 2);")
        .await
        .unwrap();
    let started = Instant::now();
    while value(&client, "SELECT count(*) FROM per_kind").await != "2" {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no barrier applied the deferred insert"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(value(&client, "SELECT n FROM total").await, "2");
}

#[tokio::test]
async fn deferred_changes_survive_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut server = TestServer::start_with(dir.path(), &["--barrier-interval-ms", "3600000"]);
        let client = server.connect().await;
        client.batch_execute(SETUP).await.unwrap();
        client
            .batch_execute(
                "SET implicit_flush = off; INSERT INTO events VALUES (1, 1), (2, 1), (3, 5);",
            )
            .await
            .unwrap();
        assert_eq!(value(&client, "SELECT count(*) FROM per_kind").await, "0");
        server.kill();
    }
    let server = TestServer::start_with(dir.path(), &["--barrier-interval-ms", "3600000"]);
    let client = server.connect().await;
    // The coordinator's first barrier runs at start-up; FLUSH makes sure it has.
    client.batch_execute("FLUSH").await.unwrap();
    assert_eq!(value(&client, "SELECT n FROM total").await, "3");
    assert_eq!(
        value(&client, "SELECT n FROM per_kind WHERE kind = 1").await,
        "2"
    );
    // Applied exactly once: another barrier changes nothing.
    client.batch_execute("FLUSH").await.unwrap();
    assert_eq!(value(&client, "SELECT n FROM total").await, "3");
}
