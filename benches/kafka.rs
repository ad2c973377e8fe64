//! The figures of Kafka ingestion, on JSON order records like `weir-produce`'s:
//!
//! * plain arrow-json decoding of the records' bytes, in batches of 8,192 (the floor);
//! * weir's decoder over the same batches (arrow-json plus the per-record checks), and
//!   over the same orders as bare Avro bodies (`ENCODE AVRO` with an inline schema);
//! * raw librdkafka consumption of the records from an in-process broker (librdkafka's
//!   mock cluster), touching each payload;
//! * weir's decode-and-maintain path: a source over that topic feeding a projection view
//!   and a GROUP BY view, from the first record to the last committed, in records/s of
//!   wall time and per CPU-second of the weir process (records/s/core); each view has its
//!   own reader, so every record is read and decoded twice;
//! * end-to-end freshness: records produced one at a time at a steady rate, each
//!   carrying its send time; a client polls a view of the highest id and notes when each
//!   id becomes visible. p50/p99 of produce → visible, at weir's default barrier interval
//!   and at 100 ms.
//!
//! Usage: `bench-kafka WEIR_BINARY [RECORDS]` (default 1,000,000).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arrow_avro::schema::SCHEMA_METADATA_KEY;
use arrow_avro::writer::format::AvroBinaryFormat;
use arrow_json::ReaderBuilder;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use process::cpu_time;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use support::{connect, free_port, start_weir};
use weir_connectors::{AvroSchemaSource, Decoder, Encode, Records, SourceFormat};

mod process;
mod support;

const BATCH: usize = 8192;
/// The in-process broker keeps only about 5 MiB per partition (its retention drops older
/// records), so the records are spread over enough partitions to keep them all.
const PARTITIONS: i32 = 32;
const FRESHNESS_RATE: u64 = 1000;
const FRESHNESS_SECONDS: u64 = 15;

fn order(id: u64) -> Vec<u8> {
    format!(
        r#"{{"id": {id}, "customer": "c{}", "amount": {}.{:02}, "channel": "web", "items": {}}}"#,
        id % 1000,
        (id * 7919) % 500,
        id % 100,
        id % 5 + 1
    )
    .into_bytes()
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("customer", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
        Field::new("channel", DataType::Utf8, true),
        Field::new("items", DataType::Int32, true),
    ]))
}

fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

/// Plain arrow-json over `values` in batches; records/s.
fn arrow_json_rate(values: &[Vec<u8>]) -> f64 {
    let schema = schema();
    let started = Instant::now();
    let mut rows = 0;
    for batch in values.chunks(BATCH) {
        let mut decoder = ReaderBuilder::new(schema.clone())
            .with_batch_size(BATCH)
            .build_decoder()
            .unwrap();
        for value in batch {
            decoder.decode(value).unwrap();
        }
        rows += decoder.flush().unwrap().map_or(0, |batch| batch.num_rows());
    }
    assert_eq!(rows, values.len());
    rate(rows, started.elapsed())
}

/// The orders `values` as bare Avro bodies (encoded by arrow-avro from the decoded
/// JSON), with their Avro schema.
fn avro_orders(values: &[Vec<u8>]) -> (Vec<Vec<u8>>, String) {
    let mut encoder = arrow_avro::writer::WriterBuilder::new(schema().as_ref().clone())
        .build_encoder::<AvroBinaryFormat>()
        .unwrap();
    let mut bodies = Vec::with_capacity(values.len());
    for chunk in values.chunks(BATCH) {
        let mut decoder = ReaderBuilder::new(schema())
            .with_batch_size(BATCH)
            .build_decoder()
            .unwrap();
        for value in chunk {
            decoder.decode(value).unwrap();
        }
        encoder.encode(&decoder.flush().unwrap().unwrap()).unwrap();
        bodies.extend(encoder.flush().iter().map(|row| row.to_vec()));
    }
    let definition = encoder.schema().metadata()[SCHEMA_METADATA_KEY].clone();
    (bodies, definition)
}

/// weir's decoder of `format` over `values` in batches (the records copied in first,
/// untimed).
fn weir_decoder_rate(format: &SourceFormat, values: &[Vec<u8>]) -> f64 {
    let decoder = Decoder::new(format, schema(), 1 << 20);
    let batches: Vec<Records> = values
        .chunks(BATCH)
        .enumerate()
        .map(|(number, chunk)| {
            let mut records = Records::default();
            for (index, value) in chunk.iter().enumerate() {
                let offset = (number * BATCH + index) as i64;
                records.push(0, offset, None, None, Some(value));
            }
            records
        })
        .collect();
    let started = Instant::now();
    let mut rows = 0;
    for records in &batches {
        let decoded = decoder.decode(records);
        assert!(decoded.rejected.is_empty());
        rows += decoded.rows.num_rows();
    }
    assert_eq!(rows, values.len());
    rate(rows, started.elapsed())
}

