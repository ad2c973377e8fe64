//! Kafka sinks end to end: the real weir binary sending to librdkafka's mock cluster (a
//! real Kafka-protocol broker in this process, with transactions). What a
//! `read_committed` consumer reads back is replayed and compared with the view it
//! mirrors, across weir crashes: every change once, none missing.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::mocking::MockCluster;
use serde_json::Value;
use support::TestServer;
use support::kafka::{Message, produce, read_committed, settled_end_offsets};

/// Replays Debezium events into the rows they describe, by key; `Err` names the first
/// event that does not fit the rows so far (a duplicate or a gap).
fn replay_debezium(messages: &[Message]) -> Result<BTreeMap<String, Value>, String> {
    let mut rows = BTreeMap::new();
    for message in messages {
        let key = String::from_utf8(message.key.clone().expect("keyed")).unwrap();
        let Some(value) = &message.value else {
            if rows.contains_key(&key) {
                return Err(format!("tombstone for live key {key}"));
            }
            continue;
        };
        let event: Value = serde_json::from_slice(value).unwrap();
        let current = rows.get(&key);
        match event["op"].as_str().unwrap() {
            "c" if current.is_none() => {
                rows.insert(key, event["after"].clone());
            }
            "u" if current == Some(&event["before"]) => {
                rows.insert(key, event["after"].clone());
            }
            "d" if current == Some(&event["before"]) => {
                rows.remove(&key);
            }
            _ => return Err(format!("{event} does not follow {current:?} for {key}")),
        }
    }
    Ok(rows)
}

/// The rows upsert messages leave, by key.
fn replay_upsert(messages: &[Message]) -> BTreeMap<String, Value> {
    let mut rows = BTreeMap::new();
    for message in messages {
        let key = String::from_utf8(message.key.clone().expect("keyed")).unwrap();
        match &message.value {
            Some(value) => rows.insert(key, serde_json::from_slice(value).unwrap()),
            None => rows.remove(&key),
        };
    }
    rows
}

/// The rows of `sql` (customer INT, then BIGINT columns named `columns`) as a sink
/// encodes them, by key: `{"customer":…}` → row object.
async fn view_rows(
    client: &tokio_postgres::Client,
    sql: &str,
    columns: &[&str],
) -> BTreeMap<String, Value> {
    let rows = client.query(sql, &[]).await.unwrap();
    rows.iter()
        .map(|row| {
            let customer: i32 = row.get(0);
            let mut object = serde_json::Map::new();
            object.insert("customer".into(), customer.into());
            for (index, column) in columns.iter().enumerate() {
                object.insert((*column).into(), row.get::<_, i64>(index + 1).into());
            }
            let key = serde_json::json!({ "customer": customer });
            (key.to_string(), Value::Object(object))
        })
        .collect()
}

