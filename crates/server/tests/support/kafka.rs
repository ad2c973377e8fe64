//! A real Kafka-protocol broker for end-to-end tests: tansu, installed by
//! `scripts/setup.sh --tests`, on a free port, in memory, stopped when dropped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::free_port;

/// A record to produce: partition, key, value.
pub type Record = (i32, Option<Vec<u8>>, Vec<u8>);

pub struct Broker {
    child: Child,
    pub port: u16,
}

impl Broker {
    pub fn start() -> Broker {
        let tansu = std::env::var("WEIR_TANSU").unwrap_or_else(|_| {
            format!(
                "{}/.cache/weir/tools/bin/tansu",
                std::env::var("HOME").unwrap()
            )
        });
        assert!(
            std::path::Path::new(&tansu).exists(),
            "no Kafka broker at {tansu}: run `bash scripts/setup.sh --tests` first"
        );
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&tansu)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Broker { child, port }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub async fn create_topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", self.address())
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

    /// Sends `records` (partition, key, value) and waits until the broker has them all.
    pub fn produce(&self, topic: &str, records: &[Record]) {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", self.address())
            .set("linger.ms", "5")
            .create()
            .expect("producer");
        for (partition, key, value) in records {
            let mut record = BaseRecord::<Vec<u8>, Vec<u8>>::to(topic)
                .payload(value)
                .partition(*partition);
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
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
