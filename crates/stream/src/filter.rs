//! Filter: keeps the rows whose predicate is true (not false, not NULL), with their
//! weights. Being linear, it needs no state: a deleted row is dropped or kept exactly as
//! its insertion was.

use datafusion::arrow::array::AsArray;
use weir_common::{Result, StreamChunk};

use crate::expr::{Compiled, evaluate};
use crate::operator::Operator;

pub(crate) struct Filter {
    predicate: Compiled,
}

impl Filter {
    pub fn new(predicate: Compiled) -> Self {
        Filter { predicate }
    }
}

impl Operator for Filter {
    fn apply(&mut self, _input: usize, chunk: &StreamChunk) -> Result<StreamChunk> {
        let mask = evaluate(&self.predicate, chunk.rows())?;
        chunk.filter(mask.as_boolean())
    }
}