/// Waits until every sink has delivered every epoch.
async fn undelivered_drained(client: &tokio_postgres::Client) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let undelivered: Option<i64> = client
            .query_one(
                "SELECT sum(undelivered_epochs)::bigint FROM weir_catalog.sinks",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if undelivered == Some(0) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "sinks did not deliver: {undelivered:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Statement `n` of the workload on `table`: inserts, updates and deletes over 40
/// customers.
fn statement(table: &str, n: i64) -> String {
    match n % 5 {
        0..=2 => format!(
            "INSERT INTO {table} VALUES ({}, {}, {}), ({}, {}, {})",
            n * 2,
            n % 40,
            n % 97,
            n * 2 + 1,
            (n * 7) % 40,
            n % 13
        ),
        3 => format!(
            "UPDATE {table} SET amount = amount + 5 WHERE customer = {}",
            n % 40
        ),
        _ => format!("DELETE FROM {table} WHERE id = {}", (n - 4) * 2),
    }
}

/// Runs statements `numbers` of the workload on each of `tables`; `false` once one
/// fails (the server crashed).
async fn run_workload(
    client: &tokio_postgres::Client,
    numbers: std::ops::Range<i64>,
    tables: &[&str],
) -> bool {
    for n in numbers {
        for table in tables {
            if client.batch_execute(&statement(table, n)).await.is_err() {
                return false;
            }
        }
    }
    true
}

/// The sinks' topics.
const TOPICS: [&str; 2] = ["totals_cdc", "big_refunds"];

/// Each topic's messages of transactions that never committed, as offset ranges by
/// partition.
type Uncommitted = BTreeMap<&'static str, BTreeMap<i32, std::ops::Range<i64>>>;

/// What a `read_committed` consumer of a broker that implements transaction outcomes
/// reads from `topic`: librdkafka's mock cluster writes no abort markers, so its
/// consumers also see the `uncommitted` messages, which are left out here.
fn committed_messages(address: &str, topic: &str, uncommitted: &Uncommitted) -> Vec<Message> {
    let mut messages = read_committed(address, topic);
    messages.retain(|message| {
        !uncommitted[topic]
            .get(&message.partition)
            .is_some_and(|range| range.contains(&message.offset))
    });
    messages
}

/// The sinks' messages survive three crashes: right after a Kafka transaction committed
/// (before weir recorded it), inside a transaction whose messages are at the broker,
/// and a kill from outside. The crash points are failpoints, not a kill timed by
/// luck: the mock cluster does not hide aborted transactions from `read_committed`
/// consumers, so the test must know which messages were never committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_sinks_survive_a_crash() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    let address = cluster.bootstrap_servers();
    cluster.create_topic("totals_cdc", 3, 1).unwrap();
    cluster.create_topic("big_refunds", 2, 1).unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(data.path());
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE orders (id BIGINT PRIMARY KEY, customer INT, amount BIGINT);
             CREATE TABLE refunds (id BIGINT PRIMARY KEY, customer INT, amount BIGINT);
             CREATE MATERIALIZED VIEW totals AS
                 SELECT customer, count(*) AS orders, sum(amount) AS total FROM orders GROUP BY customer;
             CREATE MATERIALIZED VIEW refund_totals AS
                 SELECT customer, sum(amount) AS total FROM refunds GROUP BY customer;",
        )
        .await
        .unwrap();
    let both = ["orders", "refunds"];
    assert!(run_workload(&client, 0..20, &both).await);
    client
        .batch_execute(&format!(
            "CREATE SINK totals_cdc FROM totals
                 WITH (connector = 'kafka', topic = 'totals_cdc', properties.bootstrap.server = '{address}',
                       primary_key = 'customer')
                 FORMAT DEBEZIUM ENCODE JSON;
             CREATE SINK big_refunds AS SELECT customer, total FROM refund_totals WHERE total > 150
                 WITH (connector = 'kafka', topic = 'big_refunds', properties.bootstrap.server = '{address}',
                       type = 'upsert', primary_key = 'customer');"
        ))
        .await
        .unwrap();
    assert!(run_workload(&client, 20..80, &both).await);
    undelivered_drained(&client).await;
    assert!(server.stop());

    // A crash right after a Kafka transaction committed, before weir recorded it: the
    // restarted writer must learn from Kafka that it need not send those messages again.
    // Only `orders` changes, so only totals_cdc's writer is in a transaction when the
    // process aborts.
    let mut server = TestServer::start_with_env(
        data.path(),
        &[],
        &[("WEIR_FAILPOINT", "sink-after-kafka-commit")],
    );
    let client = server.connect().await;
    run_workload(&client, 80..90, &["orders"]).await;
    assert!(
        server.wait_for_exit(Duration::from_secs(60)),
        "the failpoint did not fire"
    );
    let mut server = TestServer::start_in(data.path());
    let client = server.connect().await;
    assert!(run_workload(&client, 90..120, &both).await);
    undelivered_drained(&client).await;
    assert!(server.stop());

    // A crash inside a transaction whose messages the broker has: the restarted writer
    // aborts it and sends those entries again. Every writer aborts before its first
    // commit, so all the broker receives meanwhile is uncommitted.
    let before: BTreeMap<_, _> = TOPICS
        .iter()
        .map(|topic| (*topic, settled_end_offsets(&address, topic)))
        .collect();
    let mut server = TestServer::start_with_env(
        data.path(),
        &[],
        &[("WEIR_FAILPOINT", "sink-mid-transaction")],
    );
    let client = server.connect().await;
    run_workload(&client, 120..130, &both).await;
    assert!(
        server.wait_for_exit(Duration::from_secs(60)),
        "the failpoint did not fire"
    );
    let uncommitted: Uncommitted = TOPICS
        .iter()
        .map(|topic| {
            let ranges = settled_end_offsets(&address, topic)
                .into_iter()
                .map(|(partition, end)| (partition, before[topic][&partition]..end))
                .collect();
            (*topic, ranges)
        })
        .collect();
    assert!(
        uncommitted
            .values()
            .flat_map(BTreeMap::values)
            .any(|range| !range.is_empty()),
        "the crash came before any message reached the broker"
    );

    // And a kill from outside, once the writers are idle.
    let mut server = TestServer::start_in(data.path());
    let client = server.connect().await;
    assert!(run_workload(&client, 130..160, &both).await);
    undelivered_drained(&client).await;
    server.kill();
    let server = TestServer::start_in(data.path());
    let client = server.connect().await;
    assert!(run_workload(&client, 160..220, &both).await);
    let expected_cdc = view_rows(
        &client,
        "SELECT customer, orders, total::bigint FROM totals",
        &["orders", "total"],
    )
    .await;
    let expected_big = view_rows(
        &client,
        "SELECT customer, total::bigint FROM refund_totals WHERE total > 150",
        &["total"],
    )
    .await;
    assert!(expected_cdc.len() > 30 && !expected_big.is_empty());
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let cdc = replay_debezium(&committed_messages(&address, "totals_cdc", &uncommitted));
        let big = replay_upsert(&committed_messages(&address, "big_refunds", &uncommitted));
        match cdc {
            Err(error) => panic!("the Debezium stream is not exactly once: {error}"),
            Ok(cdc) if cdc == expected_cdc && big == expected_big => break,
            Ok(cdc) => assert!(
                Instant::now() < deadline,
                "sinks did not converge: {} of {} CDC rows, {} of {} upsert rows",
                cdc.len(),
                expected_cdc.len(),
                big.len(),
                expected_big.len()
            ),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let status = client
        .query_one(
            "SELECT count(*), sum(undelivered_epochs)::bigint, count(last_error) FROM weir_catalog.sinks",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(status.get::<_, i64>(0), 2);
    assert_eq!(status.get::<_, Option<i64>>(1), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_only_sinks_and_sink_ddl() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    let address = cluster.bootstrap_servers();
    cluster.create_topic("clicks", 2, 1).unwrap();
    cluster.create_topic("clicks_out", 2, 1).unwrap();
    let server = TestServer::start();
    let client = server.connect().await;
    let with = |topic: &str, extra: &str| {
        format!(
            "WITH (connector = 'kafka', topic = '{topic}', properties.bootstrap.server = '{address}'{extra})"
        )
    };
    client
        .batch_execute(&format!(
            "CREATE TABLE t (a INT PRIMARY KEY, b INT);
             CREATE MATERIALIZED VIEW agg AS SELECT b, count(*) AS n FROM t GROUP BY b;
             CREATE SOURCE clicks (id BIGINT, page TEXT) {} FORMAT PLAIN ENCODE JSON;",
            with("clicks", "")
        ))
        .await
        .unwrap();
    let refused = |sql: String| {
        let client = &client;
        async move {
            let error = client.batch_execute(&sql).await.unwrap_err();
            let error = error.as_db_error().expect("a database error").clone();
            (error.code().code().to_owned(), error.message().to_owned())
        }
    };
    let (code, message) = refused(format!(
        "CREATE SINK s FROM agg {} FORMAT PLAIN ENCODE JSON",
        with("clicks_out", "")
    ))
    .await;
    assert_eq!(code, "22023");
    assert!(message.contains("cannot be append-only"), "{message}");
    let (code, _) = refused(format!(
        "CREATE SINK s FROM t {} FORMAT PLAIN ENCODE JSON",
        with("clicks_out", "")
    ))
    .await;
    assert_eq!(code, "22023");
    let (code, message) = refused(format!(
        "CREATE SINK s FROM agg {} FORMAT PLAIN ENCODE JSON",
        with("nowhere", ", force_append_only = 'true'")
    ))
    .await;
    assert_eq!(
        (code.as_str(), message.contains("nowhere")),
        ("42704", true),
        "{message}"
    );
    let (code, message) = refused(format!(
        "CREATE SINK s FROM agg {} FORMAT UPSERT ENCODE JSON",
        with("clicks_out", "")
    ))
    .await;
    assert_eq!(
        (code.as_str(), message.contains("primary_key")),
        ("22023", true)
    );
    let (code, _) = refused(format!(
        "CREATE SINK s FROM agg {} FORMAT UPSERT ENCODE JSON",
        with("clicks_out", ", primary_key = 'nope'")
    ))
    .await;
    assert_eq!(code, "42703");

    // An append-only sink over a source, delivered at least once: without a crash,
    // exactly the filtered records, each once.
    client
        .batch_execute(&format!(
            "CREATE SINK clicks_out AS SELECT id, upper(page) AS page FROM clicks WHERE id % 3 <> 0 \
             {} FORMAT PLAIN ENCODE JSON",
            with("clicks_out", ", sink.delivery = 'at-least-once'")
        ))
        .await
        .unwrap();
    let records: Vec<_> = (0..300i64)
        .map(|id| {
            let value = format!(r#"{{"id": {id}, "page": "p{}"}}"#, id % 10);
            ((id % 2) as i32, None, value.into_bytes())
        })
        .collect();
    produce(&address, "clicks", &records);
    let mut expected: Vec<String> = (0..300i64)
        .filter(|id| id % 3 != 0)
        .map(|id| format!(r#"{{"id":{id},"page":"P{}"}}"#, id % 10))
        .collect();
    expected.sort();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        client.batch_execute("FLUSH").await.unwrap();
        let mut sent: Vec<String> = read_committed(&address, "clicks_out")
            .into_iter()
            .map(|message| String::from_utf8(message.value.unwrap()).unwrap())
            .collect();
        sent.sort();
        if sent == expected {
            break;
        }
        assert!(
            Instant::now() < deadline && sent.len() <= expected.len(),
            "{} messages sent, {} expected",
            sent.len(),
            expected.len()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let shown: Vec<String> = support::first_column(&client, "SHOW SINKS").await;
    assert_eq!(shown, ["clicks_out"]);
    let (code, _) = refused("DROP SOURCE clicks".to_owned()).await;
    assert_eq!(code, "2BP01");
    let (code, _) = refused("DROP SINK agg".to_owned()).await;
    assert_eq!(code, "42809");
    client.batch_execute("DROP SINK clicks_out").await.unwrap();
    client.batch_execute("DROP SOURCE clicks").await.unwrap();
    let sinks: i64 = client
        .query_one("SELECT count(*) FROM weir_catalog.sinks", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(sinks, 0);
}
