//! Connectors to external systems: reading Kafka topics into sources, and sending the
//! changes of sinks to Kafka topics.
//!
//! A source's reader runs on its own thread and hands decoded rows, with the offsets that
//! follow them, to an [`Ingest`]; the barrier takes them from there and commits them with
//! the epoch they produce (see the `ingest` module). A sink's messages go the other way:
//! the barrier stores each epoch's messages in the sink's [`Outbox`], and the sink's
//! writer thread delivers them (see the `outbox` and `kafka_writer` modules).

mod avro;
mod avro_columns;
mod backoff;
mod connect_policy;
mod csv;
mod debezium;
mod decoder;
mod ingest;
mod json;
mod kafka_properties;
mod kafka_reader;
mod kafka_writer;
mod options;
mod outbox;
mod records;
mod schema;
mod schema_registry;
mod sink_encoder;
mod sink_options;
mod source_format;
mod upsert;

pub use avro_columns::{InferredColumn, check_declared_columns, inferred_columns};
pub use connect_policy::{AllowedHost, ConnectPolicy};
pub use decoder::{Decoded, Decoder};
pub use ingest::{DeadLetter, Ingest, Ingested, PartitionStatus};
pub use kafka_reader::{KafkaReader, TopicState, check_topic};
pub use kafka_writer::{KafkaWriter, SinkStatus};
pub use options::{KafkaOptions, OnError, StartupMode};
pub use outbox::{Outbox, OutboxEntry, decode_messages, encode_messages};
pub use records::Records;
pub use schema::{Metadata, SourceSchema};
pub use schema_registry::SchemaRegistry;
pub use sink_encoder::{SinkEncoder, SinkMessage};
pub use sink_options::{DEFAULT_PROGRESS_TOPIC, Delivery, SinkFormat, SinkOptions};
pub use source_format::{AvroSchemaSource, CsvOptions, Encode, SourceFormat};
