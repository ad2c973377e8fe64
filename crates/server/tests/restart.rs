//! Tables, views and rows survive a restart, clean or not.

mod support;

use support::TestServer;

async fn rows(client: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    client
        .simple_query(sql)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).unwrap_or("NULL").to_owned())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn catalog_and_data_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut server = TestServer::start_in(dir.path());
        let client = server.connect().await;
        client
            .batch_execute(
                "CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(10,2) DEFAULT 1.5);
                 CREATE TABLE notes (body text);
                 INSERT INTO accounts (id, owner) VALUES (1, 'ann'), (2, 'bo');
                 INSERT INTO notes VALUES ('x'), ('x');
                 CREATE VIEW rich AS SELECT owner FROM accounts WHERE balance > 1;
                 UPDATE accounts SET balance = 0 WHERE id = 2;",
            )
            .await
            .unwrap();
        assert!(server.stop(), "clean shutdown");
    }
    {
        // A clean restart: everything is there, defaults and constraints included.
        let mut server = TestServer::start_in(dir.path());
        let client = server.connect().await;
        assert_eq!(
            rows(&client, "SELECT * FROM accounts ORDER BY id").await,
            ["1,ann,1.50", "2,bo,0.00"]
        );
        assert_eq!(rows(&client, "SELECT * FROM rich").await, ["ann"]);
        assert_eq!(rows(&client, "SELECT count(*) FROM notes").await, ["2"]);
        client
            .batch_execute("INSERT INTO accounts (id, owner) VALUES (3, 'cy')")
            .await
            .unwrap();
        let error = client
            .batch_execute("INSERT INTO accounts (id, owner) VALUES (1, 'dup')")
            .await
            .unwrap_err();
        assert_eq!(
            error.code(),
            Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
        );
        client
            .batch_execute("INSERT INTO notes VALUES ('y')")
            .await
            .unwrap();
        // A crash right after statements completed: they were durable when they returned.
        server.kill();
    }
    let server = TestServer::start_in(dir.path());
    let client = server.connect().await;
    assert_eq!(
        rows(&client, "SELECT id, balance FROM accounts ORDER BY id").await,
        ["1,1.50", "2,0.00", "3,1.50"]
    );
    assert_eq!(
        rows(&client, "SELECT body FROM notes ORDER BY body").await,
        ["x", "x", "y"]
    );
}

#[tokio::test]
async fn a_second_server_on_the_same_directory_is_refused() {
    let server = TestServer::start();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&server.data_dir)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("in use by another weir process"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_port_in_use_is_refused() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args([
            "--listen",
            &format!("127.0.0.1:{}", server.port),
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("address is in use"), "{stderr}");
}

/// The view equals its query run as a batch: the same rows, each as often.
async fn assert_view_is_current(client: &tokio_postgres::Client, view: &str, query: &str) {
    let mut stored = rows(client, &format!("SELECT * FROM {view}")).await;
    let mut computed = rows(client, query).await;
    stored.sort();
    computed.sort();
    assert_eq!(stored, computed, "{view} differs from its query");
}

#[tokio::test]
async fn materialized_views_keep_following_changes_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let query = "SELECT c.name, count(*), sum(o.amount), max(o.amount) FROM orders o \
                 LEFT JOIN customers c ON o.customer = c.id GROUP BY c.name";
    {
        let mut server = TestServer::start_in(dir.path());
        let client = server.connect().await;
        client
            .batch_execute(&format!(
                "CREATE TABLE customers (id int PRIMARY KEY, name text);
                 CREATE TABLE orders (id int PRIMARY KEY, customer int, amount int);
                 INSERT INTO customers VALUES (1, 'ann'), (2, 'bo');
                 INSERT INTO orders VALUES (1, 1, 10), (2, 1, 30), (3, 2, 5), (4, 9, 1);
                 CREATE MATERIALIZED VIEW sales AS {query};
                 CREATE MATERIALIZED VIEW sales_count AS SELECT count(*) FROM sales;
                 DELETE FROM orders WHERE id = 2;"
            ))
            .await
            .unwrap();
        assert_view_is_current(&client, "sales", query).await;
        server.kill();
    }
    {
        let mut server = TestServer::start_in(dir.path());
        let client = server.connect().await;
        assert_view_is_current(&client, "sales", query).await;
        // The operators' state came back: changes after the restart build on it.
        client
            .batch_execute(
                "INSERT INTO orders VALUES (5, 1, 50), (6, 3, 7);
                 INSERT INTO customers VALUES (3, 'cy');
                 DELETE FROM orders WHERE id = 1;
                 UPDATE customers SET name = 'bob' WHERE id = 2;",
            )
            .await
            .unwrap();
        assert_view_is_current(&client, "sales", query).await;
        assert_eq!(rows(&client, "SELECT * FROM sales_count").await, ["4"]);
        assert!(server.stop(), "clean shutdown");
    }
}

#[tokio::test]
async fn a_clean_stop_leaves_no_log_to_replay() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(dir.path());
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, v text);
             INSERT INTO t SELECT x, 'row ' || x FROM generate_series(1, 20000) AS g(x);
             CREATE MATERIALIZED VIEW m AS SELECT v, count(*) FROM t GROUP BY v;",
        )
        .await
        .unwrap();
    drop(client);
    assert!(server.stop(), "weir stops cleanly on SIGTERM");
    // RocksDB's write-ahead logs are the `*.log` files; after a clean stop everything is
    // in SST files, so the next start replays nothing.
    let unflushed: Vec<(String, u64)> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".log"))
        .map(|entry| {
            let size = entry.metadata().unwrap().len();
            (entry.file_name().to_string_lossy().into_owned(), size)
        })
        .filter(|(_, size)| *size > 0)
        .collect();
    assert!(unflushed.is_empty(), "write-ahead log left: {unflushed:?}");
    let server = TestServer::start_in(dir.path());
    let client = server.connect().await;
    assert_eq!(rows(&client, "SELECT count(*) FROM m").await, vec!["20000"]);
}
