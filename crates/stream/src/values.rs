//! Constant rows (`VALUES`, or a query without `FROM`): inserted once, when the view is
//! created, and never changed.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::Expr;
use weir_common::{Result, StreamChunk};

use crate::expr::{compile, evaluate};
use crate::operator::Operator;
use crate::row_errors::RowError;

pub(crate) struct Values {
    rows: Vec<Vec<Expr>>,
    schema: SchemaRef,
}

impl Values {
    pub fn new(rows: Vec<Vec<Expr>>, schema: SchemaRef) -> Self {
        Values { rows, schema }
    }
}

impl Operator for Values {
    fn initial(&mut self) -> Result<Option<StreamChunk>> {
        // The expressions are constants: evaluate each over a one-row batch of nothing.
        let one_row = RecordBatch::try_new_with_options(
            std::sync::Arc::new(datafusion::arrow::datatypes::Schema::empty()),
            vec![],
            &datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(1)),
        )?;
        let empty = DFSchema::empty();
        let mut columns: Vec<Vec<ScalarValue>> = vec![Vec::new(); self.schema.fields().len()];
        for row in &self.rows {
            for (index, expr) in row.iter().enumerate() {
                let value = evaluate(&compile(expr, &empty)?, &one_row)?;
                let target = self.schema.field(index).data_type();
                columns[index].push(ScalarValue::try_from_array(&value, 0)?.cast_to(target)?);
            }
        }
        let arrays = columns
            .into_iter()
            .zip(self.schema.fields())
            .map(|(values, field)| match values.is_empty() {
                true => Ok(datafusion::arrow::array::new_empty_array(field.data_type())),
                false => ScalarValue::iter_to_array(values),
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let options = datafusion::arrow::array::RecordBatchOptions::new()
            .with_row_count(Some(self.rows.len()));
        let batch = RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)?;
        Ok(Some(StreamChunk::inserts(batch)))
    }

    fn apply(
        &mut self,
        _input: usize,
        _chunk: &StreamChunk,
        _errors: &mut Vec<RowError>,
    ) -> Result<StreamChunk> {
        Ok(StreamChunk::empty(self.schema.clone()))
    }
}
