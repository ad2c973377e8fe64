//! A real Kafka broker for end-to-end tests: noida-db (a prebuilt binary installed by
//! `scripts/setup.sh --tests`), on a free port, with its data in a temporary directory,
//! stopped when dropped.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message as _;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::{TestServer, free_port};

/// A record to produce: partition, key, value (an empty value is sent as none at all: a
/// tombstone).
pub type Record = (i32, Option<Vec<u8>>, Vec<u8>);

pub struct Broker {
    child: Child,
    pub port: u16,
    _data: tempfile::TempDir,
}

impl Broker {
    pub fn start() -> Broker {
        let noida = std::env::var("WEIR_NOIDA_DB").unwrap_or_else(|_| {
            format!(
                "{}/.cache/weir/tools/noida-db/noida_db/noida-db",
                std::env::var("HOME").unwrap()
            )
        });
        assert!(
            std::path::Path::new(&noida).exists(),
            "no Kafka broker at {noida}: run `bash scripts/setup.sh --tests` first"
        );
        let data = tempfile::tempdir().expect("temporary directory");
        let port = free_port();
        let child = Command::new(&noida)
            .args(["start", "--only", "kafka", "--host", "127.0.0.1"])
            .args(["--kafka-port", &port.to_string()])
            .arg("--data-dir")
            .arg(data.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("noida-db starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "noida-db did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Broker {
            child,
            port,
            _data: data,
        }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub async fn create_topic(&self, name: &str, partitions: i32) {
        create_topic(&self.address(), name, partitions).await;
    }

    /// Sends `records` (partition, key, value) and waits until the broker has them all.
    pub fn produce(&self, topic: &str, records: &[Record]) {
        produce(&self.address(), topic, records);
    }
}

/// The setting of the tests of CREATE refusals: a broker with the one-partition topic
/// `t`, a weir server, a client of it, and the `WITH (…)` clause that names the topic.
pub struct RefusalSetting {
    pub broker: Broker,
    pub server: TestServer,
    pub client: tokio_postgres::Client,
    pub with: String,
}

impl RefusalSetting {
    pub async fn start() -> RefusalSetting {
        let broker = Broker::start();
        broker.create_topic("t", 1).await;
        let server = TestServer::start();
        let client = server.connect().await;
        let with = format!(
            "WITH (connector = 'kafka', topic = 't', properties.bootstrap.server = '{}')",
            broker.address()
        );
        RefusalSetting {
            broker,
            server,
            client,
            with,
        }
    }
}

pub async fn create_topic(address: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", address)
        .create()
        .expect("admin client");
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let results = admin
        .create_topics([&topic], &AdminOptions::new())
        .await
        .expect("create topics");
    for result in results {
        result.expect("topic created");
    }
}

/// Sends `records` (partition, key, value) to the broker at `address` and waits until it
/// has them all.
pub fn produce(address: &str, topic: &str, records: &[Record]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", address)
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    for (partition, key, value) in records {
        let mut record = BaseRecord::<Vec<u8>, Vec<u8>>::to(topic).partition(*partition);
        if !value.is_empty() {
            record = record.payload(value);
        }
        if let Some(key) = key {
            record = record.key(key);
        }
        while let Err((error, back)) = producer.send(record) {
            assert!(
                matches!(
                    error,
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull
                    )
                ),
                "produce failed: {error}"
            );
            producer.poll(Duration::from_millis(10));
            record = back;
        }
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("records delivered");
}

/// A message read back.
pub struct Message {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    /// `None` for a tombstone.
    pub value: Option<Vec<u8>>,
}

/// Every message of `topic` a `read_committed` consumer sees now, by partition, in
/// offset order.
pub fn read_committed(address: &str, topic: &str) -> Vec<Message> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", address)
        .set("group.id", "weir-tests")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()
        .expect("consumer");
    let partitions = topic_partitions(&consumer, topic);
    let mut assignment = TopicPartitionList::new();
    for partition in &partitions {
        assignment
            .add_partition_offset(topic, *partition, Offset::Beginning)
            .expect("assignment");
    }
    consumer.assign(&assignment).expect("assign");
    let mut at_end = std::collections::HashSet::new();
    let mut messages = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while at_end.len() < partitions.len() {
        assert!(Instant::now() < deadline, "{topic} not read to its end");
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => messages.push(Message {
                partition: message.partition(),
                offset: message.offset(),
                key: message.key().map(<[u8]>::to_vec),
                value: message.payload().map(<[u8]>::to_vec),
            }),
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                at_end.insert(partition);
            }
            Some(Err(error)) => panic!("reading {topic}: {error}"),
            None => {}
        }
    }
    messages.sort_by_key(|message| message.partition);
    messages
}

/// The partitions of `topic`.
fn topic_partitions(consumer: &BaseConsumer, topic: &str) -> Vec<i32> {
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("topic metadata");
    metadata.topics()[0]
        .partitions()
        .iter()
        .map(|partition| partition.id())
        .collect()
}

/// The end offset (high watermark) of each partition of `topic`, once it has stayed
/// the same for half a second: what a producer that just died had sent has arrived.
pub fn settled_end_offsets(address: &str, topic: &str) -> BTreeMap<i32, i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", address)
        .create()
        .expect("consumer");
    let partitions = topic_partitions(&consumer, topic);
    let end_offsets = || -> BTreeMap<i32, i64> {
        partitions
            .iter()
            .map(|&partition| {
                let (_, high) = consumer
                    .fetch_watermarks(topic, partition, Duration::from_secs(10))
                    .expect("watermarks");
                (partition, high)
            })
            .collect()
    };
    let mut seen = end_offsets();
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = end_offsets();
        if now == seen {
            return now;
        }
        seen = now;
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sum over `topic`'s `partitions` of the offsets committed to consumer group `group`.
pub fn group_offsets(address: &str, group: &str, topic: &str, partitions: i32) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", address)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut list = TopicPartitionList::new();
    for partition in 0..partitions {
        list.add_partition(topic, partition);
    }
    let committed = consumer
        .committed_offsets(list, Duration::from_secs(10))
        .expect("committed offsets");
    committed
        .elements()
        .iter()
        .filter_map(|element| match element.offset() {
            Offset::Offset(offset) => Some(offset),
            _ => None,
        })
        .sum()
}