fn producer(bootstrap: &str, linger_ms: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", linger_ms)
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .unwrap()
}

fn produce_all(bootstrap: &str, topic: &str, values: &[Vec<u8>]) {
    let producer = producer(bootstrap, "20");
    for (id, value) in values.iter().enumerate() {
        let mut record = BaseRecord::<(), Vec<u8>>::to(topic)
            .payload(value)
            .partition(id as i32 % PARTITIONS);
        while let Err((_, back)) = producer.send(record) {
            producer.poll(Duration::from_millis(5));
            record = back;
        }
    }
    producer.flush(Duration::from_secs(120)).unwrap();
    let held: i64 = (0..PARTITIONS)
        .map(|partition| {
            let (low, high) = producer
                .client()
                .fetch_watermarks(topic, partition, Duration::from_secs(10))
                .unwrap();
            high - low
        })
        .sum();
    assert_eq!(held, values.len() as i64, "the broker holds every record");
}

/// Raw librdkafka consumption of `count` records of `topic`; records/s.
fn librdkafka_rate(bootstrap: &str, topic: &str, count: usize) -> f64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        list.add_partition_offset(topic, partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&list).unwrap();
    let started = Instant::now();
    let (mut read, mut bytes) = (0, 0);
    while read < count {
        if let Some(Ok(message)) = consumer.poll(Duration::from_secs(5)) {
            bytes += message.payload().map_or(0, <[u8]>::len);
            read += 1;
        }
    }
    let elapsed = started.elapsed();
    assert!(bytes > 0);
    rate(read, elapsed)
}

