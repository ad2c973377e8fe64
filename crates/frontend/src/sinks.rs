//! Kafka sinks: the outbox each epoch fills, and the writer that empties it.
//!
//! A sink is maintained like a materialized view — a dataflow of its query, fed by the
//! barrier — but instead of storing rows it encodes each epoch's changes as Kafka
//! messages and stores them as the next entry of its outbox, in the epoch's own write.
//! Creating a sink sends the query's current rows as its first entry. The sink's writer
//! thread (see `weir_connectors::KafkaWriter`) delivers the entries in order and deletes
//! them; exactly-once sinks learn after a restart from Kafka itself which entries were
//! delivered, so a crash at any point neither loses nor repeats one.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use datafusion::arrow::datatypes::SchemaRef;
use serde::{Deserialize, Serialize};
use weir_common::{Interrupt, Result, StreamChunk, WeirError, now_micros};
use weir_connectors::{
    KafkaWriter, Outbox, OutboxEntry, SinkEncoder, SinkOptions, SinkStatus, decode_messages,
    encode_messages,
};
use weir_storage::{EpochWrite, ReadSnapshot, Store, keys};

/// A sink's bookkeeping, stored under [`keys::sink_meta`].
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SinkMeta {
    /// Unique to this sink among all weir instances' sinks, ever: it names the sink's
    /// Kafka transactions and progress records.
    uid: String,
    /// The last outbox entry the writer reported delivered.
    delivered: u64,
}

/// The output of a sink's dataflow.
pub(crate) struct Sink {
    name: String,
    options: SinkOptions,
    encoder: SinkEncoder,
    outbox: Arc<StoreOutbox>,
    /// The number the next outbox entry gets.
    next_sequence: Mutex<u64>,
    writer: Mutex<Option<KafkaWriter>>,
}

/// A row of `weir_catalog.sinks`.
pub(crate) struct SinkReport {
    pub id: u32,
    pub topic: String,
    /// Outbox entries written since the server started and not yet delivered.
    pub undelivered: u64,
    pub status: SinkStatus,
}

impl Sink {
    /// A new sink `id` whose changes have columns `schema`; its bookkeeping goes into
    /// `write`, the write that creates it.
    pub fn create(
        id: u32,
        name: String,
        options: SinkOptions,
        schema: SchemaRef,
        store: Arc<Store>,
        write: &mut EpochWrite,
    ) -> Result<Sink> {
        let meta = SinkMeta {
            uid: format!("{id}-{:x}", now_micros()),
            delivered: 0,
        };
        write.put(
            &keys::sink_meta(id),
            &serde_json::to_vec(&meta).expect("sink bookkeeping serializes"),
        );
        Sink::new(id, name, options, schema, store, meta, 1)
    }

    /// The stored sink `id`, at start-up.
    pub fn resume(
        id: u32,
        name: String,
        options: SinkOptions,
        schema: SchemaRef,
        store: Arc<Store>,
    ) -> Result<Sink> {
        let snapshot = store.snapshot();
        let meta = read_meta(&snapshot, id)?
            .ok_or_else(|| WeirError::internal(format!("sink {name} has no bookkeeping")))?;
        let last = last_sequence(&snapshot, id)?.unwrap_or(0);
        let next = last.max(meta.delivered) + 1;
        Sink::new(id, name, options, schema, store, meta, next)
    }

    fn new(
        id: u32,
        name: String,
        options: SinkOptions,
        schema: SchemaRef,
        store: Arc<Store>,
        meta: SinkMeta,
        next_sequence: u64,
    ) -> Result<Sink> {
        Ok(Sink {
            name,
            encoder: SinkEncoder::new(schema, &options)?,
            options,
            outbox: Arc::new(StoreOutbox {
                id,
                uid: meta.uid,
                store,
            }),
            next_sequence: Mutex::new(next_sequence),
            writer: Mutex::new(None),
        })
    }

