//! PostgreSQL's limit on the size of one value (1 GB): `repeat`, `lpad` and `rpad` asked
//! for a longer string fail at once with 54000 "requested length too large", as in
//! PostgreSQL, instead of allocating for seconds. Each wraps DataFusion's function of the
//! same name and checks its arguments, a batch at a time, before calling it.

use std::sync::Arc;

use datafusion::arrow::array::Int64Array;
use datafusion::arrow::compute::cast;
use datafusion::arrow::compute::kernels::length::length;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result as DfResult;
use datafusion::execution::FunctionRegistry;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl};
use weir_common::{SqlState, WeirError};

use crate::wrapped_function::same_signature_as_inner;

/// The largest value PostgreSQL stores, in bytes (`MaxAllocSize`).
const MAX_VALUE_BYTES: i64 = (1 << 30) - 1;

/// The most bytes one character takes in UTF-8, by which PostgreSQL bounds a padding.
const MAX_CHAR_BYTES: i64 = 4;

/// Replaces DataFusion's `repeat`, `lpad` and `rpad` with their limited versions.
pub(crate) fn register(context: &SessionContext) {
    for (name, limit) in [
        ("repeat", Limit::Repeat),
        ("lpad", Limit::Pad),
        ("rpad", Limit::Pad),
    ] {
        if let Ok(inner) = context.udf(name) {
            context.register_udf(ScalarUDF::new_from_impl(LengthLimited { inner, limit }));
        }
    }
}

/// How a function's arguments bound its result's length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Limit {
    /// `repeat(text, n)`: the text's length times `n`.
    Repeat,
    /// `lpad(text, n [, fill])`: `n` characters.
    Pad,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct LengthLimited {
    inner: Arc<ScalarUDF>,
    limit: Limit,
}

impl LengthLimited {
    /// The largest result, in bytes, any row of `args` asks for (saturating: a product
    /// beyond i64 is as much too large as any over the limit).
    fn largest_request(&self, args: &ScalarFunctionArgs) -> DfResult<i64> {
        let rows = args.number_rows;
        let (Some(text), Some(count)) = (args.args.first(), args.args.get(1)) else {
            return Ok(0);
        };
        let count = cast(&count.to_array(rows)?, &DataType::Int64)?;
        let count = count.as_any().downcast_ref::<Int64Array>().expect("int64");
        let largest = match self.limit {
            Limit::Pad => count
                .iter()
                .flatten()
                .map(|n| n.saturating_mul(MAX_CHAR_BYTES))
                .max(),
            Limit::Repeat => {
                let lengths = cast(&length(&text.to_array(rows)?)?, &DataType::Int64)?;
                let lengths = lengths
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .expect("int64");
                lengths
                    .iter()
                    .zip(count.iter())
                    .filter_map(|(length, count)| Some(length?.saturating_mul(count?)))
                    .max()
            }
        };
        Ok(largest.unwrap_or(0))
    }
}

impl ScalarUDFImpl for LengthLimited {
    same_signature_as_inner!();

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        if self.largest_request(&args)? > MAX_VALUE_BYTES {
            let error = WeirError::new(
                SqlState::PROGRAM_LIMIT_EXCEEDED,
                "requested length too large",
            );
            return Err(error.into_datafusion());
        }
        self.inner.invoke_with_args(args)
    }
}
