//! Kafka-fed tables and the source formats beyond plain JSON, end to end against a real
//! broker (noida-db) and the real weir binary: an UPSERT JSON table and a DEBEZIUM JSON
//! table, kept by primary key, and a CSV source, feeding views with a join and
//! aggregations. Each table must equal a model that applies the same records; each view
//! must equal the batch answer over the model's rows; bad records of every format land
//! in the dead-letter table; clean stops and crashes lose and double nothing.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::kafka::{Broker, Record, RefusalSetting};
use support::{TestServer, text_rows as rows};

const REGIONS: [&str; 4] = ["north", "south", "east", "west"];

/// A row of the customers and accounts tables: id, name, region.
type Row = (i64, String, String);

/// The tables' rows as the records produced so far leave them.
#[derive(Default)]
struct Model {
    customers: BTreeMap<i64, Row>,
    accounts: BTreeMap<i64, Row>,
    /// Records sent to each topic, bad ones included.
    sent: BTreeMap<&'static str, i64>,
    orders: Vec<(i64, i64, f64)>,
}

impl Model {
    /// A deterministic mix of inserts, updates and deletes: every 50 steps touch each of
    /// ids 0..50 once, deleting a fifth of them, a different fifth each round.
    fn change(step: i64) -> (i64, Option<Row>) {
        let id = (step * 37) % 50;
        match (step + step / 50) % 5 {
            4 => (id, None),
            _ => {
                let region = REGIONS[((step / 3) % 4) as usize];
                (id, Some((id, format!("n{step}"), region.to_owned())))
            }
        }
    }

