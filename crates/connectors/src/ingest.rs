//! The hand-over between a source's reader thread and the barrier.
//!
//! The reader decodes records and adds the rows, the dead letters and the offsets that
//! follow them to its [`Ingest`]. Each barrier takes everything buffered and commits it
//! in the epoch's write: rows into the views, offsets and dead letters beside them. If
//! the commit fails, the barrier gives the batch back and the next one tries again, so
//! nothing is lost or applied twice. A full buffer makes the reader wait for a barrier.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use weir_common::StreamChunk;

/// How many rows a reader buffers before it waits for a barrier to take them.
const MAX_BUFFERED_ROWS: usize = 1 << 20;

/// A record that could not be decoded, kept for the dead-letter table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub error: String,
    /// Microseconds since the Unix epoch.
    pub at: i64,
}

/// What a barrier takes from a source.
#[derive(Debug, Default)]
pub struct Ingested {
    /// Rows in the source's schema, oldest first, each inserted (+1) or, for a table,
    /// deleted by key (−1).
    pub rows: Vec<StreamChunk>,
    /// For each partition read from: the offset of the next record to read.
    pub next_offsets: BTreeMap<i32, i64>,
    pub dead_letters: Vec<DeadLetter>,
}

impl Ingested {
    fn row_count(&self) -> usize {
        self.rows.iter().map(StreamChunk::len).sum()
    }

    fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.next_offsets.is_empty() && self.dead_letters.is_empty()
    }
}

/// One partition's progress, as `weir_catalog.source_partitions` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionStatus {
    /// The next offset to read after the last committed epoch.
    pub committed: Option<i64>,
    pub high_watermark: Option<i64>,
    /// Since the server started.
    pub records: u64,
    pub bytes: u64,
    pub dead_lettered: u64,
    pub last_error: Option<String>,
    /// Microseconds since the Unix epoch.
    pub last_error_at: Option<i64>,
}

#[derive(Debug, Default)]
struct Shared {
    buffered: Ingested,
    /// Partition −1 holds errors that concern the whole source (e.g. the broker).
    status: BTreeMap<i32, PartitionStatus>,
}

/// One source reader's buffer and progress.
#[derive(Debug, Default)]
pub struct Ingest {
    shared: Mutex<Shared>,
    taken: Condvar,
}

impl Ingest {
    /// An ingest whose partitions were committed up to `committed`.
    pub fn new(committed: &BTreeMap<i32, i64>) -> Ingest {
        let status = committed
            .iter()
            .map(|(partition, offset)| {
                let status = PartitionStatus {
                    committed: Some(*offset),
                    ..PartitionStatus::default()
                };
                (*partition, status)
            })
            .collect();
        Ingest {
            shared: Mutex::new(Shared {
                buffered: Ingested::default(),
                status,
            }),
            taken: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds decoded records (reader side).
    pub fn add(&self, added: Ingested, records: &BTreeMap<i32, (u64, u64)>) {
        let mut shared = self.lock();
        for (partition, (count, bytes)) in records {
            let status = shared.status.entry(*partition).or_default();
            status.records += count;
            status.bytes += bytes;
        }
        for letter in &added.dead_letters {
            let status = shared.status.entry(letter.partition).or_default();
            status.dead_lettered += 1;
            status.last_error = Some(letter.error.clone());
            status.last_error_at = Some(letter.at);
        }
        let buffered = &mut shared.buffered;
        buffered.rows.extend(added.rows);
        buffered.next_offsets.extend(added.next_offsets);
        buffered.dead_letters.extend(added.dead_letters);
    }

    /// Waits up to `timeout` until the buffer has room (reader side); whether it has.
    pub fn wait_for_room(&self, timeout: Duration) -> bool {
        let shared = self.lock();
        let (shared, _) = self
            .taken
            .wait_timeout_while(shared, timeout, |shared| {
                shared.buffered.row_count() >= MAX_BUFFERED_ROWS
            })
            .unwrap_or_else(|e| e.into_inner());
        shared.buffered.row_count() < MAX_BUFFERED_ROWS
    }

    /// Records an error of `partition` (−1: of the whole source) for the status table.
    pub fn report_error(&self, partition: i32, error: String, at: i64) {
        let mut shared = self.lock();
        let status = shared.status.entry(partition).or_default();
        status.last_error = Some(error);
        status.last_error_at = Some(at);
    }

    pub fn set_high_watermark(&self, partition: i32, offset: i64) {
        self.lock()
            .status
            .entry(partition)
            .or_default()
            .high_watermark = Some(offset);
    }

    /// Everything buffered, if anything is (barrier side).
    pub fn take(&self) -> Option<Ingested> {
        let mut shared = self.lock();
        if shared.buffered.is_empty() {
            return None;
        }
        let taken = std::mem::take(&mut shared.buffered);
        self.taken.notify_all();
        Some(taken)
    }

    /// Puts back what [`Ingest::take`] returned when its epoch failed to commit.
    pub fn restore(&self, mut taken: Ingested) {
        let mut shared = self.lock();
        let later = std::mem::take(&mut shared.buffered);
        taken.rows.extend(later.rows);
        taken.next_offsets.extend(later.next_offsets);
        taken.dead_letters.extend(later.dead_letters);
        shared.buffered = taken;
    }

    /// Records that the offsets of a taken batch committed.
    pub fn committed(&self, next_offsets: &BTreeMap<i32, i64>) {
        let mut shared = self.lock();
        for (partition, offset) in next_offsets {
            shared.status.entry(*partition).or_default().committed = Some(*offset);
        }
    }

    /// Every partition's status (−1: the source as a whole, if it had an error).
    pub fn status(&self) -> BTreeMap<i32, PartitionStatus> {
        self.lock().status.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_commit_gives_the_batch_back_before_later_records() {
        let ingest = Ingest::new(&BTreeMap::new());
        let batch = |partition: i32, next: i64| Ingested {
            rows: vec![],
            next_offsets: BTreeMap::from([(partition, next)]),
            dead_letters: vec![],
        };
        ingest.add(batch(0, 10), &BTreeMap::from([(0, (10, 100))]));
        let taken = ingest.take().unwrap();
        ingest.add(batch(0, 12), &BTreeMap::from([(0, (2, 20))]));
        ingest.restore(taken);
        let again = ingest.take().unwrap();
        assert_eq!(again.next_offsets, BTreeMap::from([(0, 12)]));
        assert!(ingest.take().is_none());
        ingest.committed(&again.next_offsets);
        let status = &ingest.status()[&0];
        assert_eq!(
            (status.committed, status.records, status.bytes),
            (Some(12), 12, 120)
        );
    }
}
