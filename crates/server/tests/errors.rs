//! Every error class the server reports carries PostgreSQL's SQLSTATE, and the connection
//! keeps working after it.

mod support;

use support::TestServer;
use tokio_postgres::error::SqlState;

async fn expect_error(client: &tokio_postgres::Client, sql: &str, expected: SqlState, words: &str) {
    let error = client
        .batch_execute(sql)
        .await
        .expect_err(&format!("{sql} should fail"));
    let db_error = error
        .as_db_error()
        .unwrap_or_else(|| panic!("{sql}: not a server error: {error:?}"));
    assert_eq!(
        db_error.code(),
        &expected,
        "{sql}: got {} {}",
        db_error.code().code(),
        db_error.message()
    );
    assert!(
        db_error.message().contains(words),
        "{sql}: message {:?} does not mention {words:?}",
        db_error.message()
    );
    // The same connection goes on working.
    let row = client
        .query_one("SELECT 1 + 1", &[])
        .await
        .expect("connection still works");
    assert_eq!(row.get::<_, i32>(0), 2);
}

#[tokio::test]
async fn each_error_has_its_sqlstate() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, name text NOT NULL, n int);
             INSERT INTO t VALUES (1, 'one', 1);",
        )
        .await
        .unwrap();

    expect_error(
        &client,
        "SELEC 1",
        SqlState::SYNTAX_ERROR,
        "syntax error at or near \"SELEC\"",
    )
    .await;
    expect_error(
        &client,
        "SELECT * FROM missing",
        SqlState::UNDEFINED_TABLE,
        "missing",
    )
    .await;
    expect_error(
        &client,
        "SELECT nope FROM t",
        SqlState::UNDEFINED_COLUMN,
        "nope",
    )
    .await;
    expect_error(
        &client,
        "SELECT * FROM t WHERE n",
        SqlState::DATATYPE_MISMATCH,
        "",
    )
    .await;
    expect_error(
        &client,
        "CREATE TABLE t (a int)",
        SqlState::DUPLICATE_TABLE,
        "\"t\"",
    )
    .await;
    expect_error(
        &client,
        "INSERT INTO t VALUES (1, 'again', 2)",
        SqlState::UNIQUE_VIOLATION,
        "t_pkey",
    )
    .await;
    expect_error(
        &client,
        "INSERT INTO t (id) VALUES (2)",
        SqlState::NOT_NULL_VIOLATION,
        "\"name\"",
    )
    .await;
    expect_error(
        &client,
        "SELECT 1 / 0",
        SqlState::DIVISION_BY_ZERO,
        "division by zero",
    )
    .await;
    expect_error(
        &client,
        "SELECT n / 0 FROM t",
        SqlState::DIVISION_BY_ZERO,
        "division by zero",
    )
    .await;
    expect_error(
        &client,
        "SELECT 'abc'::int",
        SqlState::INVALID_TEXT_REPRESENTATION,
        "abc",
    )
    .await;
    expect_error(
        &client,
        "CREATE TABLE t2 AS SELECT 1",
        SqlState::FEATURE_NOT_SUPPORTED,
        "not supported",
    )
    .await;
}

#[tokio::test]
async fn syntax_errors_point_at_the_position() {
    let server = TestServer::start();
    let client = server.connect().await;
    let error = client
        .batch_execute("SELECT (1 + ) FROM t")
        .await
        .unwrap_err();
    let db_error = error.as_db_error().unwrap();
    assert_eq!(db_error.code(), &SqlState::SYNTAX_ERROR);
    match db_error.position() {
        Some(tokio_postgres::error::ErrorPosition::Original(position)) => {
            assert_eq!(*position, 13, "position of the closing parenthesis")
        }
        other => panic!("no position: {other:?}"),
    }
}

#[tokio::test]
async fn a_failed_transaction_block_refuses_statements_until_rollback() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE t (id int PRIMARY KEY)")
        .await
        .unwrap();
    client.batch_execute("BEGIN").await.unwrap();
    client
        .batch_execute("SELECT * FROM missing")
        .await
        .unwrap_err();
    let error = client.batch_execute("SELECT 1").await.unwrap_err();
    assert_eq!(
        error.as_db_error().unwrap().code(),
        &SqlState::IN_FAILED_SQL_TRANSACTION
    );
    let error = client.query("SELECT 1", &[]).await.unwrap_err();
    assert_eq!(
        error.as_db_error().unwrap().code(),
        &SqlState::IN_FAILED_SQL_TRANSACTION
    );
    client.batch_execute("ROLLBACK").await.unwrap();
    client.batch_execute("SELECT 1").await.unwrap();
}

#[tokio::test]
async fn an_unknown_database_is_refused() {
    let server = TestServer::start();
    let mut config = server.config();
    config.dbname("nope");
    let error = config
        .connect(tokio_postgres::NoTls)
        .await
        .err()
        .expect("refused");
    assert_eq!(
        error.code(),
        Some(&SqlState::INVALID_CATALOG_NAME),
        "{error:?}"
    );
}
