//! A thread that reads a Kafka topic into an [`Ingest`].
//!
//! Every partition is assigned explicitly (no consumer-group rebalancing) and read from
//! the offset weir committed for it; the topic's partitions are looked up again every few
//! seconds, so partitions added later are read from their beginning. A partition seen for
//! the first time by a new source starts where `scan.startup.mode` says, and that offset
//! is committed with the next epoch even if no record follows, so a restart does not
//! move it. Records are decoded in batches; the rows, the dead letters and the offsets
//! after them go to the ingest together.
//!
//! With `properties.group.id` set, the offsets of committed epochs are also committed to
//! that consumer group every few seconds, so that external tools can show the lag.
//!
//! When the broker cannot be reached the reader records the error (the status table
//! shows it) and tries again with backoff (see [`crate::backoff`]), continuing from the
//! last record it read.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Int64Array, RecordBatch};
use datafusion::arrow::datatypes::SchemaRef;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use weir_common::{Result, SqlState, StreamChunk, WeirError, now_micros};

use crate::backoff::{FIRST_BACKOFF, back_off};
use crate::decoder::{Decoded, Decoder};
use crate::ingest::{DeadLetter, Ingest, Ingested};
use crate::options::{KafkaOptions, OnError, StartupMode};
use crate::records::Records;
use crate::schema::SourceSchema;
use crate::source_format::SourceFormat;

/// Records decoded together, at most.
const BATCH_RECORDS: usize = 8192;
/// How long a batch waits for more records once it has one.
const BATCH_LINGER: Duration = Duration::from_millis(20);
/// How often the topic's partitions and high watermarks are looked up.
const REFRESH_INTERVAL: Duration = Duration::from_secs(2);
/// Metadata requests give up after this long.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

/// A running reader; dropping it stops the thread.
#[derive(Debug)]
pub struct KafkaReader {
    stop: Arc<AtomicBool>,
}

impl Drop for KafkaReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// What the broker says of a topic at CREATE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopicState {
    Exists,
    Missing,
    /// The broker cannot be reached now (readers and writers keep trying).
    Unreachable,
}

/// Asks the broker whether `topic` exists.
pub fn check_topic(
    bootstrap_servers: &str,
    properties: &BTreeMap<String, String>,
    topic: &str,
) -> Result<TopicState> {
    let consumer = consumer(bootstrap_servers, properties).map_err(kafka_error)?;
    Ok(match partitions(&consumer, topic) {
        Ok(partitions) if partitions.is_empty() => TopicState::Missing,
        Ok(_) => TopicState::Exists,
        Err(_) => TopicState::Unreachable,
    })
}

impl KafkaReader {
    /// Starts reading for `ingest`, each partition from its offset in `committed`.
    pub fn start(
        name: String,
        options: KafkaOptions,
        format: &SourceFormat,
        schema: SourceSchema,
        committed: BTreeMap<i32, i64>,
        ingest: Arc<Ingest>,
    ) -> KafkaReader {
        let stop = Arc::new(AtomicBool::new(false));
        let decoder = Decoder::new(format, schema.declared.clone(), options.max_record_bytes);
        let reader = Reader {
            full_schema: schema.with_metadata(decoder.schema()),
            decoder,
            options,
            schema,
            new_source: committed.is_empty(),
            positions: committed,
            committed_to_group: BTreeMap::new(),
            ingest,
            stop: stop.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name(format!("source {name}"))
            .spawn(move || reader.run());
        if let Err(error) = spawned {
            tracing::error!(source = %name, %error, "could not start the source's reader");
        }
        KafkaReader { stop }
    }
}

struct Reader {
    options: KafkaOptions,
    schema: SourceSchema,
    /// The schema of the rows handed over: as decoded, with the metadata columns.
    full_schema: SchemaRef,
    decoder: Decoder,
    /// No partition has an offset yet: partitions start where `scan.startup.mode` says.
    new_source: bool,
    /// The next offset to read, by partition.
    positions: BTreeMap<i32, i64>,
    /// The offsets last committed to the consumer group of `properties.group.id`.
    committed_to_group: BTreeMap<i32, i64>,
    ingest: Arc<Ingest>,
    stop: Arc<AtomicBool>,
}

/// Whether the reader goes on after a batch.
enum Flow {
    Continue,
    Stop,
}

impl Reader {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn run(mut self) {
        let mut backoff = FIRST_BACKOFF;
        while !self.stopped() {
            match self.read() {
                Ok(Flow::Stop) => return,
                Ok(Flow::Continue) => backoff = FIRST_BACKOFF,
                Err(error) => {
                    tracing::warn!(topic = %self.options.topic, %error, "Kafka source retrying");
                    self.ingest
                        .report_error(-1, error.to_string(), now_micros());
                    back_off(&self.stop, &mut backoff);
                }
            }
        }
    }

