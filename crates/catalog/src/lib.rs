//! The catalog: which tables and views exist, what they were created with, and what
//! depends on what.
//!
//! An object is stored as the SQL statement that created it, not as a derived schema:
//! at start-up weir plans every stored statement again, in creation order, which gives
//! back the same schemas, defaults and constraints without a second serialization format
//! to keep in step with the planner. Planning must therefore stay deterministic.
//!
//! This crate knows nothing of where entries are kept; the database persists the bytes of
//! [`CatalogEntry::encode`] under the entry's id.

mod entry;

pub use entry::{CatalogEntry, ObjectKind};

use std::collections::BTreeMap;

use weir_common::{Result, SqlState, WeirError};

/// The schema user objects live in unless another is named.
pub const DEFAULT_SCHEMA: &str = "public";

/// The name of the one database a weir server holds.
pub const DATABASE_NAME: &str = "weir";

#[derive(Debug, Default)]
pub struct Catalog {
    entries: BTreeMap<u32, CatalogEntry>,
    next_id: u32,
}

impl Catalog {
    /// A catalog holding `entries`, e.g. those read back at start-up.
    pub fn from_entries(entries: impl IntoIterator<Item = CatalogEntry>) -> Catalog {
        let entries: BTreeMap<u32, CatalogEntry> =
            entries.into_iter().map(|entry| (entry.id, entry)).collect();
        let next_id = entries.keys().next_back().map_or(1, |id| id + 1);
        Catalog { entries, next_id }
    }

    /// Every entry, in creation order.
    pub fn entries(&self) -> impl Iterator<Item = &CatalogEntry> {
        self.entries.values()
    }

    pub fn get(&self, id: u32) -> Option<&CatalogEntry> {
        self.entries.get(&id)
    }

    pub fn lookup(&self, schema: &str, name: &str) -> Option<&CatalogEntry> {
        self.entries
            .values()
            .find(|entry| entry.schema == schema && entry.name == name)
    }

    /// The id the next created object gets.
    pub fn next_id(&self) -> u32 {
        self.next_id
    }

    /// Refuses a name that is taken by any object in `schema`.
    pub fn check_name_free(&self, schema: &str, name: &str) -> Result<()> {
        match self.lookup(schema, name) {
            Some(existing) => Err(WeirError::new(
                SqlState::DUPLICATE_TABLE,
                format!("relation \"{}\" already exists", existing.name),
            )),
            None => Ok(()),
        }
    }

    pub fn insert(&mut self, entry: CatalogEntry) {
        self.next_id = self.next_id.max(entry.id + 1);
        self.entries.insert(entry.id, entry);
    }

    pub fn remove(&mut self, id: u32) -> Option<CatalogEntry> {
        self.entries.remove(&id)
    }

    /// The objects that would have to go with `id`: everything that depends on it,
    /// directly or through others, newest first so each can be dropped before what it
    /// depends on.
    pub fn dependents(&self, id: u32) -> Vec<&CatalogEntry> {
        let mut found: Vec<u32> = Vec::new();
        let mut frontier = vec![id];
        while let Some(current) = frontier.pop() {
            for entry in self.entries.values() {
                if entry.depends_on.contains(&current) && !found.contains(&entry.id) {
                    found.push(entry.id);
                    frontier.push(entry.id);
                }
            }
        }
        found.sort_unstable_by(|a, b| b.cmp(a));
        found.iter().filter_map(|id| self.entries.get(id)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u32, name: &str, kind: ObjectKind, depends_on: Vec<u32>) -> CatalogEntry {
        CatalogEntry {
            id,
            schema: DEFAULT_SCHEMA.to_owned(),
            name: name.to_owned(),
            kind,
            definition: String::new(),
            depends_on,
        }
    }

    #[test]
    fn dependents_are_found_transitively_newest_first() {
        let catalog = Catalog::from_entries([
            entry(1, "t", ObjectKind::Table, vec![]),
            entry(2, "v1", ObjectKind::View, vec![1]),
            entry(3, "v2", ObjectKind::View, vec![2]),
            entry(4, "other", ObjectKind::Table, vec![]),
        ]);
        let names: Vec<&str> = catalog
            .dependents(1)
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(names, vec!["v2", "v1"]);
        assert_eq!(catalog.next_id(), 5);
    }

    #[test]
    fn names_are_unique_per_schema() {
        let catalog = Catalog::from_entries([entry(1, "t", ObjectKind::Table, vec![])]);
        let error = catalog.check_name_free(DEFAULT_SCHEMA, "t").unwrap_err();
        assert_eq!(error.state, SqlState::DUPLICATE_TABLE);
        assert!(catalog.check_name_free("other", "t").is_ok());
    }
}
