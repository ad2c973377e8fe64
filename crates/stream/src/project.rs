//! Projection: computes each output column from the input row; weights pass through.

use datafusion::arrow::datatypes::SchemaRef;
use weir_common::{Result, StreamChunk};

use crate::expr::{Compiled, evaluate};
use crate::operator::Operator;

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
    fn apply(&mut self, _input: usize, chunk: &StreamChunk) -> Result<StreamChunk> {
        let columns = self
            .exprs
            .iter()
            .map(|expr| evaluate(expr, chunk.rows()))
            .collect::<Result<Vec<_>>>()?;
        chunk.with_columns(self.schema.clone(), columns)
    }
}
