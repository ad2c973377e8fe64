//! weir's storage: one RocksDB database per data directory.
//!
//! # Key space
//!
//! Every key starts with a one-byte [`keys::Space`] tag, so catalog entries, table rows and
//! bookkeeping never collide and each space can be range-scanned on its own:
//!
//! * `Meta`: format version and the last committed epoch;
//! * `Catalog`: one entry per catalog object, keyed by object id;
//! * `Table`: rows of user tables, `table id (u32, big-endian) ++ row key`, where the row
//!   key is the primary key in a memcomparable encoding (see [`RowCodec`]) or a hidden
//!   row id for tables without one. RocksDB's byte order therefore equals SQL order on
//!   the key, and primary-key point and range lookups are seeks, not scans. A
//!   materialized view's rows are stored here too, under the view's id (see
//!   [`ViewRows`]);
//! * `State`: operator state of materialized views, `view id ++ operator id ++ key`;
//! * `ViewErrors`: rows views left out because an expression failed on them, by
//!   sequence number, the oldest dropped past a bound;
//! * `Pending`: table changes committed without their view maintenance (a session with
//!   `implicit_flush` off), by epoch and table, until a barrier applies them (see
//!   [`PendingChanges`]);
//! * `SourceOffsets`: for each reader of a Kafka source, the next offset of each
//!   partition, `owner id ++ source id ++ partition`, committed with the state the
//!   records before it produced;
//! * `DeadLetters`: records sources could not decode, by sequence number, bounded like
//!   `ViewErrors`;
//! * `Sinks`: per sink, `sink id ++ 0` its bookkeeping and `sink id ++ 1 ++ sequence`
//!   its outbox: the messages each epoch sends, stored with the epoch and deleted once
//!   delivered.
//!
//! # Epochs
//!
//! All writes go through [`EpochWrite`]: changes gathered in one RocksDB `WriteBatch` and
//! committed atomically with the epoch number they belong to. Readers never see part of
//! an epoch: they read through a [`ReadSnapshot`] of the last committed one.

pub mod keys;
mod observer;
mod pending;
mod row_codec;
mod scan;
mod snapshot;
mod store;
mod table;
mod table_changes;
mod table_sink;
mod view_failure;
mod view_rows;
mod view_table;

pub use observer::ChangeObserver;
pub use pending::{DeferMaintenance, PendingChange, PendingChanges};
pub use row_codec::RowCodec;
pub use snapshot::ReadSnapshot;
pub use store::{EpochWrite, Store};
pub use table::{StoredTable, TableDescriptor};
pub use view_failure::ViewFailure;
pub use view_rows::ViewRows;
pub use view_table::MaterializedViewTable;
