//! Kafka sources: their definitions, the readers that feed materialized views, and what a
//! barrier commits of what they read.
//!
//! A source stores no rows. Each materialized view that reads a source has its own reader
//! of the source's topic (as in RisingWave): it starts where `scan.startup.mode` says when
//! the view is created, and from then on continues from the offsets committed with the
//! view's state. A barrier takes every reader's decoded rows, sends them to the view that
//! owns the reader, and commits the view's new rows and state, the readers' next offsets
//! and the records that could not be decoded (the dead letters) in one atomic write. After
//! a crash each reader seeks to its committed offsets, so every record reaches each view
//! exactly once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::TableReference;
use serde::{Deserialize, Serialize};
use weir_common::{Result, SqlState, StreamChunk, WeirError};
use weir_connectors::{
    DeadLetter, Ingest, Ingested, KafkaOptions, KafkaReader, Metadata, PartitionStatus,
    SourceFormat, SourceSchema,
};
use weir_sql::{ConnectorRelation, CreateConnector};
use weir_storage::keys::{self, Space};
use weir_storage::{EpochWrite, ReadSnapshot, StoredTable};

use crate::bounded_log::{BoundedLog, read_log};
use crate::maintainer::Input;

/// A source as its reader needs it.
#[derive(Clone, Debug)]
pub(crate) struct SourceDefinition {
    pub name: String,
    pub options: KafkaOptions,
    pub format: SourceFormat,
    pub schema: SourceSchema,
}

