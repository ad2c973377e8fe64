//! The `weir_catalog` schema: read-only tables that describe the database itself.
//!
//! Each system table is computed when a statement scans it, from the same snapshot the
//! statement reads user tables through, so a query joining system and user tables sees
//! one epoch of both.

mod dead_letters;
mod objects;
mod sinks;
mod source_partitions;
mod state_tables;
mod table;
mod view_errors;

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use datafusion::catalog::{MemorySchemaProvider, SchemaProvider};
use datafusion::execution::context::SessionContext;
use weir_catalog::DATABASE_NAME;
use weir_common::{Result, WeirError};
use weir_sql::SYSTEM_SCHEMA;
use weir_storage::{ReadSnapshot, Store};

use crate::database::catalog_entries;
use crate::maintainer::Maintainer;

use table::SystemTable;

/// The names of the catalog objects as of `snapshot`, by id.
fn object_names(snapshot: &ReadSnapshot) -> Result<HashMap<u32, String>> {
    Ok(catalog_entries(snapshot)?
        .into_iter()
        .map(|entry| (entry.id, entry.name))
        .collect())
}

/// Creates the system schema and its tables in `context`.
pub(crate) fn register(
    context: &SessionContext,
    store: &Arc<Store>,
    maintainer: Weak<Maintainer>,
) -> Result<()> {
    let schema = Arc::new(MemorySchemaProvider::new());
    for table in [
        objects::table(store.clone()),
        state_tables::table(store.clone()),
        view_errors::table(store.clone()),
        dead_letters::table(store.clone()),
        source_partitions::table(store.clone(), maintainer.clone()),
        sinks::table(store.clone(), maintainer),
    ] {
        schema.register_table(table.name().to_owned(), Arc::new(table))?;
    }
    context
        .catalog(DATABASE_NAME)
        .ok_or_else(|| WeirError::internal("the weir database is not registered"))?
        .register_schema(SYSTEM_SCHEMA, schema)?;
    Ok(())
}
