//! A thread that delivers a sink's outbox to its Kafka topic.
//!
//! **Exactly once** (the default): the writer's producer is transactional, with an id
//! that belongs to the sink and survives restarts. Each delivery is one transaction
//! holding the messages of one or more outbox entries and a progress record — the
//! sink's id and the last entry's number — on the progress topic. Starting (or starting
//! over after any error), the writer initializes its transactions, which aborts whatever
//! an earlier incarnation left open and fences it off, then reads the progress topic with
//! `read_committed` to learn the last delivered entry, and continues after it. A
//! `read_committed` consumer of the sink's topic therefore sees each entry's messages
//! exactly once, in order, whenever weir stops.
//!
//! **At least once**: an idempotent producer sends the entries and the writer records the
//! delivery in weir's store once the broker acknowledged every message; a crash in
//! between sends those entries again.
//!
//! Errors (an unreachable broker, a failed transaction) are shown in the sink's status
//! and retried with backoff; delivered entries are deleted from the outbox.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use weir_common::now_micros;

use crate::backoff::{FIRST_BACKOFF, back_off};
use crate::kafka_reader::{consumer, partitions};
use crate::outbox::{Outbox, OutboxEntry};
use crate::sink_options::{Delivery, SinkOptions};

/// The outbox entries one delivery takes, at most about this many bytes.
const DELIVERY_BYTES: usize = 16 << 20;
/// How long the writer waits for entries before looking again.
const IDLE_WAIT: Duration = Duration::from_millis(500);
/// Transaction and flush calls give up after this long.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Creating the progress topic gives up after this long.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Reading the progress topic gives up after this long.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(120);

/// The environment variable that names a failpoint: a point where the process aborts,
/// for tests of the crashes exactly-once delivery exists to survive, at moments a kill
/// from outside cannot be timed to hit.
const FAILPOINT_VARIABLE: &str = "WEIR_FAILPOINT";
/// Right after a Kafka transaction committed, before weir recorded the delivery.
const CRASH_AFTER_KAFKA_COMMIT: &str = "sink-after-kafka-commit";
/// Inside a transaction, once its messages are at the broker, before its progress
/// record is sent (so that a broker which shows uncommitted messages, as librdkafka's
/// mock cluster does, still tells the restarted writer the truth about its progress).
const CRASH_MID_TRANSACTION: &str = "sink-mid-transaction";

/// A sink writer's progress, as `SHOW SINKS` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SinkStatus {
    /// The number of the last outbox entry delivered.
    pub delivered: u64,
    /// Messages sent since the server started.
    pub messages: u64,
    pub last_error: Option<String>,
    /// Microseconds since the Unix epoch.
    pub last_error_at: Option<i64>,
}

/// A running writer; dropping it stops the thread.
#[derive(Debug)]
pub struct KafkaWriter {
    stop: Arc<AtomicBool>,
    status: Arc<Mutex<SinkStatus>>,
}

impl Drop for KafkaWriter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

impl KafkaWriter {
    /// Starts delivering `outbox` for the sink `uid` (unique to the sink, stable across
    /// restarts: it names the transactions and the progress records).
    pub fn start(
        name: String,
        uid: String,
        options: SinkOptions,
        outbox: Arc<dyn Outbox>,
    ) -> KafkaWriter {
        let stop = Arc::new(AtomicBool::new(false));
        let status = Arc::new(Mutex::new(SinkStatus::default()));
        let writer = Writer {
            uid,
            options,
            outbox,
            stop: stop.clone(),
            status: status.clone(),
        };
        std::thread::Builder::new()
            .name(format!("sink {name}"))
            .spawn(move || writer.run())
            .expect("spawn a sink writer thread");
        KafkaWriter { stop, status }
    }