async fn scalar(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

fn micros_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Produce → visible latencies (ms), sorted, at `FRESHNESS_RATE` records/s.
async fn freshness(weir: &Path, bootstrap: &str, barrier_ms: &str) -> Vec<f64> {
    let topic = format!("fresh_{barrier_ms}");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = start_weir(
        weir,
        dir.path(),
        port,
        &["--barrier-interval-ms", barrier_ms],
    );
    let client = connect(port, "weir", "weir").await;
    produce_one(bootstrap, &topic, 0, 0);
    client
        .batch_execute(&format!(
            "CREATE SOURCE fresh (id BIGINT, sent_us BIGINT) WITH (connector = 'kafka', \
             topic = '{topic}', properties.bootstrap.server = '{bootstrap}') FORMAT PLAIN ENCODE JSON;
             CREATE MATERIALIZED VIEW newest AS SELECT max(id) AS id FROM fresh;"
        ))
        .await
        .unwrap();
    let total = FRESHNESS_RATE * FRESHNESS_SECONDS;
    let sent: Arc<Vec<std::sync::atomic::AtomicI64>> = Arc::new(
        (0..=total)
            .map(|_| std::sync::atomic::AtomicI64::new(0))
            .collect(),
    );
    let producing = {
        let (sent, bootstrap, topic) = (sent.clone(), bootstrap.to_owned(), topic.clone());
        std::thread::spawn(move || {
            let producer = producer(&bootstrap, "0");
            let started = Instant::now();
            for id in 1..=total {
                let due = started + Duration::from_micros(id * 1_000_000 / FRESHNESS_RATE);
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                let now = micros_now();
                sent[id as usize].store(now, std::sync::atomic::Ordering::Release);
                let value = format!(r#"{{"id": {id}, "sent_us": {now}}}"#);
                let mut record = BaseRecord::<(), String>::to(&topic)
                    .payload(&value)
                    .partition(0);
                while let Err((_, back)) = producer.send(record) {
                    producer.poll(Duration::from_millis(1));
                    record = back;
                }
                producer.poll(Duration::ZERO);
            }
            producer.flush(Duration::from_secs(30)).unwrap();
        })
    };
    let mut latencies = Vec::with_capacity(total as usize);
    let mut seen = 0i64;
    let deadline = Instant::now() + Duration::from_secs(FRESHNESS_SECONDS + 60);
    while seen < total as i64 && Instant::now() < deadline {
        let newest = scalar(&client, "SELECT coalesce(max(id), 0) FROM newest").await;
        let now = micros_now();
        for id in seen + 1..=newest {
            let at = sent[id as usize].load(std::sync::atomic::Ordering::Acquire);
            latencies.push((now - at) as f64 / 1000.0);
        }
        seen = seen.max(newest);
    }
    producing.join().unwrap();
    assert_eq!(seen, total as i64, "every record became visible");
    latencies.sort_by(f64::total_cmp);
    latencies
}

fn produce_one(bootstrap: &str, topic: &str, id: u64, sent_us: i64) {
    let producer = producer(bootstrap, "0");
    let value = format!(r#"{{"id": {id}, "sent_us": {sent_us}}}"#);
    producer
        .send(
            BaseRecord::<(), String>::to(topic)
                .payload(&value)
                .partition(0),
        )
        .unwrap();
    producer.flush(Duration::from_secs(10)).unwrap();
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let weir = PathBuf::from(
        args.next()
            .expect("usage: bench-kafka WEIR_BINARY [RECORDS]"),
    );
    let count: usize = args.next().map_or(1_000_000, |n| n.parse().unwrap());
    let values: Vec<Vec<u8>> = (0..count as u64).map(order).collect();
    let bytes: usize = values.iter().map(Vec::len).sum();
    println!(
        "{count} JSON records, {:.0} bytes each on average",
        bytes as f64 / count as f64
    );

    // The best of three runs each, so that neither pays for warming the caches.
    let best = |run: &dyn Fn() -> f64| (0..3).map(|_| run()).fold(0.0, f64::max);
    let plain = best(&|| arrow_json_rate(&values));
    let ours = best(&|| weir_decoder_rate(&SourceFormat::Plain(Encode::Json), &values));
    println!("plain arrow-json decoding:   {plain:>12.0} records/s");
    println!(
        "weir's decoder:              {ours:>12.0} records/s ({:.2}x of arrow-json)",
        ours / plain
    );
    let (bodies, definition) = avro_orders(&values);
    let avro = SourceFormat::Plain(Encode::Avro(AvroSchemaSource::Definition(definition)));
    let ours_avro = best(&|| weir_decoder_rate(&avro, &bodies));
    println!(
        "weir's decoder, Avro:        {ours_avro:>12.0} records/s ({:.0} bytes each, {:.2}x of weir's JSON)",
        bodies.iter().map(Vec::len).sum::<usize>() as f64 / count as f64,
        ours_avro / ours
    );

    let cluster = MockCluster::new(1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    cluster.create_topic("orders", PARTITIONS, 1).unwrap();
    let started = Instant::now();
    produce_all(&bootstrap, "orders", &values);
    println!(
        "produced to the in-process broker in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let raw = librdkafka_rate(&bootstrap, "orders", count);
    println!("raw librdkafka consumption:  {raw:>12.0} records/s");

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = start_weir(&weir, dir.path(), port, &[]);
    let pid = server.0.id();
    let client = connect(port, "weir", "weir").await;
    client
        .batch_execute(&format!(
            "CREATE SOURCE orders (id BIGINT NOT NULL, customer VARCHAR, amount DOUBLE PRECISION, \
             channel VARCHAR, items INT) WITH (connector = 'kafka', topic = 'orders', \
             properties.bootstrap.server = '{bootstrap}') FORMAT PLAIN ENCODE JSON"
        ))
        .await
        .unwrap();
    let cpu_before = cpu_time(pid);
    let started = Instant::now();
    client
        .batch_execute(
            "CREATE MATERIALIZED VIEW big_orders AS SELECT id, customer, amount FROM orders WHERE items > 1;
             CREATE MATERIALIZED VIEW by_customer AS
                 SELECT customer, count(*) AS orders, sum(amount) AS total FROM orders GROUP BY customer;",
        )
        .await
        .unwrap();
    let committed = "SELECT coalesce(sum(committed_offset), 0) FROM weir_catalog.source_partitions \
                     WHERE partition >= 0";
    while scalar(&client, committed).await < 2 * count as i64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    let cpu = cpu_time(pid) - cpu_before;
    assert_eq!(
        scalar(&client, "SELECT sum(orders)::bigint FROM by_customer").await,
        count as i64
    );
    let wall = rate(count, elapsed);
    let per_core = count as f64 / cpu.as_secs_f64();
    println!(
        "weir decode-and-maintain:    {wall:>12.0} records/s wall, {per_core:.0} records per CPU-second \
         ({:.1} s, {:.1} s CPU, two views)",
        elapsed.as_secs_f64(),
        cpu.as_secs_f64()
    );
    println!(
        "ratios: weir / raw librdkafka {:.2}, weir / arrow-json {:.2} (per CPU-second)",
        per_core / raw,
        per_core / plain
    );
    drop(server);

    for barrier_ms in ["1000", "100"] {
        let latencies = freshness(&weir, &bootstrap, barrier_ms).await;
        println!(
            "freshness at {FRESHNESS_RATE} records/s, barrier every {barrier_ms} ms: \
             p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} records)",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            latencies[latencies.len() - 1],
            latencies.len()
        );
    }
}
