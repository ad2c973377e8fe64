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
