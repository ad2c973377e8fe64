//! One catalog object and its stored form.

use serde::{Deserialize, Serialize};
use weir_common::{Result, WeirError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectKind {
    Table,
    View,
    MaterializedView,
    /// A Kafka source: its records reach the materialized views that read it; no rows
    /// are stored.
    Source,
    /// A Kafka sink: the changes of a query, sent to a topic; it is read by nothing.
    Sink,
}

impl ObjectKind {
    /// The word PostgreSQL uses in messages and `\d` output.
    pub fn describe(self) -> &'static str {
        match self {
            ObjectKind::Table => "table",
            ObjectKind::View => "view",
            ObjectKind::MaterializedView => "materialized view",
            ObjectKind::Source => "source",
            ObjectKind::Sink => "sink",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogEntry {
    /// Unique, never reused, increasing in creation order. A table's rows are stored
    /// under its id.
    pub id: u32,
    pub schema: String,
    pub name: String,
    pub kind: ObjectKind,
    /// The statement that created the object, as SQL text.
    pub definition: String,
    /// Ids of the objects this one reads from.
    pub depends_on: Vec<u32>,
}

impl CatalogEntry {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("catalog entries always serialize")
    }

    pub fn decode(bytes: &[u8]) -> Result<CatalogEntry> {
        serde_json::from_slice(bytes)
            .map_err(|e| WeirError::internal(format!("corrupt catalog entry: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let entry = CatalogEntry {
            id: 9,
            schema: "public".into(),
            name: "orders".into(),
            kind: ObjectKind::Table,
            definition: "CREATE TABLE orders (id INT PRIMARY KEY)".into(),
            depends_on: vec![],
        };
        assert_eq!(CatalogEntry::decode(&entry.encode()).unwrap(), entry);
    }
}