    /// One consumer's life: until stopped, or an error that needs a new consumer.
    fn read(&mut self) -> rdkafka::error::KafkaResult<Flow> {
        let consumer = consumer(&self.options.bootstrap_servers, &self.options.properties)?;
        let mut assigned = 0;
        let mut refreshed = Instant::now() - REFRESH_INTERVAL;
        loop {
            if self.stopped() {
                return Ok(Flow::Stop);
            }
            if refreshed.elapsed() >= REFRESH_INTERVAL {
                let found = partitions(&consumer, &self.options.topic)?;
                if found.is_empty() {
                    return Err(rdkafka::error::KafkaError::MetadataFetch(
                        rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition,
                    ));
                }
                self.start_new_partitions(&consumer, &found)?;
                if found.len() != assigned {
                    let mut list = TopicPartitionList::new();
                    for (partition, offset) in &self.positions {
                        list.add_partition_offset(
                            &self.options.topic,
                            *partition,
                            Offset::Offset(*offset),
                        )?;
                    }
                    consumer.assign(&list)?;
                    assigned = found.len();
                }
                for partition in found {
                    if let Ok((_, high)) =
                        consumer.fetch_watermarks(&self.options.topic, partition, METADATA_TIMEOUT)
                    {
                        self.ingest.set_high_watermark(partition, high);
                    }
                }
                self.commit_to_group(&consumer)?;
                refreshed = Instant::now();
            }
            let records = self.poll_batch(&consumer)?;
            if !records.is_empty()
                && (!self.fetch_schemas(&records) || matches!(self.hand_over(&records), Flow::Stop))
            {
                return Ok(Flow::Stop);
            }
            while !self.ingest.wait_for_room(Duration::from_millis(200)) {
                if self.stopped() {
                    return Ok(Flow::Stop);
                }
            }
        }
    }

    /// With `properties.group.id` set, commits the offsets weir committed to that
    /// consumer group, for external lag tools; weir itself never reads them back.
    fn commit_to_group(&mut self, consumer: &BaseConsumer) -> rdkafka::error::KafkaResult<()> {
        if !self.options.properties.contains_key("group.id") {
            return Ok(());
        }
        let committed: BTreeMap<i32, i64> = self
            .ingest
            .status()
            .into_iter()
            .filter_map(|(partition, status)| Some((partition, status.committed?)))
            .filter(|(partition, _)| *partition >= 0)
            .collect();
        if committed.is_empty() || committed == self.committed_to_group {
            return Ok(());
        }
        let mut list = TopicPartitionList::new();
        for (partition, offset) in &committed {
            list.add_partition_offset(&self.options.topic, *partition, Offset::Offset(*offset))?;
        }
        consumer.commit(&list, CommitMode::Async)?;
        self.committed_to_group = committed;
        Ok(())
    }

