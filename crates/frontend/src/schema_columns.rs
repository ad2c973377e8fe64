//! A connector relation declared without columns takes them from its format's schema
//! (`ENCODE AVRO`: the registry subject's latest version or the inline definition).
//! The statement is completed with those columns before it is planned and stored, so
//! the catalog keeps the columns as they were at CREATE and a restart does not ask the
//! registry again. Declared columns are checked against that schema instead.

use datafusion::sql::sqlparser::ast::Statement;
use weir_common::{Result, WeirError};
use weir_connectors::{InferredColumn, SourceFormat, check_declared_columns, inferred_columns};
use weir_sql::CreateConnector;

use crate::sources::SourceDefinition;

/// `create` with its columns; as it is if it declares some (or no format to take them
/// from, which planning reports).
pub(crate) async fn with_schema_columns(create: &CreateConnector) -> Result<CreateConnector> {
    let mut create = create.clone();
    let Some(format) = &create.format else {
        return Ok(create);
    };
    if !create.columns.is_empty() {
        return Ok(create);
    }
    let format = SourceFormat::parse(format)?;
    let topic = create.option("topic").unwrap_or_default().to_owned();
    let columns = tokio::task::spawn_blocking(move || inferred_columns(&format, &topic))
        .await
        .map_err(|e| WeirError::internal(format!("reading the source's schema failed: {e}")))??;
    create.columns = column_definitions(&columns)?;
    Ok(create)
}

/// Checks the columns `source` declares against its format's schema, if it has one
/// (see [`check_declared_columns`]); a registry that cannot tell now is a notice.
pub(crate) async fn check_declared(
    source: &SourceDefinition,
    notices: &mut Vec<String>,
) -> Result<()> {
    let (format, topic, declared) = (
        source.format.clone(),
        source.options.topic.clone(),
        source.schema.declared.clone(),
    );
    let notice =
        tokio::task::spawn_blocking(move || check_declared_columns(&format, &topic, &declared))
            .await
            .map_err(|e| {
                WeirError::internal(format!("checking the source's columns failed: {e}"))
            })??;
    notices.extend(notice);
    Ok(())
}

/// The columns as SQL column definitions, names quoted so that they keep their case.
fn column_definitions(
    columns: &[InferredColumn],
) -> Result<Vec<datafusion::sql::sqlparser::ast::ColumnDef>> {
    let list: Vec<String> = columns
        .iter()
        .map(|column| {
            format!(
                "\"{}\" {}",
                column.name.replace('"', "\"\""),
                column.sql_type
            )
        })
        .collect();
    match weir_sql::parse_sql(&format!("CREATE TABLE t ({})", list.join(", ")))? {
        Statement::CreateTable(table) => Ok(table.columns),
        _ => Err(WeirError::internal(
            "inferred columns did not parse as a table's",
        )),
    }
}
