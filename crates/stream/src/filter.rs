//! Filter: keeps the rows whose predicate is true (not false, not NULL), with their
//! weights. Being linear, it needs no state: a deleted row is dropped or kept exactly as
//! its insertion was.

use datafusion::arrow::array::AsArray;
use weir_common::{Result, StreamChunk};

use crate::expr::Compiled;
use crate::operator::Operator;
use crate::row_errors::{RowError, evaluate_or_skip};

pub(crate) struct Filter {
    predicate: Compiled,
}

impl Filter {
    pub fn new(predicate: Compiled) -> Self {
        Filter { predicate }
    }
}

impl Operator for Filter {
    fn apply(
        &mut self,
        _input: usize,
        chunk: &StreamChunk,
        errors: &mut Vec<RowError>,
    ) -> Result<StreamChunk> {
        let (kept, mask) = evaluate_or_skip(std::slice::from_ref(&self.predicate), chunk, errors)?;
        kept.filter(mask[0].as_boolean())
    }
}