    /// Gives partitions not read before their first offset, and commits it with the next
    /// epoch.
    fn start_new_partitions(
        &mut self,
        consumer: &BaseConsumer,
        found: &[i32],
    ) -> rdkafka::error::KafkaResult<()> {
        let topic = &self.options.topic;
        let mut started = BTreeMap::new();
        for &partition in found {
            if self.positions.contains_key(&partition) {
                continue;
            }
            let (low, high) = consumer.fetch_watermarks(topic, partition, METADATA_TIMEOUT)?;
            let offset = match (self.new_source, self.options.startup) {
                (false, _) | (true, StartupMode::Earliest) => low,
                (true, StartupMode::Latest) => high,
                (true, StartupMode::Timestamp(millis)) => {
                    let mut list = TopicPartitionList::new();
                    list.add_partition_offset(topic, partition, Offset::Offset(millis))?;
                    let found = consumer.offsets_for_times(list, METADATA_TIMEOUT)?;
                    match found.find_partition(topic, partition).map(|p| p.offset()) {
                        Some(Offset::Offset(offset)) => offset,
                        _ => high,
                    }
                }
            };
            started.insert(partition, offset);
        }
        if started.is_empty() {
            return Ok(());
        }
        self.new_source = false;
        self.positions.extend(&started);
        self.ingest.add(
            Ingested {
                next_offsets: started,
                ..Ingested::default()
            },
            &BTreeMap::new(),
        );
        Ok(())
    }

    /// Records available now, up to a batch; waits a little for the first.
    fn poll_batch(&self, consumer: &BaseConsumer) -> rdkafka::error::KafkaResult<Records> {
        let mut records = Records::default();
        let mut deadline = Instant::now() + Duration::from_millis(200);
        while records.len() < BATCH_RECORDS {
            let wait = deadline.saturating_duration_since(Instant::now());
            let Some(polled) = consumer.poll(wait) else {
                break;
            };
            match polled {
                Ok(message) => {
                    if records.is_empty() {
                        deadline = Instant::now() + BATCH_LINGER;
                    }
                    records.push(
                        message.partition(),
                        message.offset(),
                        message.timestamp().to_millis(),
                        message.key(),
                        message.payload(),
                    );
                }
                Err(error) => {
                    tracing::debug!(topic = %self.options.topic, %error, "Kafka consumer error");
                    self.ingest
                        .report_error(-1, error.to_string(), now_micros());
                    break;
                }
            }
        }
        Ok(records)
    }

    /// Fetches what decoding `records` needs (a registry's schemas), trying again with
    /// backoff while it cannot be had; the records wait, unread by the views. `false` if
    /// the reader was stopped meanwhile.
    fn fetch_schemas(&self, records: &Records) -> bool {
        let mut backoff = FIRST_BACKOFF;
        while let Err(error) = self.decoder.fetch_schemas(records) {
            tracing::warn!(topic = %self.options.topic, %error, "Kafka source waiting for its schemas");
            self.ingest.report_error(-1, error, now_micros());
            if !back_off(&self.stop, &mut backoff) {
                return false;
            }
        }
        true
    }

    /// Decodes `records` and adds them to the ingest.
    fn hand_over(&mut self, records: &Records) -> Flow {
        let Decoded {
            rows,
            weights,
            accepted,
            rejected,
        } = self.decode(records);
        let now = now_micros();
        // With `on_error = 'fail'`, reading stops at the first bad record: what came
        // before it goes on, it and what follows stay unread.
        let (end, flow) = match (self.options.on_error, rejected.first()) {
            (OnError::Fail, Some((index, error))) => {
                let message = format!(
                    "record at partition {} offset {} cannot be decoded: {error}; the source stopped (on_error = 'fail')",
                    records.partitions[*index], records.offsets[*index]
                );
                tracing::error!(topic = %self.options.topic, "{message}");
                self.ingest
                    .report_error(records.partitions[*index], message, now);
                (*index, Flow::Stop)
            }
            _ => (records.len(), Flow::Continue),
        };
        let kept = accepted.iter().take_while(|&&index| index < end).count();
        let mut dead_letters = Vec::new();
        for (index, error) in rejected.iter().filter(|(index, _)| *index < end) {
            let letter = DeadLetter {
                partition: records.partitions[*index],
                offset: records.offsets[*index],
                key: records.keys[*index].clone(),
                value: records.value(*index).map(<[u8]>::to_vec),
                error: error.clone(),
                at: now,
            };
            if self.options.on_error == OnError::Skip {
                self.ingest
                    .report_error(letter.partition, letter.error.clone(), now);
            } else {
                dead_letters.push(letter);
            }
        }
        let mut next_offsets = BTreeMap::new();
        let mut counts: BTreeMap<i32, (u64, u64)> = BTreeMap::new();
        for (index, value) in records.values().enumerate().take(end) {
            let partition = records.partitions[index];
            next_offsets.insert(partition, records.offsets[index] + 1);
            let count = counts.entry(partition).or_default();
            count.0 += 1;
            count.1 += (value.map_or(0, <[u8]>::len)
                + records.keys[index].as_ref().map_or(0, Vec::len)) as u64;
        }
        self.positions.extend(&next_offsets);
        let rows = (kept > 0).then(|| {
            StreamChunk::new(
                rows.slice(0, kept),
                Int64Array::from_iter_values(weights.into_iter().take(kept)),
            )
        });
        self.ingest.add(
            Ingested {
                rows: rows.into_iter().collect(),
                next_offsets,
                dead_letters,
            },
            &counts,
        );
        flow
    }

