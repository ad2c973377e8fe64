//! Projection: computes each output column from the input row; weights pass through.

use datafusion::arrow::datatypes::SchemaRef;
use weir_common::{Result, StreamChunk};

use crate::expr::Compiled;
use crate::operator::Operator;
use crate::row_errors::{RowError, evaluate_or_skip};

pub(crate) struct Project {
    exprs: Vec<Compiled>,
    schema: SchemaRef,
}

impl Project {
    pub fn new(exprs: Vec<Compiled>, schema: SchemaRef) -> Self {
        Project { exprs, schema }
    }
}

impl Operator for Project {
    fn apply(
        &mut self,
        _input: usize,
        chunk: &StreamChunk,
        errors: &mut Vec<RowError>,
    ) -> Result<StreamChunk> {
        let (kept, columns) = evaluate_or_skip(&self.exprs, chunk, errors)?;
        kept.with_columns(self.schema.clone(), columns)
    }
}