impl SourceDefinition {
    /// The source `create` defines, its declared columns planned as `declared`.
    pub fn new(create: &CreateConnector, declared: SchemaRef) -> Result<SourceDefinition> {
        match create.option("connector") {
            Some("kafka") => {}
            Some(other) => {
                return Err(WeirError::not_supported(format!("connector '{other}'"))
                    .with_hint("weir reads sources from Kafka: connector = 'kafka'."));
            }
            None => return Err(WeirError::syntax("a source needs the option connector")),
        }
        let Some(format) = &create.format else {
            return Err(WeirError::syntax(
                "a source needs FORMAT … ENCODE … after its WITH options",
            ));
        };
        let format = SourceFormat::parse(format)?;
        let metadata = create
            .includes
            .iter()
            .map(|include| {
                let item = Metadata::parse(&include.item)?;
                let name = include
                    .alias
                    .as_ref()
                    .map(|alias| alias.value.clone())
                    .unwrap_or_else(|| item.default_name().to_owned());
                Ok((item, name))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut schema = SourceSchema {
            declared,
            metadata,
            primary_key: None,
        };
        let key = create.primary_key();
        match create.relation {
            ConnectorRelation::Table => {
                let full = schema.full();
                let columns = key
                    .iter()
                    .map(|name| {
                        full.index_of(name).map_err(|_| {
                            WeirError::new(
                                SqlState::UNDEFINED_COLUMN,
                                format!(
                                    "primary key column \"{name}\" is not a column of the table"
                                ),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                if format.changes_rows() && columns.is_empty() {
                    return Err(WeirError::new(
                        SqlState::INVALID_TABLE_DEFINITION,
                        "a table fed by FORMAT UPSERT or DEBEZIUM needs a primary key",
                    )
                    .with_hint("Declare PRIMARY KEY (…): records update and delete rows by it."));
                }
                schema.primary_key = Some(columns);
            }
            ConnectorRelation::Source if format.changes_rows() => {
                return Err(WeirError::not_supported(
                    "a source with FORMAT UPSERT or DEBEZIUM",
                )
                .with_hint(
                    "Their records update and delete rows: use CREATE TABLE … (…, PRIMARY KEY (…)) WITH (…) FORMAT ….",
                ));
            }
            ConnectorRelation::Source if !key.is_empty() => {
                return Err(WeirError::not_supported("a primary key on a source").with_hint(
                    "A source stores no rows; a table fed by Kafka (CREATE TABLE … WITH (connector = 'kafka', …)) can have one.",
                ));
            }
            ConnectorRelation::Source => {}
        }
        Ok(SourceDefinition {
            name: create.name.to_string(),
            options: KafkaOptions::parse(&create.options)?,
            format,
            schema,
        })
    }
}

/// A record a source could not decode, as `weir_catalog.source_dead_letters` shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct StoredDeadLetter {
    pub source_id: u32,
    pub reader_id: u32,
    pub topic: String,
    #[serde(flatten)]
    pub letter: DeadLetter,
}

pub(crate) fn read_dead_letters(snapshot: &ReadSnapshot) -> Result<Vec<StoredDeadLetter>> {
    read_log(snapshot, Space::DeadLetters)
}

/// One view's reader of one source, or a Kafka-fed table's reader.
struct Reader {
    /// The materialized view the reader feeds, or the table.
    owner: u32,
    /// The table the reader feeds: the records change its rows, and every view that
    /// reads the table follows. `None` for a view's reader of a source.
    table: Option<Arc<StoredTable>>,
    source: u32,
    relation: TableReference,
    topic: String,
    ingest: Arc<Ingest>,
    _reader: KafkaReader,
}

/// What a barrier took from one reader.
pub(crate) struct Taken {
    ingest: Arc<Ingest>,
    ingested: Ingested,
}

/// A row of `weir_catalog.source_partitions`.
pub(crate) struct ReaderStatus {
    pub source: u32,
    pub owner: u32,
    pub topic: String,
    pub partition: i32,
    pub status: PartitionStatus,
}

/// The defined sources and their running readers.
pub(crate) struct Sources {
    definitions: HashMap<u32, SourceDefinition>,
    readers: Vec<Reader>,
    dead_letters: BoundedLog,
}

impl Sources {
    /// The sources as of `snapshot`, keeping the latest `max_dead_letters` dead letters.
    pub fn open(snapshot: &ReadSnapshot, max_dead_letters: u64) -> Result<Sources> {
        Ok(Sources {
            definitions: HashMap::new(),
            readers: Vec::new(),
            dead_letters: BoundedLog::open(snapshot, Space::DeadLetters, max_dead_letters)?,
        })
    }

    pub fn define(&mut self, id: u32, definition: SourceDefinition) {
        self.definitions.insert(id, definition);
    }

    pub fn is_source(&self, id: u32) -> bool {
        self.definitions.contains_key(&id)
    }

    /// Forgets a dropped object: a source's definition, a view's readers.
    pub fn forget(&mut self, id: u32) {
        self.definitions.remove(&id);
        self.readers.retain(|reader| reader.owner != id);
    }

    /// Starts the reader of source `source` (known as `relation`) for view `owner`, from
    /// the offsets committed as of `snapshot`.
    pub fn start_reader(
        &mut self,
        owner: u32,
        source: u32,
        relation: TableReference,
        snapshot: &ReadSnapshot,
    ) -> Result<()> {
        let definition = self
            .definitions
            .get(&source)
            .ok_or_else(|| WeirError::internal(format!("source {source} is not defined")))?
            .clone();
        self.start(owner, source, relation, &definition, None, snapshot)
    }

    /// Starts the reader that feeds the Kafka-fed table `table` (its id, known as
    /// `relation`), from the offsets committed as of `snapshot`.
    pub fn start_table_reader(
        &mut self,
        relation: TableReference,
        definition: &SourceDefinition,
        table: Arc<StoredTable>,
        snapshot: &ReadSnapshot,
    ) -> Result<()> {
        let id = table.descriptor().id;
        self.start(id, id, relation, definition, Some(table), snapshot)
    }

    fn start(
        &mut self,
        owner: u32,
        source: u32,
        relation: TableReference,
        definition: &SourceDefinition,
        table: Option<Arc<StoredTable>>,
        snapshot: &ReadSnapshot,
    ) -> Result<()> {
        let committed = committed_offsets(snapshot, owner, source)?;
        let ingest = Arc::new(Ingest::new(&committed));
        let reader = KafkaReader::start(
            definition.name.clone(),
            definition.options.clone(),
            &definition.format,
            definition.schema.clone(),
            committed,
            ingest.clone(),
        );
        self.readers.push(Reader {
            owner,
            table,
            source,
            relation,
            topic: definition.options.topic.clone(),
            ingest,
            _reader: reader,
        });
        Ok(())
    }

    /// Takes what every reader has read since the last barrier: the rows as inputs for
    /// the views that own the readers, or applied to the tables they feed (as of
    /// `latest`); the tables' changes, the offsets and dead letters go into `write`.
    pub fn take(
        &mut self,
        latest: &ReadSnapshot,
        write: &mut EpochWrite,
    ) -> Result<(Vec<Taken>, Vec<Input>)> {
        let taken: Vec<(&Reader, Taken)> = self
            .readers
            .iter()
            .filter_map(|reader| {
                let ingested = reader.ingest.take()?;
                let ingest = reader.ingest.clone();
                Some((reader, Taken { ingest, ingested }))
            })
            .collect();
        let mut inputs = Vec::new();
        let mut letters = Vec::new();
        for (reader, Taken { ingested, .. }) in &taken {
            match reader.input(ingested, latest, write) {
                Ok(input) => inputs.extend(input),
                Err(error) => {
                    taken.into_iter().for_each(|(_, taken)| taken.restore());
                    return Err(error);
                }
            }
            letters.extend(ingested.dead_letters.iter().map(|letter| StoredDeadLetter {
                source_id: reader.source,
                reader_id: reader.owner,
                topic: reader.topic.clone(),
                letter: letter.clone(),
            }));
        }
        self.dead_letters.append(&letters, write);
        Ok((taken.into_iter().map(|(_, taken)| taken).collect(), inputs))
    }

    /// Every reader's partitions.
    pub fn status(&self) -> Vec<ReaderStatus> {
        let mut rows = Vec::new();
        for reader in &self.readers {
            for (partition, status) in reader.ingest.status() {
                rows.push(ReaderStatus {
                    source: reader.source,
                    owner: reader.owner,
                    topic: reader.topic.clone(),
                    partition,
                    status,
                });
            }
        }
        rows
    }
}

impl Reader {
    /// What `ingested` changes: the input of the view that owns the reader, or of the
    /// views of the table it feeds, whose new rows go into `write`; the offsets go into
    /// `write` too.
    fn input(
        &self,
        ingested: &Ingested,
        latest: &ReadSnapshot,
        write: &mut EpochWrite,
    ) -> Result<Option<Input>> {
        for (partition, offset) in &ingested.next_offsets {
            write.put(
                &keys::source_offset(self.owner, self.source, *partition),
                &offset.to_be_bytes(),
            );
        }
        let Some(first) = ingested.rows.first() else {
            return Ok(None);
        };
        let changes = StreamChunk::concat(&first.schema(), &ingested.rows)?;
        Ok(Some(match &self.table {
            Some(table) => Input {
                relation: self.relation.clone(),
                only_view: None,
                changes: table.apply_changes(&changes, latest, write)?,
            },
            None => Input {
                relation: self.relation.clone(),
                only_view: Some(self.owner),
                changes,
            },
        }))
    }
}

impl Taken {
    /// The epoch committed: the reader's status shows the new offsets.
    pub fn committed(self) {
        self.ingest.committed(&self.ingested.next_offsets);
    }

    /// The epoch failed: the reader's rows wait for the next barrier.
    pub fn restore(self) {
        self.ingest.restore(self.ingested);
    }
}

/// The offsets committed for `owner`'s reader of `source` as of `snapshot`.
fn committed_offsets(
    snapshot: &ReadSnapshot,
    owner: u32,
    source: u32,
) -> Result<BTreeMap<i32, i64>> {
    let mut prefix = keys::source_offsets_prefix(owner);
    prefix.extend_from_slice(&source.to_be_bytes());
    let end = keys::prefix_end(&prefix).expect("offset prefixes are never all 0xFF");
    let mut offsets = BTreeMap::new();
    snapshot.scan(&prefix, Some(&end), |key, value| {
        if let (Some(partition), Ok(offset)) = (
            key.get(prefix.len()..)
                .and_then(|bytes| <[u8; 4]>::try_from(bytes).ok()),
            <[u8; 8]>::try_from(value),
        ) {
            offsets.insert(
                u32::from_be_bytes(partition) as i32,
                i64::from_be_bytes(offset),
            );
        }
        true
    })?;
    Ok(offsets)
}
