//! `weir_catalog.objects`: every table and view, with the SQL that created it (secrets
//! redacted), the objects it reads from, and why it failed, for a materialized view or
//! sink that is no longer maintained.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, Int64Builder, ListBuilder, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::sql::sqlparser::ast::Statement;
use weir_catalog::{CatalogEntry, ObjectKind};
use weir_common::Result;
use weir_storage::{ReadSnapshot, Store, ViewFailure};

use super::SystemTable;
use crate::database::catalog_entries;

pub(super) fn table(store: Arc<Store>) -> SystemTable {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("schema_name", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("definition", DataType::Utf8, false),
        Field::new("query", DataType::Utf8, true),
        Field::new(
            "depends_on",
            DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true))),
            false,
        ),
        Field::new("failure", DataType::Utf8, true),
    ]));
    SystemTable::new("objects", schema, Box::new(rows), store)
}

fn rows(snapshot: &ReadSnapshot, schema: &SchemaRef) -> Result<RecordBatch> {
    let entries = catalog_entries(snapshot)?;
    let mut depends_on = ListBuilder::new(Int64Builder::new());
    let mut failures = Vec::with_capacity(entries.len());
    for entry in &entries {
        depends_on.append_value(entry.depends_on.iter().map(|id| Some(i64::from(*id))));
        failures.push(
            ViewFailure::read(entry.id, snapshot)?
                .map(|failure| format!("{}: {}", failure.state, failure.message)),
        );
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(
            entries.iter().map(|entry| i64::from(entry.id)),
        )),
        strings(&entries, |entry| Some(entry.schema.clone())),
        strings(&entries, |entry| Some(entry.name.clone())),
        strings(&entries, |entry| Some(entry.kind.describe().to_owned())),
        strings(&entries, |entry| {
            Some(weir_sql::redacted(&entry.definition))
        }),
        strings(&entries, view_query),
        Arc::new(depends_on.finish()),
        Arc::new(failures.into_iter().collect::<StringArray>()),
    ];
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

fn strings(entries: &[CatalogEntry], value: impl Fn(&CatalogEntry) -> Option<String>) -> ArrayRef {
    Arc::new(entries.iter().map(value).collect::<StringArray>())
}

/// The query of a view or materialized view, as `pg_get_viewdef` shows it; `None` for
/// tables.
pub(crate) fn view_query(entry: &CatalogEntry) -> Option<String> {
    if entry.kind == ObjectKind::Table {
        return None;
    }
    // Definitions were parsed when the object was created and again at start-up.
    match weir_sql::parse_sql(&entry.definition).ok()? {
        Statement::CreateView(create) => Some(format!("{};", create.query)),
        _ => None,
    }
}
