//! Operators whose output is their inputs' rows unchanged, under their own column names:
//! renames (subquery and CTE aliases), UNION ALL and sources.

use datafusion::arrow::datatypes::SchemaRef;
use weir_common::{Result, StreamChunk};

use crate::operator::Operator;
use crate::row_errors::RowError;

pub(crate) struct PassThrough {
    schema: SchemaRef,
}

impl PassThrough {
    pub fn new(schema: SchemaRef) -> Self {
        PassThrough { schema }
    }
}

impl Operator for PassThrough {
    fn apply(
        &mut self,
        _input: usize,
        chunk: &StreamChunk,
        _errors: &mut Vec<RowError>,
    ) -> Result<StreamChunk> {
        chunk.with_schema(self.schema.clone())
    }
}
