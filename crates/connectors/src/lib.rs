//! Connectors to external systems: reading Kafka topics into sources.
//!
//! A source's reader runs on its own thread and hands decoded rows, with the offsets that
//! follow them, to an [`Ingest`]; the barrier takes them from there and commits them with
//! the epoch they produce (see the `ingest` module).

mod ingest;
mod json;
mod kafka_reader;
mod options;
mod records;
mod schema;

pub use ingest::{DeadLetter, Ingest, Ingested, PartitionStatus};
pub use json::{Decoded, JsonDecoder};
pub use kafka_reader::{KafkaReader, check_topic};
pub use options::{KafkaOptions, OnError, StartupMode};
pub use records::Records;
pub use schema::{Metadata, SourceSchema};