    /// `records` decoded, the rows with their metadata columns; records whose rows break
    /// the constraints of the table the source feeds are set aside too.
    fn decode(&self, records: &Records) -> Decoded {
        let Decoded {
            rows,
            mut weights,
            mut accepted,
            mut rejected,
        } = self.decoder.decode(records);
        let mut columns = rows.columns().to_vec();
        columns.extend(self.schema.metadata_columns(records, &accepted));
        let mut rows = RecordBatch::try_new(self.full_schema.clone(), columns)
            .expect("decoded rows and metadata make the source's rows");
        let violations = self.schema.violations(&rows, &weights);
        if !violations.is_empty() {
            let bad: std::collections::BTreeSet<usize> =
                violations.keys().map(|&row| accepted[row]).collect();
            let keep: Vec<bool> = accepted.iter().map(|index| !bad.contains(index)).collect();
            rows = datafusion::arrow::compute::filter_record_batch(&rows, &keep.clone().into())
                .expect("a filter of the rows' own length");
            let mut kept = keep.iter();
            weights.retain(|_| *kept.next().expect("a flag per row"));
            for (row, error) in violations {
                if !rejected.iter().any(|(index, _)| *index == accepted[row]) {
                    rejected.push((accepted[row], error));
                }
            }
            accepted.retain(|index| !bad.contains(index));
            rejected.sort_unstable_by_key(|(index, _)| *index);
        }
        Decoded {
            rows,
            weights,
            accepted,
            rejected,
        }
    }
}

/// A consumer of `bootstrap_servers` with librdkafka `properties`, with nothing assigned.
pub(crate) fn consumer(
    bootstrap_servers: &str,
    properties: &BTreeMap<String, String>,
) -> rdkafka::error::KafkaResult<BaseConsumer> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap_servers)
        .set("group.id", "weir")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // A fetch that finds nothing new waits at most this long at the broker: the
        // bound on how long a record produced into an idle partition waits to be read.
        .set("fetch.wait.max.ms", "100")
        .set("allow.auto.create.topics", "false");
    for (key, value) in properties {
        config.set(key, value);
    }
    config.create()
}

/// The partitions of `topic`; none if it does not exist.
pub(crate) fn partitions(
    consumer: &BaseConsumer,
    topic: &str,
) -> rdkafka::error::KafkaResult<Vec<i32>> {
    let metadata = consumer.fetch_metadata(Some(topic), METADATA_TIMEOUT)?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|found| found.name() == topic && found.error().is_none())
        .flat_map(|found| found.partitions().iter().map(|p| p.id()))
        .collect())
}

/// A client librdkafka refuses to create was misconfigured by the statement's
/// properties (22023); anything else is the broker's or the network's (58030).
fn kafka_error(error: rdkafka::error::KafkaError) -> WeirError {
    let state = match error {
        rdkafka::error::KafkaError::ClientConfig(..)
        | rdkafka::error::KafkaError::ClientCreation(_) => SqlState::INVALID_PARAMETER_VALUE,
        _ => SqlState::IO_ERROR,
    };
    WeirError::new(state, format!("Kafka: {error}"))
}
