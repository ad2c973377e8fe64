//! `COPY … FROM STDIN` and `COPY … TO STDOUT`: how psql's `\copy` and bulk loaders move
//! data in and out.
//!
//! Incoming data is gathered until the client ends the copy, then parsed, converted to the
//! table's column types with the same casts an INSERT uses, and inserted as one statement:
//! atomically, with defaults for columns the COPY does not name and every constraint
//! checked. A client that disconnects or fails the copy leaves the table untouched.
//! Reading from or writing to files on the server is not offered; psql's `\copy` reads
//! and writes files on the client instead.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::TableReference;
use datafusion::common::{Column, ScalarValue};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::provider_as_source;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, cast, lit};
use weir_common::{Result, SqlState, WeirError};

use crate::copy_format::CopyFormat;

/// A `COPY … FROM STDIN` waiting for its data.
#[derive(Debug)]
pub(crate) struct PendingCopy {
    pub table: TableReference,
    /// The columns the data holds, in order.
    pub columns: Vec<String>,
    pub format: CopyFormat,
    pub data: Vec<u8>,
}

impl PendingCopy {
    /// Parses the gathered data and inserts it; returns the number of rows.
    pub async fn finish(self, context: &SessionContext) -> Result<usize> {
        let rows = self.format.parse(&self.data)?;
        if rows.is_empty() {
            return Ok(0);
        }
        let provider = context.table_provider(self.table.clone()).await?;
        let batch = self.text_batch(rows)?;
        let frame = context.read_batch(batch)?;
        let target = provider.schema();
        let projection: Vec<Expr> = target
            .fields()
            .iter()
            .map(|field| {
                let value = match self.columns.iter().position(|c| c == field.name()) {
                    Some(index) => Expr::Column(Column::new_unqualified(format!("c{index}"))),
                    None => provider
                        .get_column_default(field.name())
                        .cloned()
                        .unwrap_or_else(|| lit(ScalarValue::Null)),
                };
                cast(value, field.data_type().clone()).alias(field.name())
            })
            .collect();
        let (state, plan) = frame.select(projection)?.into_parts();
        let insert = LogicalPlanBuilder::insert_into(
            plan,
            self.table.clone(),
            provider_as_source(provider),
            InsertOp::Append,
        )?
        .build()?;
        let counts = DataFrame::new(state, insert).collect().await?;
        Ok(crate::session::count_rows(&counts))
    }

    /// The rows as columns of text named `c0`, `c1`…, one per COPY column.
    fn text_batch(&self, rows: Vec<Vec<Option<String>>>) -> Result<RecordBatch> {
        let width = self.columns.len();
        for (index, row) in rows.iter().enumerate() {
            if row.len() != width {
                let message = if row.len() < width {
                    format!("missing data for column \"{}\"", self.columns[row.len()])
                } else {
                    "extra data after last expected column".to_owned()
                };
                return Err(WeirError::new(SqlState::BAD_COPY_FILE_FORMAT, message)
                    .with_detail(format!("COPY {}, line {}", self.table, index + 1)));
            }
        }
        let columns: Vec<ArrayRef> = (0..width)
            .map(|index| {
                Arc::new(StringArray::from_iter(
                    rows.iter().map(|row| row[index].as_deref()),
                )) as ArrayRef
            })
            .collect();
        let schema = Schema::new(
            (0..width)
                .map(|index| Field::new(format!("c{index}"), DataType::Utf8, true))
                .collect::<Vec<_>>(),
        );
        Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
    }
}
