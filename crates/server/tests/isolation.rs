//! Isolation between sessions: long statements neither hold up other sessions nor outlive
//! a cancel request, their `statement_timeout` or their client, and a stopped statement
//! leaves nothing of itself behind.
//!
//! The tests run one at a time (they measure latency while long queries load the
//! machine), each on its own server.

mod support;

use std::time::{Duration, Instant};

use support::TestServer;
use tokio::sync::Mutex;
use tokio_postgres::{CancelToken, Client, NoTls};

/// A query that runs for about half a minute on two cores: a nested-loop join of 60
/// billion pairs, 25 million for each batch of its larger side.
const LONG_QUERY: &str = "SELECT count(*) FROM generate_series(1, 3000) a, \
     generate_series(1, 20000000) b WHERE a.value + b.value = 7";

/// The same work as an INSERT's input.
const LONG_INSERT: &str = "INSERT INTO t SELECT a.value FROM generate_series(1, 3000) a, \
     generate_series(1, 20000000) b WHERE a.value + b.value = 7";

/// How soon a statement must stop once asked to (the promise made to users).
const STOP_WITHIN: Duration = Duration::from_millis(100);

static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

fn sqlstate(error: &tokio_postgres::Error) -> Option<&str> {
    error.as_db_error().map(|error| error.code().code())
}

/// A statement running on its client's own task, which returns the client and the
/// statement's result.
type Running = tokio::task::JoinHandle<(Client, Result<(), tokio_postgres::Error>)>;

