//! Kafka sources end to end: a real broker (noida-db), the real weir binary, psql's wire
//! protocol. Views over a source are compared with the batch answer over the same
//! records; bad records land in the dead-letter table; restarts (clean and killed)
//! neither lose nor double a record.

mod support;

use std::time::{Duration, Instant};

use rdkafka::mocking::MockCluster;
use support::TestServer;
use support::kafka::{Broker, Record, produce};

const TOPIC: &str = "orders";
const PARTITIONS: i32 = 3;

/// Order `id` as a JSON record: customer `id % 7`, amount `id % 100 + 0.5`.
fn order(id: i64) -> Record {
    let value = format!(
        r#"{{"id": {id}, "customer": {}, "amount": {}.5, "note": {{"n": {id}}}}}"#,
        id % 7,
        id % 100
    );
    (
        (id % PARTITIONS as i64) as i32,
        Some(id.to_string().into_bytes()),
        value.into_bytes(),
    )
}

fn orders(ids: std::ops::Range<i64>) -> Vec<Record> {
    ids.map(order).collect()
}

/// One bad record of each kind, all on partition 0.
fn bad_records() -> Vec<Record> {
    [
        r#"{"id": 1, "customer": "#.to_owned(),
        r#"{"id": "not a number", "customer": 1, "amount": 1}"#.to_owned(),
        r#"{"customer": 1, "amount": 1}"#.to_owned(),
        r#"[1, 2, 3]"#.to_owned(),
        format!(r#"{{"id": 5, "pad": "{}"}}"#, "x".repeat(5000)),
    ]
    .into_iter()
    .map(|value| (0, None, value.into_bytes()))
    .collect()
}

/// Records `{"id": …}` for `ids`, over two partitions.
fn events(ids: std::ops::Range<i64>) -> Vec<Record> {
    ids.map(|id| {
        (
            (id % 2) as i32,
            None,
            format!(r#"{{"id": {id}}}"#).into_bytes(),
        )
    })
    .collect()
}

async fn scalar(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .get(0)
}

/// Waits until `sql` answers `expected`, running barriers meanwhile.
async fn converge(client: &tokio_postgres::Client, sql: &str, expected: i64) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        client.batch_execute("FLUSH").await.unwrap();
        let found = scalar(client, sql).await;
        if found == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{sql}: {found}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn create_pipeline(client: &tokio_postgres::Client, broker: &Broker) {
    client
        .batch_execute(&format!(
            "CREATE SOURCE orders (id BIGINT NOT NULL, customer INT, amount DOUBLE PRECISION, note JSONB) \
             INCLUDE partition AS part INCLUDE offset AS off \
             WITH (connector = 'kafka', topic = '{TOPIC}', properties.bootstrap.server = '{}', \
                   scan.startup.mode = 'earliest', max_record_bytes = 4096) \
             FORMAT PLAIN ENCODE JSON;
             CREATE TABLE customers (id INT PRIMARY KEY, region TEXT);
             INSERT INTO customers VALUES (0, 'north'), (1, 'south'), (2, 'east'), (3, 'west'), (4, 'north'), (5, 'south');
             CREATE MATERIALIZED VIEW all_orders AS SELECT * FROM orders;
             CREATE MATERIALIZED VIEW by_region AS
                 SELECT c.region, count(*) AS orders, sum(o.amount) AS total
                 FROM orders o JOIN customers c ON o.customer = c.id GROUP BY c.region;",
            broker.address()
        ))
        .await
        .unwrap();
}

/// Once both views have read `good` records, the view over the source equals the batch
/// answer over the same records. (Each view has its own reader of the source, so one may
/// be ahead of the other until both have caught up.)
async fn check_against_batch(client: &tokio_postgres::Client, good: i64) {
    converge(client, "SELECT count(*) FROM all_orders", good).await;
    let joined = (0..good).filter(|id| id % 7 < 6).count() as i64;
    converge(
        client,
        "SELECT coalesce(sum(orders), 0)::bigint FROM by_region",
        joined,
    )
    .await;
    assert_eq!(
        scalar(client, "SELECT count(DISTINCT id) FROM all_orders").await,
        good
    );
    assert_eq!(
        scalar(client, "SELECT sum(id)::bigint FROM all_orders").await,
        (0..good).sum::<i64>()
    );
    let streaming = client
        .query(
            "SELECT region, orders, total FROM by_region ORDER BY region",
            &[],
        )
        .await
        .unwrap();
    let batch = client
        .query(
            "SELECT c.region, count(*) AS orders, sum(o.amount) AS total \
             FROM all_orders o JOIN customers c ON o.customer = c.id GROUP BY c.region ORDER BY c.region",
            &[],
        )
        .await
        .unwrap();
    let rows = |rows: &[tokio_postgres::Row]| -> Vec<(String, i64, f64)> {
        rows.iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    };
    assert_eq!(rows(&streaming), rows(&batch));
    assert_eq!(rows(&streaming).len(), 4);
    // Metadata columns and nested JSON reach the view.
    assert_eq!(
        scalar(
            client,
            "SELECT count(*) FROM all_orders WHERE part = id % 3 AND (note->>'n')::bigint = id"
        )
        .await,
        good
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn records_reach_views_exactly_once_across_restarts() {
    let broker = Broker::start();
    broker.create_topic(TOPIC, PARTITIONS).await;
    broker.produce(TOPIC, &orders(0..2000));
    broker.produce(TOPIC, &bad_records());
    let data = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(data.path());
    let client = server.connect().await;
    create_pipeline(&client, &broker).await;
    converge(&client, "SELECT count(*) FROM all_orders", 2000).await;
    check_against_batch(&client, 2000).await;

    // Every kind of bad record is kept, once per view reading the source, with its reason.
    let letters = client
        .query(
            "SELECT partition, value, error FROM weir_catalog.source_dead_letters \
             WHERE source_name = 'orders' AND view_name = 'all_orders' ORDER BY offset",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(letters.len(), 5, "{letters:?}");
    let errors: Vec<String> = letters.iter().map(|row| row.get(2)).collect();
    assert!(errors[0].contains("complete"), "{errors:?}");
    assert!(errors[2].contains("not-null"), "{errors:?}");
    assert!(errors[3].contains("expected {"), "{errors:?}");
    assert!(errors[4].contains("max_record_bytes"), "{errors:?}");
    let first: Vec<u8> = letters[0].get(1);
    assert_eq!(first, br#"{"id": 1, "customer": "#.to_vec());

    // Records produced while weir is stopped, cleanly or by a crash, arrive once.
    broker.produce(TOPIC, &orders(2000..3000));
    assert!(server.stop());
    broker.produce(TOPIC, &orders(3000..4000));
    let mut server = TestServer::start_in(data.path());
    let client = server.connect().await;
    converge(&client, "SELECT count(*) FROM all_orders", 4000).await;
    broker.produce(TOPIC, &orders(4000..5000));
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill();
    let server = TestServer::start_in(data.path());
    let client = server.connect().await;
    converge(&client, "SELECT count(*) FROM all_orders", 5000).await;
    check_against_batch(&client, 5000).await;
    assert_eq!(
        scalar(
            &client,
            "SELECT count(*) FROM weir_catalog.source_dead_letters WHERE view_name = 'all_orders'"
        )
        .await,
        5
    );

    // Status: every record of each partition is committed, and the lag is zero.
    converge(
        &client,
        "SELECT coalesce(sum(committed_offset), 0)::bigint FROM weir_catalog.source_partitions \
         WHERE view_name = 'by_region' AND partition >= 0 AND lag = 0",
        5005,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn source_ddl_is_checked_and_listed() {
    let broker = Broker::start();
    broker.create_topic(TOPIC, 1).await;
    let server = TestServer::start();
    let client = server.connect().await;
    let with = format!(
        "WITH (connector = 'kafka', topic = '{TOPIC}', properties.bootstrap.server = '{}') FORMAT PLAIN ENCODE JSON",
        broker.address()
    );
    let missing = client
        .batch_execute(&format!(
            "CREATE SOURCE s (a INT) WITH (connector = 'kafka', topic = 'nope', properties.bootstrap.server = '{}') FORMAT PLAIN ENCODE JSON",
            broker.address()
        ))
        .await
        .unwrap_err();
    let missing = missing.as_db_error().unwrap();
    assert_eq!(missing.code().code(), "42704");
    assert!(missing.hint().unwrap().contains("Create the topic"));
    let unknown = client
        .batch_execute(&format!(
            "CREATE SOURCE s (a INT) {}",
            with.replace("topic =", "topik = 'x', topic =")
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.as_db_error().unwrap().code().code(), "22023");
    let protobuf = client
        .batch_execute(&format!(
            "CREATE SOURCE s (a INT) {}",
            with.replace("JSON", "PROTOBUF")
        ))
        .await
        .unwrap_err();
    assert_eq!(protobuf.as_db_error().unwrap().code().code(), "0A000");

    client
        .batch_execute(&format!(
            "CREATE SOURCE s (a INT) {}; CREATE MATERIALIZED VIEW v AS SELECT a FROM s",
            with.replace("topic =", "properties.sasl.password = 'hunter2', topic =")
        ))
        .await
        .unwrap();
    // The definition is shown with its secrets redacted.
    let shown = client
        .query_one(
            "SELECT definition FROM weir_catalog.objects WHERE name = 's'",
            &[],
        )
        .await
        .unwrap()
        .get::<_, String>(0);
    assert!(
        shown.contains("properties.sasl.password = '[REDACTED]'") && !shown.contains("hunter2"),
        "{shown}"
    );
    let listed: Vec<String> = support::first_column(&client, "SHOW SOURCES").await;
    assert_eq!(listed, ["s"]);
    // psql's \d describes a source by its columns.
    let described = server.psql(&["-c", "\\d s"]);
    let described = String::from_utf8_lossy(&described.stdout);
    assert!(
        described.contains("\"public.s\"") && described.contains(" a "),
        "{described}"
    );
    let scan = client.query("SELECT * FROM s", &[]).await.unwrap_err();
    assert_eq!(scan.as_db_error().unwrap().code().code(), "0A000");
    let dependent = client.batch_execute("DROP SOURCE s").await.unwrap_err();
    assert_eq!(dependent.as_db_error().unwrap().code().code(), "2BP01");
    client.batch_execute("DROP SOURCE s CASCADE").await.unwrap();
    assert_eq!(
        scalar(&client, "SELECT count(*) FROM weir_catalog.objects").await,
        0
    );
}

/// Told to wait, a source over a topic that does not exist yet says so, shows the error
/// while it waits, and reads the topic once it is created: all of it, even with
/// `scan.startup.mode = 'latest'` and weir down while the topic was created and written.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_topic_is_waited_for() {
    let broker = Broker::start();
    let data = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(data.path());
    let created = server.psql(&[
        "-c",
        &format!(
            "CREATE SOURCE later (id BIGINT) WITH (connector = 'kafka', topic = 'later', \
             properties.bootstrap.server = '{}', scan.topic.missing = 'wait', \
             scan.startup.mode = 'latest') FORMAT PLAIN ENCODE JSON",
            broker.address()
        ),
        "-c",
        "CREATE MATERIALIZED VIEW later_ids AS SELECT id FROM later",
    ]);
    let notices = String::from_utf8_lossy(&created.stderr);
    assert!(created.status.success(), "{notices}");
    assert!(
        notices.contains("Kafka topic \"later\" does not exist yet"),
        "{notices}"
    );
    let client = server.connect().await;
    converge(
        &client,
        "SELECT count(*) FROM weir_catalog.source_partitions \
         WHERE view_name = 'later_ids' AND last_error LIKE '%Unknown topic%'",
        1,
    )
    .await;
    assert!(server.stop());
    broker.create_topic("later", 2).await;
    broker.produce("later", &events(0..10));
    let server = TestServer::start_in(data.path());
    let client = server.connect().await;
    broker.produce("later", &events(10..20));
    converge(&client, "SELECT count(*) FROM later_ids", 20).await;
    assert_eq!(
        scalar(&client, "SELECT sum(id)::bigint FROM later_ids").await,
        (0..20).sum::<i64>()
    );
}

/// `on_error = 'skip'` and `'fail'` over the same topic, then the broker going away and
/// coming back (librdkafka's mock cluster, which can take a broker down without losing
/// its records).
#[tokio::test(flavor = "multi_thread")]
async fn error_policies_and_a_broker_outage() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    let address = cluster.bootstrap_servers();
    cluster.create_topic("events", 2, 1).unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(data.path(), &["--max-dead-letters", "3"]);
    let client = server.connect().await;
    for (name, policy) in [
        ("skipping", "skip"),
        ("failing", "fail"),
        ("lettering", "dead_letter"),
    ] {
        client
            .batch_execute(&format!(
                "CREATE SOURCE {name} (id BIGINT NOT NULL) \
                 WITH (connector = 'kafka', topic = 'events', properties.bootstrap.server = '{address}', \
                       on_error = '{policy}') FORMAT PLAIN ENCODE JSON;
                 CREATE MATERIALIZED VIEW {name}_ids AS SELECT id FROM {name};"
            ))
            .await
            .unwrap();
    }
    produce(&address, "events", &events(0..100));
    produce(
        &address,
        "events",
        &[(0, None, br#"{"id": null}"#.to_vec())],
    );
    produce(&address, "events", &events(100..200));
    let bad: Vec<Record> = (0..4)
        .map(|n| (1, None, format!(r#"{{"id": "bad {n}"}}"#).into_bytes()))
        .collect();
    produce(&address, "events", &bad);

    // Skipped: every good record arrives, the bad ones are only reported.
    converge(&client, "SELECT count(*) FROM skipping_ids", 200).await;
    assert_eq!(
        scalar(&client, "SELECT sum(id)::bigint FROM skipping_ids").await,
        (0..200).sum::<i64>()
    );
    // Dead-lettered: only the latest 3 (`--max-dead-letters 3`) of the 5 bad records are
    // kept, and none comes from the skipping source.
    converge(&client, "SELECT count(*) FROM lettering_ids", 200).await;
    converge(
        &client,
        "SELECT count(*) FROM weir_catalog.source_partitions \
         WHERE view_name = 'lettering_ids' AND partition = 1 AND committed_offset = 104",
        1,
    )
    .await;
    let kept: Vec<String> = client
        .query(
            "SELECT source_name, partition, value FROM weir_catalog.source_dead_letters \
             ORDER BY partition, \"offset\"",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| {
            let value: Vec<u8> = row.get(2);
            let (source, partition): (String, i32) = (row.get(0), row.get(1));
            format!("{source}:{partition}:{}", String::from_utf8_lossy(&value))
        })
        .collect();
    assert_eq!(
        kept,
        [1, 2, 3].map(|n| format!(r#"lettering:1:{{"id": "bad {n}"}}"#))
    );
    converge(
        &client,
        "SELECT count(*) FROM weir_catalog.source_partitions \
         WHERE view_name = 'skipping_ids' AND partition = 0 AND last_error LIKE '%not-null%'",
        1,
    )
    .await;
    // Failed: partition 0 stops right before the bad record, and says why.
    converge(
        &client,
        "SELECT count(*) FROM weir_catalog.source_partitions \
         WHERE view_name = 'failing_ids' AND last_error LIKE '%on_error = ''fail''%'",
        1,
    )
    .await;
    converge(
        &client,
        "SELECT count(*) FROM failing_ids WHERE id % 2 = 0",
        50,
    )
    .await;
    assert_eq!(
        scalar(
            &client,
            "SELECT coalesce(max(id), 0) FROM failing_ids WHERE id % 2 = 0"
        )
        .await,
        98
    );

    // The broker goes away: the error shows, the views stay readable.
    cluster.broker_down(1).unwrap();
    converge(
        &client,
        "SELECT count(*) FROM weir_catalog.source_partitions \
         WHERE view_name = 'skipping_ids' AND partition = -1 AND last_error IS NOT NULL",
        1,
    )
    .await;
    assert_eq!(
        scalar(&client, "SELECT count(*) FROM skipping_ids").await,
        200
    );
    // It comes back: reading resumes where it stopped, nothing lost or doubled.
    cluster.broker_up(1).unwrap();
    produce(&address, "events", &events(200..300));
    converge(&client, "SELECT count(*) FROM skipping_ids", 300).await;
    assert_eq!(
        scalar(&client, "SELECT count(DISTINCT id) FROM skipping_ids").await,
        300
    );
}
