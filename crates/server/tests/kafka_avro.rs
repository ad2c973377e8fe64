//! `FORMAT PLAIN ENCODE AVRO` end to end against a real broker (noida-db), a schema
//! registry speaking the registry's REST API over HTTP, and the real weir binary.
//!
//! A source declared without columns takes them from the subject's latest schema; records
//! written with two versions of it (a field dropped, one added) feed the same columns.
//! Its rows and a GROUP BY view over them must equal the batch answer over a plain table
//! loaded with the same orders; a source with an inline schema reads bare Avro bodies.
//! Bad records of every kind are dead letters; a registry outage holds records back
//! (nothing dead-lettered) until it returns; a restart loses and doubles nothing.

mod support;

use std::time::{Duration, Instant};

use support::avro::{array, double, framed, long, string};
use support::kafka::{Broker, Record, RefusalSetting};
use support::schema_registry::SchemaRegistry;
use support::{TestServer, text_rows as rows};

const ORDER_V1: &str = r#"{"type": "record", "name": "Order", "namespace": "shop", "fields": [
    {"name": "id", "type": "long"},
    {"name": "customer", "type": "string"},
    {"name": "amount", "type": "double"},
    {"name": "note", "type": ["null", "string"], "default": null},
    {"name": "placedAt", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID", "SHIPPED"]}},
    {"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item",
        "fields": [{"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}]}}}
]}"#;

/// Version 2: `note` dropped, `channel` added.
const ORDER_V2: &str = r#"{"type": "record", "name": "Order", "namespace": "shop", "fields": [
    {"name": "id", "type": "long"},
    {"name": "customer", "type": "string"},
    {"name": "amount", "type": "double"},
    {"name": "channel", "type": "string", "default": "web"},
    {"name": "placedAt", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID", "SHIPPED"]}},
    {"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item",
        "fields": [{"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}]}}}
]}"#;

const PAYMENT: &str = r#"{"type": "record", "name": "Payment", "fields": [
    {"name": "order_id", "type": "long"}, {"name": "cents", "type": "int"}]}"#;

const STATUSES: [&str; 3] = ["NEW", "PAID", "SHIPPED"];

/// An order as produced; `note` only in version 1.
struct Order {
    id: i64,
    customer: String,
    amount: f64,
    note: Option<String>,
    placed_at_millis: i64,
    status: usize,
    items: Vec<(String, i32)>,
}

impl Order {
    fn new(id: i64, version: u8) -> Order {
        Order {
            id,
            customer: format!("c{}", id % 7),
            amount: (id % 13) as f64 * 1.5,
            note: (version == 1 && id % 3 == 0).then(|| format!("note {id}")),
            placed_at_millis: 1_700_000_000_000 + id * 60_000,
            status: (id % 3) as usize,
            items: (0..id % 3)
                .map(|n| (format!("sku{n}"), (id % 5 + n) as i32))
                .collect(),
        }
    }

    /// The Avro body in the schema of `version`.
    fn body(&self, version: u8) -> Vec<u8> {
        let mut out = Vec::new();
        long(&mut out, self.id);
        string(&mut out, &self.customer);
        double(&mut out, self.amount);
        match version {
            1 => match &self.note {
                None => long(&mut out, 0),
                Some(note) => {
                    long(&mut out, 1);
                    string(&mut out, note);
                }
            },
            _ => string(&mut out, "app"),
        }
        long(&mut out, self.placed_at_millis);
        long(&mut out, self.status as i64);
        array(&mut out, &self.items, |out, (sku, qty)| {
            string(out, sku);
            long(out, i64::from(*qty));
        });
        out
    }

    /// The order as a SQL row of the batch table.
    fn values(&self) -> String {
        let items: Vec<String> = self
            .items
            .iter()
            .map(|(sku, qty)| format!(r#"{{"sku": "{sku}", "qty": {qty}}}"#))
            .collect();
        format!(
            "({}, '{}', {}, {}, to_timestamp_millis({}), '{}', '[{}]')",
            self.id,
            self.customer,
            self.amount,
            self.note
                .as_ref()
                .map_or("NULL".to_owned(), |note| format!("'{note}'")),
            self.placed_at_millis,
            STATUSES[self.status],
            items.join(", ")
        )
    }
}

/// What was produced, to compare with.
#[derive(Default)]
struct Model {
    orders: Vec<Order>,
    /// Records sent to the orders topic, bad ones included.
    order_records: i64,
    payments: Vec<(i64, i32)>,
}

impl Model {
    fn orders(&mut self, ids: std::ops::Range<i64>, version: u8, schema_id: u32) -> Vec<Record> {
        let records: Vec<Record> = ids
            .map(|id| {
                let order = Order::new(id, version);
                let value = framed(schema_id, &order.body(version));
                self.orders.push(order);
                ((id % 2) as i32, None, value)
            })
            .collect();
        self.order_records += records.len() as i64;
        records
    }

    fn payments(&mut self, ids: std::ops::Range<i64>) -> Vec<Record> {
        ids.map(|id| {
            let cents = (id * 37 % 1000) as i32;
            self.payments.push((id, cents));
            let mut body = Vec::new();
            long(&mut body, id);
            long(&mut body, i64::from(cents));
            (0, None, body)
        })
        .collect()
    }
}

/// Records that must become dead letters, with a piece of each one's reason.
fn bad_orders(model: &mut Model, v1: u32) -> Vec<(Record, &'static str)> {
    let good = Order::new(1, 1).body(1);
    let mut trailing = framed(v1, &good);
    trailing.push(7);
    let bad = vec![
        ((0, None, vec![1, 0, 0, 0, 1, 2]), "wire format"),
        ((0, None, framed(999, &good)), "schema id 999"),
        (
            (0, None, framed(v1, &good[..good.len() - 3])),
            "ends inside",
        ),
        ((0, None, trailing), "exactly one Avro record"),
    ];
    model.order_records += bad.len() as i64;
    bad
}

/// Waits until `view`'s reader has committed `sent` records.
async fn converge(client: &tokio_postgres::Client, view: &str, sent: i64) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let sql = format!(
        "SELECT coalesce(sum(committed_offset), 0)::bigint FROM weir_catalog.source_partitions \
         WHERE view_name = '{view}' AND partition >= 0"
    );
    loop {
        client.batch_execute("FLUSH").await.unwrap();
        let found = rows(client, &sql).await[0][0].clone();
        if found == sent.to_string() {
            return;
        }
        assert!(Instant::now() < deadline, "{view}: {found} of {sent}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

const BY_CUSTOMER: &str = "SELECT customer, status, count(*) AS orders, sum(amount) AS total, \
     count(note) AS notes, max(\"placedAt\") AS last_at, max(items->0->>'sku') AS first_sku";

/// The views equal the batch answer over a plain table of the orders produced.
async fn check(client: &tokio_postgres::Client, model: &Model) {
    // Each view reads the topic itself: wait for both readers.
    converge(client, "all_orders", model.order_records).await;
    converge(client, "by_customer", model.order_records).await;
    converge(client, "paid", model.payments.len() as i64).await;
    let values: Vec<String> = model.orders.iter().map(Order::values).collect();
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS orders_batch;
             CREATE TABLE orders_batch (id BIGINT, customer TEXT, amount DOUBLE PRECISION,
                 note TEXT, \"placedAt\" TIMESTAMPTZ, status TEXT, items JSONB);
             INSERT INTO orders_batch VALUES {};",
            values.join(", ")
        ))
        .await
        .unwrap();
    let columns = "id, customer, amount, note, \"placedAt\", status, items";
    let streaming = rows(
        client,
        &format!("SELECT {columns} FROM all_orders ORDER BY id, status"),
    )
    .await;
    let batch = rows(
        client,
        &format!("SELECT {columns} FROM orders_batch ORDER BY id, status"),
    )
    .await;
    assert_eq!(streaming.len(), model.orders.len());
    assert_eq!(streaming, batch);
    let order = "ORDER BY customer, status";
    let streaming = rows(client, &format!("SELECT * FROM by_customer {order}")).await;
    let batch = rows(
        client,
        &format!("{BY_CUSTOMER} FROM orders_batch GROUP BY customer, status {order}"),
    )
    .await;
    assert_eq!(streaming, batch);
    let paid = rows(client, "SELECT count(*), sum(cents) FROM paid").await;
    let expected = vec![
        model.payments.len().to_string(),
        model
            .payments
            .iter()
            .map(|p| i64::from(p.1))
            .sum::<i64>()
            .to_string(),
    ];
    assert_eq!(paid, vec![expected]);
}

#[tokio::test(flavor = "multi_thread")]
async fn avro_records_feed_views_through_schema_versions_outages_and_restarts() {
    let broker = Broker::start();
    broker.create_topic("orders", 2).await;
    broker.create_topic("payments", 1).await;
    let mut registry = SchemaRegistry::start();
    let v1 = registry.register("orders-value", ORDER_V1);
    let mut model = Model::default();
    broker.produce("orders", &model.orders(0..200, 1, v1));
    broker.produce("payments", &model.payments(0..100));

    let data = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(data.path());
    let client = server.connect().await;
    let kafka = |topic: &str| {
        format!(
            "WITH (connector = 'kafka', topic = '{topic}', properties.bootstrap.server = '{}')",
            broker.address()
        )
    };
    client
        .batch_execute(&format!(
            "CREATE SOURCE orders {} FORMAT PLAIN ENCODE AVRO (schema.registry = '{}');
             CREATE SOURCE payments {} FORMAT PLAIN ENCODE AVRO (schema.definition = '{}');
             CREATE MATERIALIZED VIEW all_orders AS SELECT * FROM orders;
             CREATE MATERIALIZED VIEW by_customer AS {BY_CUSTOMER} FROM orders
                 GROUP BY customer, status;
             CREATE MATERIALIZED VIEW paid AS SELECT * FROM payments;",
            kafka("orders"),
            registry.url(),
            kafka("payments"),
            PAYMENT
        ))
        .await
        .unwrap();
    // The columns come from the subject's latest schema, names as written there.
    let columns = rows(
        &client,
        "SELECT column_name, data_type FROM information_schema.columns \
         WHERE table_name = 'orders' ORDER BY ordinal_position",
    )
    .await;
    let names: Vec<&str> = columns.iter().map(|c| c[0].as_str()).collect();
    assert_eq!(
        names,
        [
            "id", "customer", "amount", "note", "placedAt", "status", "items"
        ],
        "{columns:?}"
    );
    check(&client, &model).await;

    // A second version of the schema: its records fill the same columns.
    let v2 = registry.register("orders-value", ORDER_V2);
    broker.produce("orders", &model.orders(200..300, 2, v2));
    let bad = bad_orders(&mut model, v1);
    for (record, _) in &bad {
        broker.produce("orders", std::slice::from_ref(record));
    }
    check(&client, &model).await;
    let letters = rows(
        &client,
        "SELECT error FROM weir_catalog.source_dead_letters WHERE view_name = 'all_orders' \
         ORDER BY partition, offset",
    )
    .await;
    assert_eq!(letters.len(), bad.len(), "{letters:?}");
    for ((_, reason), letter) in bad.iter().zip(&letters) {
        assert!(letter[0].contains(reason), "{reason}: {letters:?}");
    }

    // While the registry is away, records with a schema weir has not fetched wait; none
    // is dead-lettered, and they arrive once it is back.
    registry.pause();
    let v3 = registry.register("orders-value", &ORDER_V2.replace("\"web\"", "\"shop\""));
    broker.produce("orders", &model.orders(300..350, 2, v3));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let errors = rows(
            &client,
            "SELECT last_error FROM weir_catalog.source_partitions \
             WHERE view_name = 'all_orders' AND last_error LIKE '%schema registry%'",
        )
        .await;
        if !errors.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "no registry error shown");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let count = rows(&client, "SELECT count(*) FROM all_orders").await;
    assert_eq!(count[0][0], "300");
    registry.resume();
    check(&client, &model).await;

    // Records produced while weir is stopped, cleanly or by a crash, arrive once.
    assert!(server.stop());
    broker.produce("orders", &model.orders(350..450, 1, v1));
    broker.produce("payments", &model.payments(100..150));
    let mut server = TestServer::start_in(data.path());
    let client = server.connect().await;
    check(&client, &model).await;
    broker.produce("orders", &model.orders(450..500, 2, v2));
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill();
    broker.produce("payments", &model.payments(150..200));
    let server = TestServer::start_in(data.path());
    let client = server.connect().await;
    check(&client, &model).await;
    // Each reader (one per view) set the bad records aside once, restarts included.
    let letters = rows(
        &client,
        "SELECT view_name, count(*) FROM weir_catalog.source_dead_letters \
         GROUP BY view_name ORDER BY view_name",
    )
    .await;
    let once = bad.len().to_string();
    assert_eq!(
        letters,
        [
            ["all_orders", once.as_str()],
            ["by_customer", once.as_str()]
        ]
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread")]
async fn avro_mistakes_are_refused_at_create() {
    let RefusalSetting {
        broker: _broker,
        server,
        client,
        with,
    } = RefusalSetting::start().await;
    let registry = SchemaRegistry::start();
    let refused = |sql: String, code: &'static str, text: &'static str| {
        support::assert_refused(&client, sql, code, text)
    };
    let url = registry.url();
    refused(
        format!("CREATE SOURCE s {with} FORMAT PLAIN ENCODE AVRO (schema.registry = '{url}')"),
        "42704",
        "subject \"t-value\"",
    )
    .await;
    refused(
        format!("CREATE SOURCE s {with} FORMAT PLAIN ENCODE AVRO"),
        "22023",
        "either schema.registry",
    )
    .await;
    refused(
        format!(
            "CREATE SOURCE s {with} FORMAT PLAIN ENCODE AVRO (schema.definition = '\"string\"')"
        ),
        "22023",
        "must be a record",
    )
    .await;
    refused(
        format!(
            "CREATE SOURCE s {with} FORMAT PLAIN ENCODE AVRO (schema.definition = \
             '{{\"type\": \"record\", \"name\": \"E\", \"fields\": []}}')"
        ),
        "22023",
        "no fields",
    )
    .await;
    refused(
        format!(
            "CREATE SOURCE s {with} FORMAT PLAIN ENCODE AVRO (schema.registry = 'localhost:1')"
        ),
        "22023",
        "http://",
    )
    .await;
    refused(
        format!("CREATE SOURCE s {with} FORMAT PLAIN ENCODE JSON"),
        "42601",
        "columns declared",
    )
    .await;
    let closed = format!("http://127.0.0.1:{}", support::free_port());
    refused(
        format!("CREATE SOURCE s {with} FORMAT PLAIN ENCODE AVRO (schema.registry = '{closed}')"),
        "58030",
        "could not be asked",
    )
    .await;
    // Declared columns are checked against the schema: each names a field, of a type
    // the field's values cast to.
    refused(
        format!(
            "CREATE SOURCE s (orderid BIGINT) {with} FORMAT PLAIN ENCODE AVRO (schema.definition = '{PAYMENT}')"
        ),
        "42703",
        "names no field",
    )
    .await;
    let tagged = r#"{"type": "record", "name": "Tagged", "fields": [
        {"name": "tags", "type": {"type": "array", "items": "string"}}]}"#;
    refused(
        format!(
            "CREATE SOURCE s (tags BIGINT) {with} FORMAT PLAIN ENCODE AVRO (schema.definition = '{tagged}')"
        ),
        "42804",
        "read as jsonb",
    )
    .await;
    client
        .batch_execute(&format!(
            "CREATE SOURCE cast_columns (order_id TEXT, cents BIGINT) {with} \
             FORMAT PLAIN ENCODE AVRO (schema.definition = '{PAYMENT}')"
        ))
        .await
        .unwrap();
    // A registry that never answers holds up its own CREATE (for the request's 5 s),
    // not another session's DDL.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let waiting = {
        let other = server.connect().await;
        let sql = format!(
            "CREATE SOURCE slow {with} FORMAT PLAIN ENCODE AVRO (schema.registry = 'http://{}')",
            silent.local_addr().unwrap()
        );
        tokio::spawn(async move { other.batch_execute(&sql).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    client
        .batch_execute("CREATE TABLE meanwhile (a INT)")
        .await
        .unwrap();
    assert!(
        !waiting.is_finished(),
        "the CREATE that asks a silent registry ended before another session's CREATE TABLE"
    );
    let error = waiting.await.unwrap().unwrap_err();
    assert_eq!(error.as_db_error().unwrap().code().code(), "58030");
    refused(
        format!("CREATE SOURCE s {with} FORMAT UPSERT ENCODE AVRO (schema.registry = '{url}')"),
        "0A000",
        "ENCODE AVRO",
    )
    .await;
    // A Kafka-fed table takes its columns from the schema too, its key naming one.
    client
        .batch_execute(&format!(
            "CREATE TABLE pays (PRIMARY KEY (order_id)) {with} \
             FORMAT PLAIN ENCODE AVRO (schema.definition = '{PAYMENT}')"
        ))
        .await
        .unwrap();
    let columns = rows(
        &client,
        "SELECT column_name, is_nullable FROM information_schema.columns \
         WHERE table_name = 'pays' ORDER BY ordinal_position",
    )
    .await;
    assert_eq!(columns, [["order_id", "NO"], ["cents", "YES"]]);
    // Declared columns need no registry at CREATE: they pick the fields they name.
    client
        .batch_execute(&format!(
            "CREATE SOURCE picked (order_id BIGINT) {with} \
             FORMAT PLAIN ENCODE AVRO (schema.registry = '{closed}')"
        ))
        .await
        .unwrap();
}
