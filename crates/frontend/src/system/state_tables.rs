//! `weir_catalog.state_tables`: every operator's state table, with its owner (the
//! materialized view), its operator id in the view's stream plan (as EXPLAIN shows it),
//! and how many rows and bytes it holds. Computed by reading the state key space, so its
//! cost grows with the state.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use weir_common::Result;
use weir_storage::{ReadSnapshot, Store, keys};

use super::{SystemTable, object_names};

pub(super) fn table(store: Arc<Store>) -> SystemTable {
    let schema = Arc::new(Schema::new(vec![
        Field::new("owner", DataType::Utf8, true),
        Field::new("owner_id", DataType::Int64, false),
        Field::new("operator", DataType::Int32, false),
        Field::new("rows", DataType::Int64, false),
        Field::new("bytes", DataType::Int64, false),
    ]));
    SystemTable::new("state_tables", schema, Box::new(rows), store)
}

fn rows(snapshot: &ReadSnapshot, schema: &SchemaRef) -> Result<RecordBatch> {
    let (start, end) = keys::state_range();
    let mut tables: BTreeMap<(u32, u16), (i64, i64)> = BTreeMap::new();
    snapshot.scan(&start, Some(&end), |key, value| {
        if let (Ok(owner), Ok(operator)) = (
            <[u8; 4]>::try_from(&key[1..5]),
            <[u8; 2]>::try_from(&key[5..7]),
        ) {
            let entry = tables
                .entry((u32::from_be_bytes(owner), u16::from_be_bytes(operator)))
                .or_default();
            entry.0 += 1;
            entry.1 += (key.len() + value.len()) as i64;
        }
        true
    })?;
    let names = object_names(snapshot)?;
    let name = |id: u32| names.get(&id).cloned();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            tables
                .keys()
                .map(|(owner, _)| name(*owner))
                .collect::<StringArray>(),
        ),
        Arc::new(Int64Array::from_iter_values(
            tables.keys().map(|(owner, _)| i64::from(*owner)),
        )),
        Arc::new(Int32Array::from_iter_values(
            tables.keys().map(|(_, op)| i32::from(*op)),
        )),
        Arc::new(Int64Array::from_iter_values(
            tables.values().map(|(rows, _)| *rows),
        )),
        Arc::new(Int64Array::from_iter_values(
            tables.values().map(|(_, bytes)| *bytes),
        )),
    ];
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}