/// Starts `sql` on `client`'s own task; returns the task.
fn start(client: Client, sql: &'static str) -> Running {
    tokio::spawn(async move {
        let result = client.simple_query(sql).await.map(drop);
        (client, result)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn short_statements_are_answered_while_long_queries_run() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start();
    let mut running = Vec::new();
    for _ in 0..2 {
        let client = server.connect().await;
        running.push((client.cancel_token(), start(client, LONG_QUERY)));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let short = server.connect().await;
    let mut latencies = Vec::new();
    for _ in 0..100 {
        let started = Instant::now();
        let row = short.query_one("SELECT 1", &[]).await.expect("SELECT 1");
        latencies.push(started.elapsed());
        assert_eq!(row.get::<_, i32>(0), 1);
    }
    latencies.sort();
    println!(
        "SELECT 1 beside two long queries: median {:?}, slowest {:?}",
        latencies[50], latencies[99]
    );
    assert!(
        latencies[99] <= Duration::from_millis(50),
        "the slowest SELECT 1 took {:?}",
        latencies[99]
    );

    // Both long queries were still running, and stop when canceled.
    for (cancel, task) in running {
        let (client, _) = cancel_running(LONG_QUERY, &cancel, task, STOP_WITHIN).await;
        // The session goes on.
        let row = client.query_one("SELECT 2", &[]).await.unwrap();
        assert_eq!(row.get::<_, i32>(0), 2);
    }
}

/// Runs `sql` on `client`, cancels it after `after`, and checks that it stops with 57014
/// within `within` of the cancel.
async fn cancel_after(
    client: Client,
    sql: &'static str,
    after: Duration,
    within: Duration,
) -> Client {
    let cancel = client.cancel_token();
    let task = start(client, sql);
    tokio::time::sleep(after).await;
    let (client, error) = cancel_running(sql, &cancel, task, within).await;
    assert_eq!(
        error.as_db_error().unwrap().message(),
        "canceling statement due to user request"
    );
    client
}

/// Cancels `sql`, still running as `task`, and checks that it stops with 57014 within
/// `within` of the cancel; returns its client and its error.
async fn cancel_running(
    sql: &str,
    cancel: &CancelToken,
    task: Running,
    within: Duration,
) -> (Client, tokio_postgres::Error) {
    assert!(!task.is_finished(), "{sql} ended before it was canceled");
    let asked = Instant::now();
    cancel.cancel_query(NoTls).await.expect("cancel request");
    let (client, result) = task.await.unwrap();
    let stopped = asked.elapsed();
    let error = result.expect_err("canceled");
    assert_eq!(sqlstate(&error), Some("57014"), "{sql}: {error}");
    println!("{sql}: stopped {stopped:?} after the cancel");
    assert!(
        stopped <= within,
        "{sql} stopped {stopped:?} after the cancel"
    );
    (client, error)
}

/// The `statement_timeout` the timeout tests set.
const TIMEOUT: Duration = Duration::from_millis(300);

/// Awaits `statement`, which must fail with 57014 within [`STOP_WITHIN`] of [`TIMEOUT`];
/// returns its error and how long it took.
async fn assert_timed_out<T>(
    what: &str,
    statement: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> (tokio_postgres::Error, Duration) {
    let started = Instant::now();
    let Err(error) = statement.await else {
        panic!("{what} did not time out");
    };
    let took = started.elapsed();
    assert_eq!(sqlstate(&error), Some("57014"), "{what}: {error}");
    assert!(
        took <= TIMEOUT + STOP_WITHIN,
        "{what} stopped after {took:?}"
    );
    (error, took)
}

/// Checks that the server computes next to nothing in the next two seconds, after `what`.
async fn assert_idle_for_two_seconds(server: &TestServer, what: &str) {
    let before = server.cpu_time();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = server.cpu_time() - before;
    println!("processor time in the 2 s after {what}: {used:?}");
    assert!(
        used <= Duration::from_millis(200),
        "work went on after {what}: {used:?} of processor time in 2 s"
    );
}

async fn one_bigint(client: &Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

async fn count(client: &Client, table: &str) -> i64 {
    let row = client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap();
    row.get(0)
}

/// A server with a table `t` of the bigint `values`, and a table `big` of two million
/// rows (two for each key) whose materialized self-join takes seconds to backfill.
async fn server_with_tables(values: &str) -> (TestServer, Client) {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute(&format!(
            "CREATE TABLE t (x bigint); INSERT INTO t VALUES {values}; \
             CREATE TABLE big (k bigint, x bigint); \
             INSERT INTO big SELECT value % 1000000, value FROM generate_series(1, 2000000)"
        ))
        .await
        .unwrap();
    (server, client)
}

const SLOW_VIEW: &str = "CREATE MATERIALIZED VIEW pairs AS \
     SELECT a.k, count(*) AS n FROM big a JOIN big b ON a.k = b.k GROUP BY a.k";

#[tokio::test(flavor = "multi_thread")]
async fn a_canceled_statement_applies_nothing() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let (_server, client) = server_with_tables("(1), (2), (3)").await;

    let client = cancel_after(client, LONG_QUERY, Duration::from_millis(500), STOP_WITHIN).await;
    let client = cancel_after(client, LONG_INSERT, Duration::from_millis(500), STOP_WITHIN).await;
    assert_eq!(count(&client, "t").await, 3, "a canceled INSERT wrote rows");
    // Two seconds in, the backfill holds a large join state, whose rehash or freeing took
    // up to 2 s before the backfill computed on a thread of its own.
    let client = cancel_after(client, SLOW_VIEW, Duration::from_secs(2), STOP_WITHIN).await;
    let error = client
        .simple_query("SELECT * FROM pairs")
        .await
        .unwrap_err();
    assert_eq!(
        sqlstate(&error),
        Some("42P01"),
        "a canceled CREATE left its view: {error}"
    );

    // Everything goes on: DML, DDL, and a view over the tables the canceled ones touched.
    client
        .batch_execute(
            "INSERT INTO t VALUES (4); \
             CREATE MATERIALIZED VIEW total AS SELECT sum(x) AS s FROM t",
        )
        .await
        .unwrap();
    assert_eq!(one_bigint(&client, "SELECT s::bigint FROM total").await, 10);

    // A cancel request while nothing runs is ignored, as PostgreSQL ignores it.
    client.cancel_token().cancel_query(NoTls).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(count(&client, "t").await, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn statement_timeout_stops_every_kind_of_statement() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let (_server, client) = server_with_tables("(1)").await;
    client
        .batch_execute("SET statement_timeout = '300ms'")
        .await
        .unwrap();
    for sql in [LONG_QUERY, LONG_INSERT, SLOW_VIEW] {
        let (error, took) = assert_timed_out(sql, client.simple_query(sql)).await;
        assert_eq!(
            error.as_db_error().unwrap().message(),
            "canceling statement due to statement timeout"
        );
        assert!(took >= TIMEOUT, "{sql} stopped after {took:?}");
    }
    // The extended protocol too.
    let error = client.query(LONG_QUERY, &[]).await.expect_err("timed out");
    assert_eq!(sqlstate(&error), Some("57014"), "{error}");
    client
        .batch_execute("RESET statement_timeout")
        .await
        .unwrap();
    assert_eq!(
        count(&client, "t").await,
        1,
        "a timed-out INSERT wrote rows"
    );
    let error = client
        .simple_query("SELECT * FROM pairs")
        .await
        .unwrap_err();
    assert_eq!(
        sqlstate(&error),
        Some("42P01"),
        "a timed-out CREATE left its view: {error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_stops_when_its_client_goes() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start();
    let mut psql = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &server.port.to_string(),
            "-U",
            "weir",
            "-d",
            "weir",
        ])
        .args(["-X", "-c", LONG_QUERY])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("psql runs");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = server.cpu_time();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let working = server.cpu_time() - before;
    assert!(
        working >= Duration::from_millis(500),
        "the query used only {working:?} of a second"
    );

    psql.kill().expect("psql is killed");
    psql.wait().unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_idle_for_two_seconds(&server, "the client left").await;
    // Other sessions are served as before.
    let client = server.connect().await;
    assert_eq!(count(&client, "(VALUES (1)) v").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_is_stopped_while_it_is_planned() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start();
    let client = server.connect().await;
    // Planning this takes seconds (see `hostile_clients`); nothing of it is a safe point.
    let long_to_plan = format!("SELECT {}", vec!["1"; 1_000].join(" + "));
    client
        .batch_execute("SET statement_timeout = '300ms'; BEGIN")
        .await
        .unwrap();
    let (_, took) =
        assert_timed_out("a query being planned", client.simple_query(&long_to_plan)).await;
    println!("a query timed out while planned was answered after {took:?}");

    // The next statement waits for the session while the abandoned planning ends, and its
    // own timeout (counted from its arrival) stops that wait too.
    assert_timed_out(
        "a statement waiting for an abandoned planning",
        client.simple_query("SELECT 1"),
    )
    .await;
    // Another session is served meanwhile.
    let other = server.connect().await;
    assert_eq!(count(&other, "(VALUES (1)) v").await, 1);
    // Once the planning has ended, the block the client was told had failed has failed.
    let error = once_not_timed_out(&client, "SELECT 1").await.unwrap_err();
    assert_eq!(sqlstate(&error), Some("25P02"), "{error}");
    client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(count(&client, "(VALUES (1)) v").await, 1);

    // In the extended protocol, a prepared query's Execute plans its operators.
    client
        .batch_execute("RESET statement_timeout")
        .await
        .unwrap();
    let prepared = client.prepare(&long_to_plan).await.unwrap();
    client
        .batch_execute("SET statement_timeout = '300ms'")
        .await
        .unwrap();
    assert_timed_out("an Execute being planned", client.query(&prepared, &[])).await;
    once_not_timed_out(&client, "RESET statement_timeout")
        .await
        .unwrap();
    assert_eq!(count(&client, "(VALUES (1)) v").await, 1);
}

/// `sql`'s result once it is not stopped by the session's `statement_timeout` (within 100
/// tries), as it is while the session is busy with abandoned work.
async fn once_not_timed_out(
    client: &Client,
    sql: &str,
) -> Result<Vec<tokio_postgres::SimpleQueryMessage>, tokio_postgres::Error> {
    for _ in 1..100 {
        match client.simple_query(sql).await {
            Err(error) if sqlstate(&error) == Some("57014") => continue,
            other => return other,
        }
    }
    client.simple_query(sql).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_canceled_nested_loop_join_stops_computing() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start();
    let client = server.connect().await;
    // Each batch of `b` meets all 200,000 rows of `a` within one poll of the join: seconds
    // of work that went on after the cancel, until the join looked at the interrupt in
    // its filter.
    const WIDE_JOIN: &str = "SELECT count(*) FROM generate_series(1, 200000) a, \
         generate_series(1, 20000000) b WHERE a.value + b.value = 7";
    let client = cancel_after(client, WIDE_JOIN, Duration::from_secs(1), STOP_WITHIN).await;
    assert_idle_for_two_seconds(&server, "a wide join's cancel").await;
    assert_eq!(count(&client, "(VALUES (1)) v").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_canceled_insert_into_a_large_view_is_answered_at_once_and_so_is_the_next() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE wide (k bigint, x bigint); \
             INSERT INTO wide SELECT value % 200000, value FROM generate_series(1, 400000); \
             CREATE MATERIALIZED VIEW wide_pairs AS \
             SELECT a.k, count(*) AS n FROM wide a JOIN wide b ON a.k = b.k GROUP BY a.k",
        )
        .await
        .unwrap();
    // The view's dataflows, which took part of the change, are rebuilt from the committed
    // state (two seconds or more here) after the answer, not before it.
    const WIDE_INSERT: &str =
        "INSERT INTO wide SELECT value % 200000, value FROM generate_series(1, 400000)";
    let client = cancel_after(client, WIDE_INSERT, Duration::from_millis(500), STOP_WITHIN).await;
    assert_eq!(
        count(&client, "wide").await,
        400_000,
        "a canceled INSERT wrote rows"
    );
    // The next change to the table waits for that rebuild, and its timeout stops the wait.
    client
        .batch_execute("SET statement_timeout = '300ms'")
        .await
        .unwrap();
    assert_timed_out(
        "an INSERT waiting for the views' rebuild",
        client.batch_execute("INSERT INTO wide VALUES (0, 0)"),
    )
    .await;
    client
        .batch_execute("RESET statement_timeout; INSERT INTO wide VALUES (0, 0)")
        .await
        .unwrap();
    assert_eq!(
        one_bigint(&client, "SELECT sum(n)::bigint FROM wide_pairs").await,
        200_000 * 4 + 5,
        "the view after the cancel"
    );
}