    pub fn status(&self) -> SinkStatus {
        self.status
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

struct Writer {
    uid: String,
    options: SinkOptions,
    outbox: Arc<dyn Outbox>,
    stop: Arc<AtomicBool>,
    status: Arc<Mutex<SinkStatus>>,
}

/// A progress record's value.
#[derive(Serialize, Deserialize)]
struct Progress {
    sequence: u64,
}

impl Writer {
    fn run(self) {
        let mut backoff = FIRST_BACKOFF;
        while !self.stopped() {
            match self.session() {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(sink = %self.uid, %error, "sink delivery failed; retrying");
                    let mut status = self.lock_status();
                    status.last_error = Some(error);
                    status.last_error_at = Some(now_micros());
                }
            }
            back_off(&self.stop, &mut backoff);
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn lock_status(&self) -> std::sync::MutexGuard<'_, SinkStatus> {
        self.status
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Delivers until stopped (`Ok`) or until something fails (`Err`, to start over).
    fn session(&self) -> Result<(), String> {
        let exactly_once = self.options.delivery == Delivery::ExactlyOnce;
        let producer = self.producer().map_err(|e| format!("Kafka: {e}"))?;
        let mut delivered = match exactly_once {
            true => {
                producer
                    .init_transactions(CALL_TIMEOUT)
                    .map_err(|e| format!("Kafka transactions: {e}"))?;
                match self.ensure_progress_topic()? {
                    true => self.read_progress()?,
                    false => 0,
                }
            }
            false => self.outbox.recorded().map_err(|e| e.to_string())?,
        };
        self.outbox
            .delivered(delivered)
            .map_err(|e| e.to_string())?;
        self.lock_status().delivered = delivered;
        while !self.stopped() {
            let entries = self
                .outbox
                .read(delivered, DELIVERY_BYTES)
                .map_err(|e| e.to_string())?;
            let Some(last) = entries.last().map(|entry| entry.sequence) else {
                self.outbox.wait(IDLE_WAIT);
                continue;
            };
            let sent = match exactly_once {
                true => self.deliver_in_transaction(&producer, &entries, last),
                false => self.deliver_acknowledged(&producer, &entries),
            }?;
            delivered = last;
            self.outbox
                .delivered(delivered)
                .map_err(|e| e.to_string())?;
            let mut status = self.lock_status();
            status.delivered = delivered;
            status.messages += sent;
        }
        Ok(())
    }

    fn deliver_in_transaction(
        &self,
        producer: &BaseProducer<DeliveryErrors>,
        entries: &[OutboxEntry],
        last: u64,
    ) -> Result<u64, String> {
        let failed = |e: KafkaError| {
            let _ = producer.abort_transaction(CALL_TIMEOUT);
            format!("Kafka transaction: {e}")
        };
        producer.begin_transaction().map_err(failed)?;
        let sent = self.send_all(producer, entries).map_err(failed)?;
        if failpoint(CRASH_MID_TRANSACTION) {
            let _ = producer.flush(CALL_TIMEOUT);
            crash(CRASH_MID_TRANSACTION);
        }
        let progress = serde_json::to_vec(&Progress { sequence: last }).expect("serializes");
        send(
            producer,
            BaseRecord::to(&self.options.progress_topic)
                .key(self.uid.as_bytes())
                .payload(&progress),
        )
        .map_err(failed)?;
        producer.commit_transaction(CALL_TIMEOUT).map_err(failed)?;
        if failpoint(CRASH_AFTER_KAFKA_COMMIT) {
            crash(CRASH_AFTER_KAFKA_COMMIT);
        }
        Ok(sent)
    }

    fn deliver_acknowledged(
        &self,
        producer: &BaseProducer<DeliveryErrors>,
        entries: &[OutboxEntry],
    ) -> Result<u64, String> {
        let sent = self
            .send_all(producer, entries)
            .map_err(|e| format!("Kafka: {e}"))?;
        producer
            .flush(CALL_TIMEOUT)
            .map_err(|e| format!("Kafka: {e}"))?;
        match producer.context().take() {
            Some(error) => Err(format!("Kafka delivery: {error}")),
            None => Ok(sent),
        }
    }

    fn send_all(
        &self,
        producer: &BaseProducer<DeliveryErrors>,
        entries: &[OutboxEntry],
    ) -> KafkaResult<u64> {
        let mut sent = 0;
        for message in entries.iter().flat_map(|entry| &entry.messages) {
            let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&self.options.topic);
            if let Some(key) = &message.key {
                record = record.key(key.as_slice());
            }
            if let Some(value) = &message.value {
                record = record.payload(value.as_slice());
            }
            send(producer, record)?;
            sent += 1;
        }
        Ok(sent)
    }

    fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.options.bootstrap_servers);
        for (key, value) in &self.options.properties {
            config.set(key, value);
        }
        config
    }

    fn producer(&self) -> KafkaResult<BaseProducer<DeliveryErrors>> {
        let mut config = self.config();
        config.set("enable.idempotence", "true");
        if self.options.delivery == Delivery::ExactlyOnce {
            config.set("transactional.id", format!("weir-sink-{}", self.uid));
        }
        config.create_with_context(DeliveryErrors::default())
    }