    /// UPSERT records (key `{"id": …}`, value the row or a tombstone) for steps `steps`.
    fn upserts(&mut self, steps: std::ops::Range<i64>) -> Vec<Record> {
        let mut records = Vec::new();
        for step in steps {
            let (id, row) = Model::change(step);
            let key = Some(format!(r#"{{"id": {id}}}"#).into_bytes());
            let value = match &row {
                Some((id, name, region)) => {
                    format!(r#"{{"id": {id}, "name": "{name}", "region": "{region}"}}"#)
                        .into_bytes()
                }
                None => Vec::new(),
            };
            match row {
                Some(row) => self.customers.insert(id, row),
                None => self.customers.remove(&id),
            };
            records.push(((id % 2) as i32, key, value));
        }
        *self.sent.entry("customers").or_default() += records.len() as i64;
        records
    }

    /// Debezium events (half of them in the schema/payload envelope) for steps `steps`.
    fn events(&mut self, steps: std::ops::Range<i64>) -> Vec<Record> {
        let json = |row: Option<&Row>| match row {
            Some((id, name, region)) => {
                format!(r#"{{"id": {id}, "name": "{name}", "region": "{region}"}}"#)
            }
            None => "null".to_owned(),
        };
        let mut records = Vec::new();
        for step in steps {
            let (id, after) = Model::change(step + 1000);
            let before = self.accounts.get(&id).cloned();
            let op = match (&before, &after) {
                (None, None) => continue,
                (None, Some(_)) => "c",
                (Some(_), Some(_)) => "u",
                (Some(_), None) => "d",
            };
            let event = format!(
                r#"{{"before": {}, "after": {}, "op": "{op}", "ts_ms": 1}}"#,
                json(before.as_ref()),
                json(after.as_ref())
            );
            let value = match step % 2 {
                0 => format!(r#"{{"schema": {{"type": "struct"}}, "payload": {event}}}"#),
                _ => event,
            };
            records.push((
                (id % 2) as i32,
                Some(id.to_string().into_bytes()),
                value.into_bytes(),
            ));
            if op == "d" {
                // Debezium's tombstone for log compaction, skipped by weir.
                records.push((
                    (id % 2) as i32,
                    Some(id.to_string().into_bytes()),
                    Vec::new(),
                ));
            }
            match after {
                Some(row) => self.accounts.insert(id, row),
                None => self.accounts.remove(&id),
            };
        }
        *self.sent.entry("accounts").or_default() += records.len() as i64;
        records
    }

    /// CSV orders `ids`, one to three lines per record, the header naming the fields in
    /// an order of its own (and one field weir does not know).
    fn orders(&mut self, ids: std::ops::Range<i64>) -> Vec<Record> {
        let mut records = Vec::new();
        let mut value = String::from("amount,note,id,customer\n");
        for id in ids.clone() {
            let (customer, amount) = (id % 60, (id % 10) as f64 + 0.25);
            self.orders.push((id, customer, amount));
            value.push_str(&format!("{amount},\"x,{id}\",{id},{customer}\n"));
            if id % 3 == 2 || id + 1 == ids.end {
                records.push((
                    0,
                    None,
                    std::mem::replace(&mut value, "amount,note,id,customer\n".to_owned())
                        .into_bytes(),
                ));
            }
        }
        *self.sent.entry("orders").or_default() += records.len() as i64;
        records
    }

    /// The tables' rows as SQL rows, for the batch answer.
    fn values(rows: &BTreeMap<i64, Row>) -> String {
        rows.values()
            .map(|(id, name, region)| format!("({id}, '{name}', '{region}')"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Records of every format that cannot be decoded or break the tables' constraints.
fn bad_records(model: &mut Model) -> Vec<(&'static str, Record)> {
    let bad = vec![
        (
            "customers",
            (
                0,
                Some(b"{\"id\": 1}".to_vec()),
                br#"{"name": "no id"}"#.to_vec(),
            ),
        ),
        ("customers", (0, None, Vec::new())),
        (
            "accounts",
            (
                0,
                None,
                br#"{"before": null, "after": {"id": 1}, "op": "x"}"#.to_vec(),
            ),
        ),
        ("accounts", (0, None, br#"{"after": {"id": 1}}"#.to_vec())),
        ("orders", (0, None, b"amount,id,customer\nabc,1,2".to_vec())),
    ];
    for (topic, _) in &bad {
        *model.sent.entry(topic).or_default() += 1;
    }
    bad
}

/// Waits until each reader has committed every record sent to its topic.
async fn converge(client: &tokio_postgres::Client, model: &Model) {
    let deadline = Instant::now() + Duration::from_secs(90);
    for (reader, topic) in [
        ("customers", "customers"),
        ("accounts", "accounts"),
        ("all_orders", "orders"),
    ] {
        let sql = format!(
            "SELECT coalesce(sum(committed_offset), 0)::bigint FROM weir_catalog.source_partitions \
             WHERE view_name = '{reader}' AND partition >= 0"
        );
        loop {
            client.batch_execute("FLUSH").await.unwrap();
            let found = rows(client, &sql).await[0][0].clone();
            if found == model.sent[topic].to_string() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{reader}: {found} of {}",
                model.sent[topic]
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The tables equal the model, and the views the batch answer over the model's rows.
async fn check(client: &tokio_postgres::Client, model: &Model) {
    converge(client, model).await;
    let table = |rows: &BTreeMap<i64, Row>| -> Vec<Vec<String>> {
        rows.values()
            .map(|(id, name, region)| vec![id.to_string(), name.clone(), region.clone()])
            .collect()
    };
    assert_eq!(
        rows(client, "SELECT id, name, region FROM customers ORDER BY id").await,
        table(&model.customers)
    );
    assert_eq!(
        rows(client, "SELECT id, name, region FROM accounts ORDER BY id").await,
        table(&model.accounts)
    );
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS customers_batch; DROP TABLE IF EXISTS accounts_batch;
             CREATE TABLE customers_batch (id BIGINT, name TEXT, region TEXT);
             CREATE TABLE accounts_batch (id BIGINT, name TEXT, region TEXT);
             INSERT INTO customers_batch VALUES {};
             INSERT INTO accounts_batch VALUES {};",
            Model::values(&model.customers),
            Model::values(&model.accounts)
        ))
        .await
        .unwrap();
    let streaming = rows(
        client,
        "SELECT region, orders, total FROM region_totals ORDER BY region",
    )
    .await;
    let batch = rows(
        client,
        "SELECT c.region, count(*), sum(o.amount) FROM all_orders o \
         JOIN customers_batch c ON o.customer = c.id GROUP BY c.region ORDER BY c.region",
    )
    .await;
    assert_eq!(streaming, batch);
    assert!(!streaming.is_empty());
    let streaming = rows(
        client,
        "SELECT region, accounts, last_name FROM accounts_by_region ORDER BY region",
    )
    .await;
    let batch = rows(
        client,
        "SELECT region, count(*), max(name) FROM accounts_batch GROUP BY region ORDER BY region",
    )
    .await;
    assert_eq!(streaming, batch);
    let orders = rows(
        client,
        "SELECT count(*), sum(id), sum(amount) FROM all_orders",
    )
    .await;
    let expected = vec![
        model.orders.len().to_string(),
        model.orders.iter().map(|o| o.0).sum::<i64>().to_string(),
        model.orders.iter().map(|o| o.2).sum::<f64>().to_string(),
    ];
    assert_eq!(orders, vec![expected]);
}

fn produce(broker: &Broker, topic: &str, records: &[Record]) {
    broker.produce(topic, records);
}

#[tokio::test(flavor = "multi_thread")]
async fn upsert_debezium_and_csv_records_keep_tables_and_views_exact() {
    let broker = Broker::start();
    for topic in ["customers", "accounts"] {
        broker.create_topic(topic, 2).await;
    }
    broker.create_topic("orders", 1).await;
    let mut model = Model::default();
    produce(&broker, "customers", &model.upserts(0..300));
    produce(&broker, "accounts", &model.events(0..300));
    produce(&broker, "orders", &model.orders(0..500));
    for (topic, record) in bad_records(&mut model) {
        produce(&broker, topic, &[record]);
    }

    let data = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(data.path());
    let client = server.connect().await;
    let kafka = |topic: &str| {
        format!(
            "WITH (connector = 'kafka', topic = '{topic}', properties.bootstrap.server = '{}', \
             properties.group.id = 'weir-{topic}')",
            broker.address()
        )
    };
    client
        .batch_execute(&format!(
            "CREATE TABLE customers (id BIGINT PRIMARY KEY, name TEXT, region TEXT NOT NULL)
                 {} FORMAT UPSERT ENCODE JSON;
             CREATE TABLE accounts (id BIGINT, name TEXT, region TEXT, PRIMARY KEY (id))
                 {} FORMAT DEBEZIUM ENCODE JSON;
             CREATE SOURCE orders (id BIGINT NOT NULL, customer BIGINT, amount DOUBLE PRECISION)
                 {} FORMAT PLAIN ENCODE CSV (delimiter = ',');
             CREATE MATERIALIZED VIEW all_orders AS SELECT * FROM orders;
             CREATE MATERIALIZED VIEW region_totals AS
                 SELECT c.region, count(*) AS orders, sum(o.amount) AS total
                 FROM all_orders o JOIN customers c ON o.customer = c.id GROUP BY c.region;
             CREATE MATERIALIZED VIEW accounts_by_region AS
                 SELECT region, count(*) AS accounts, max(name) AS last_name
                 FROM accounts GROUP BY region;",
            kafka("customers"),
            kafka("accounts"),
            kafka("orders")
        ))
        .await
        .unwrap();
    check(&client, &model).await;

    // Every bad record is kept with its reason, once.
    let letters = rows(
        &client,
        "SELECT view_name, error FROM weir_catalog.source_dead_letters ORDER BY view_name, offset",
    )
    .await;
    let letters: Vec<(String, String)> = letters
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert_eq!(letters.len(), 5, "{letters:?}");
    assert!(letters[0].1.contains("unknown Debezium op"), "{letters:?}");
    assert!(letters[1].1.contains("no op"), "{letters:?}");
    assert_eq!(letters[2].0, "all_orders", "{letters:?}");
    assert!(letters[2].1.contains("'abc'"), "{letters:?}");
    assert!(
        letters[3].1.contains("null value in column \"id\""),
        "{letters:?}"
    );
    assert!(letters[4].1.contains("key column \"id\""), "{letters:?}");

    // A Kafka-fed table takes DML too, and its views follow.
    client
        .batch_execute("INSERT INTO customers VALUES (999, 'typed', 'north')")
        .await
        .unwrap();
    model
        .customers
        .insert(999, (999, "typed".to_owned(), "north".to_owned()));
    model.orders.push((1_000_000, 999, 1.0));
    produce(
        &broker,
        "orders",
        &[(0, None, b"id,customer,amount\n1000000,999,1.0".to_vec())],
    );
    *model.sent.get_mut("orders").unwrap() += 1;
    check(&client, &model).await;

    // Records produced while weir is stopped, cleanly or by a crash, arrive once.
    produce(&broker, "customers", &model.upserts(300..450));
    assert!(server.stop());
    produce(&broker, "accounts", &model.events(300..450));
    produce(&broker, "orders", &model.orders(500..800));
    let mut server = TestServer::start_in(data.path());
    let client = server.connect().await;
    check(&client, &model).await;
    produce(&broker, "customers", &model.upserts(450..600));
    produce(&broker, "accounts", &model.events(450..600));
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill();
    produce(&broker, "orders", &model.orders(800..900));
    let server = TestServer::start_in(data.path());
    let client = server.connect().await;
    check(&client, &model).await;

    // The committed offsets also reach the consumer group named in the options.
    let deadline = Instant::now() + Duration::from_secs(30);
    while support::kafka::group_offsets(&broker.address(), "weir-customers", "customers", 2)
        != model.sent["customers"]
    {
        assert!(Instant::now() < deadline, "the group's offsets lag");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(server);
}

#[tokio::test(flavor = "multi_thread")]
async fn format_mistakes_are_refused_at_create() {
    let RefusalSetting {
        broker,
        server: _server,
        client,
        with,
    } = RefusalSetting::start().await;
    let refused = |sql: String, code: &'static str, text: &'static str| {
        support::assert_refused(&client, sql, code, text)
    };
    refused(
        format!("CREATE SOURCE s (id INT) {with} FORMAT UPSERT ENCODE JSON"),
        "0A000",
        "UPSERT",
    )
    .await;
    refused(
        format!("CREATE TABLE t (id INT) {with} FORMAT DEBEZIUM ENCODE JSON"),
        "42P16",
        "primary key",
    )
    .await;
    refused(
        format!("CREATE TABLE t (id INT, PRIMARY KEY (nope)) {with} FORMAT UPSERT ENCODE JSON"),
        "42703",
        "nope",
    )
    .await;
    refused(
        format!("CREATE SOURCE s (id INT) {with} FORMAT PLAIN ENCODE CSV (delimiter = ';;')"),
        "22023",
        "delimiter",
    )
    .await;
    refused(
        format!("CREATE SOURCE s (id INT) {with} FORMAT PLAIN ENCODE CSV (quote = 'x')"),
        "22023",
        "quote",
    )
    .await;
    refused(
        format!("CREATE SOURCE s (id INT) {with} FORMAT PLAIN ENCODE PROTOBUF"),
        "0A000",
        "PROTOBUF",
    )
    .await;
    refused(
        format!("CREATE SOURCE s (id INT PRIMARY KEY) {with} FORMAT PLAIN ENCODE JSON"),
        "0A000",
        "primary key",
    )
    .await;

    // A table keyed by the message key itself: tombstones delete by it.
    client
        .batch_execute(&format!(
            "CREATE TABLE kv (v TEXT) INCLUDE key AS k {with} FORMAT UPSERT ENCODE JSON;"
        ))
        .await
        .unwrap_err();
    client
        .batch_execute(&format!(
            "CREATE TABLE kv (v TEXT, PRIMARY KEY (k)) INCLUDE key AS k {with} FORMAT UPSERT ENCODE JSON;"
        ))
        .await
        .unwrap();
    broker.produce(
        "t",
        &[
            (0, Some(b"a".to_vec()), br#"{"v": "1"}"#.to_vec()),
            (0, Some(b"b".to_vec()), br#"{"v": "2"}"#.to_vec()),
            (0, Some(b"a".to_vec()), br#"{"v": "3"}"#.to_vec()),
            (0, Some(b"b".to_vec()), Vec::new()),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        client.batch_execute("FLUSH").await.unwrap();
        let found = rows(&client, "SELECT encode(k, 'hex'), v FROM kv ORDER BY k").await;
        if found == vec![vec!["61".to_owned(), "3".to_owned()]] {
            break;
        }
        assert!(Instant::now() < deadline, "{found:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