    fn next_sequence(&self) -> MutexGuard<'_, u64> {
        self.next_sequence
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn writer(&self) -> MutexGuard<'_, Option<KafkaWriter>> {
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds the messages that send `changes` to `write` as the next outbox entry.
    pub fn apply(&self, changes: &StreamChunk, write: &mut EpochWrite) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let messages = self.encoder.encode(changes, now_micros() / 1000)?;
        if messages.is_empty() {
            return Ok(());
        }
        let mut next = self.next_sequence();
        write.put(
            &keys::sink_outbox_entry(self.outbox.id, *next),
            &encode_messages(&messages),
        );
        *next += 1;
        Ok(())
    }

    /// Starts delivering (once the sink's creation committed).
    pub fn start(&self) {
        *self.writer() = Some(KafkaWriter::start(
            self.name.clone(),
            self.outbox.uid.clone(),
            self.options.clone(),
            self.outbox.clone(),
        ));
    }

    pub fn report(&self) -> SinkReport {
        let status = self
            .writer()
            .as_ref()
            .map(KafkaWriter::status)
            .unwrap_or_default();
        let written = self.next_sequence().saturating_sub(1);
        SinkReport {
            id: self.outbox.id,
            topic: self.options.topic.clone(),
            undelivered: written.saturating_sub(status.delivered),
            status,
        }
    }
}

/// A sink's outbox in weir's store.
struct StoreOutbox {
    id: u32,
    uid: String,
    store: Arc<Store>,
}

impl Outbox for StoreOutbox {
    fn read(&self, after: u64, max_bytes: usize) -> Result<Vec<OutboxEntry>> {
        let start = keys::sink_outbox_entry(self.id, after + 1);
        let prefix = keys::sink_outbox_prefix(self.id);
        let end = keys::prefix_end(&prefix).expect("sink prefixes are never all 0xFF");
        let mut entries = Vec::new();
        let mut bytes = 0;
        let mut failure = None;
        self.store
            .snapshot()
            .scan(&start, Some(&end), |key, value| {
                match (entry_sequence(key, &prefix), decode_messages(value)) {
                    (Some(sequence), Ok(messages)) => {
                        entries.push(OutboxEntry { sequence, messages })
                    }
                    (_, Err(error)) => failure = Some(error),
                    (None, _) => failure = Some(WeirError::internal("a corrupt sink outbox key")),
                }
                bytes += value.len();
                failure.is_none() && bytes < max_bytes
            })?;
        match failure {
            Some(error) => Err(error),
            None => Ok(entries),
        }
    }

    fn delivered(&self, sequence: u64) -> Result<()> {
        let _writer = futures::executor::block_on(self.store.lock_writes(&Interrupt::new()))?;
        // A sink dropped meanwhile (or another that reuses its id) must not be touched.
        match read_meta(&self.store.snapshot(), self.id)? {
            Some(meta) if meta.uid == self.uid && meta.delivered < sequence => {}
            _ => return Ok(()),
        }
        let mut write = EpochWrite::default();
        let meta = SinkMeta {
            uid: self.uid.clone(),
            delivered: sequence,
        };
        write.put(
            &keys::sink_meta(self.id),
            &serde_json::to_vec(&meta).expect("sink bookkeeping serializes"),
        );
        write.delete_range(
            &keys::sink_outbox_prefix(self.id),
            &keys::sink_outbox_entry(self.id, sequence + 1),
        );
        self.store.commit(write)?;
        Ok(())
    }

    fn recorded(&self) -> Result<u64> {
        Ok(read_meta(&self.store.snapshot(), self.id)?.map_or(0, |meta| meta.delivered))
    }

    fn wait(&self, timeout: Duration) {
        let epoch = self.store.committed_epoch();
        let until = Instant::now() + timeout;
        while self.store.committed_epoch() == epoch && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn read_meta(snapshot: &ReadSnapshot, id: u32) -> Result<Option<SinkMeta>> {
    snapshot
        .get(&keys::sink_meta(id))?
        .map(|bytes| {
            serde_json::from_slice(&bytes)
                .map_err(|e| WeirError::internal(format!("corrupt sink bookkeeping: {e}")))
        })
        .transpose()
}

/// The number of the sink's newest outbox entry, if it has any.
fn last_sequence(snapshot: &ReadSnapshot, id: u32) -> Result<Option<u64>> {
    let prefix = keys::sink_outbox_prefix(id);
    let end = keys::prefix_end(&prefix).expect("sink prefixes are never all 0xFF");
    let mut last = None;
    snapshot.scan(&prefix, Some(&end), |key, _| {
        last = entry_sequence(key, &prefix);
        true
    })?;
    Ok(last)
}

/// The number of the outbox entry stored under `key`, which starts with `prefix`.
fn entry_sequence(key: &[u8], prefix: &[u8]) -> Option<u64> {
    key.get(prefix.len()..)
        .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
        .map(u64::from_be_bytes)
}