    /// Whether the progress topic exists, creating it (one partition, compacted) if
    /// it does not and the broker lets weir. A broker that does not take CreateTopics may
    /// still create it when the first progress record is sent.
    fn ensure_progress_topic(&self) -> Result<bool, String> {
        let topic = self.options.progress_topic.as_str();
        let consumer = consumer(&self.options.bootstrap_servers, &self.options.properties)
            .map_err(|e| format!("Kafka: {e}"))?;
        if !partitions(&consumer, topic)
            .map_err(|e| format!("Kafka: {e}"))?
            .is_empty()
        {
            return Ok(true);
        }
        let admin: AdminClient<DefaultClientContext> = self
            .config()
            .create()
            .map_err(|e| format!("Kafka admin: {e}"))?;
        let new_topic =
            NewTopic::new(topic, 1, TopicReplication::Fixed(-1)).set("cleanup.policy", "compact");
        let options = AdminOptions::new().request_timeout(Some(ADMIN_TIMEOUT));
        let created = futures::executor::block_on(admin.create_topics([&new_topic], &options))
            .map_err(|e| e.to_string())
            .and_then(|results| match results.into_iter().next() {
                Some(Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => Ok(()),
                Some(Err((_, code))) => Err(code.to_string()),
                None => Err("no answer".to_owned()),
            });
        match created {
            Ok(()) => Ok(true),
            Err(error) => {
                tracing::info!(topic, %error, "could not create the sink progress topic");
                Ok(false)
            }
        }
    }

    /// The last entry a committed transaction of this sink delivered (0 if none), read
    /// from every partition of the progress topic.
    fn read_progress(&self) -> Result<u64, String> {
        let kafka = |e: KafkaError| format!("reading the progress topic: {e}");
        let topic = self.options.progress_topic.as_str();
        let consumer: BaseConsumer = self
            .config()
            .set("group.id", "weir")
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "true")
            .create()
            .map_err(kafka)?;
        // Everything this sink committed lies below the high watermarks seen now. Open
        // transactions of other sinks hold a read_committed consumer back until they end.
        let mut ends = BTreeMap::new();
        let mut assignment = TopicPartitionList::new();
        for partition in partitions(&consumer, topic).map_err(kafka)? {
            let (_, high) = consumer
                .fetch_watermarks(topic, partition, CALL_TIMEOUT)
                .map_err(kafka)?;
            if high > 0 {
                ends.insert(partition, high);
                assignment
                    .add_partition_offset(topic, partition, Offset::Beginning)
                    .map_err(kafka)?;
            }
        }
        consumer.assign(&assignment).map_err(kafka)?;
        let deadline = Instant::now() + PROGRESS_TIMEOUT;
        let mut delivered = 0;
        let mut positions: BTreeMap<i32, i64> = BTreeMap::new();
        while ends
            .iter()
            .any(|(partition, high)| positions.get(partition).copied().unwrap_or(0) < *high)
        {
            if Instant::now() > deadline || self.stopped() {
                return Err(format!(
                    "reading the progress topic {topic}: not at its end after {PROGRESS_TIMEOUT:?}"
                ));
            }
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(message)) => {
                    positions.insert(message.partition(), message.offset() + 1);
                    if message.key() == Some(self.uid.as_bytes())
                        && let Some(Ok(progress)) =
                            message.payload().map(serde_json::from_slice::<Progress>)
                    {
                        delivered = delivered.max(progress.sequence);
                    }
                }
                Some(Err(KafkaError::PartitionEOF(partition))) => {
                    let at = consumer.position().map_err(kafka)?;
                    if let Some(Offset::Offset(offset)) = at
                        .find_partition(topic, partition)
                        .map(|found| found.offset())
                    {
                        let position = positions.entry(partition).or_default();
                        *position = (*position).max(offset);
                    }
                }
                Some(Err(error)) => return Err(kafka(error)),
                None => {}
            }
        }
        Ok(delivered)
    }
}

/// Whether this process was started with the failpoint `name`.
fn failpoint(name: &str) -> bool {
    std::env::var(FAILPOINT_VARIABLE).is_ok_and(|point| point == name)
}

/// Aborts the process at the failpoint `name`.
fn crash(name: &str) -> ! {
    tracing::error!("failpoint {name}: aborting");
    std::process::abort()
}

/// Sends `record`, waiting while the producer's queue is full.
fn send<'a>(
    producer: &BaseProducer<DeliveryErrors>,
    mut record: BaseRecord<'a, [u8], [u8]>,
) -> KafkaResult<()> {
    loop {
        match producer.send(record) {
            Ok(()) => {
                producer.poll(Duration::ZERO);
                return Ok(());
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                record = returned;
                producer.poll(Duration::from_millis(10));
            }
            Err((error, _)) => return Err(error),
        }
    }
}

/// Remembers the first message the broker refused since it was last asked.
#[derive(Default)]
struct DeliveryErrors(Mutex<Option<String>>);

impl DeliveryErrors {
    fn take(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }
}

impl ClientContext for DeliveryErrors {}

impl ProducerContext for DeliveryErrors {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result {
            self.0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .get_or_insert_with(|| error.to_string());
        }
    }
}
