//! Values cast to text read as PostgreSQL writes them: `'-0'::float8::text` is `-0`,
//! `timestamp '…'::text` has a space (not `T`) and no `Z`, an interval is
//! `-1 days +02:00:00`, a `bytea` is `\x00ff` (see [`weir_common::pg_text`]). DataFusion's
//! cast writes Arrow's display instead.
//!
//! An analyzer rule, run after type coercion, replaces each cast to text of a float,
//! timestamp, time, interval or `bytea` by `pg_text_out`, in batch queries and views
//! alike.

use std::fmt::Write;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, StringArray};
use datafusion::arrow::datatypes::{DataType, IntervalUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::expr::{Cast, ScalarFunction};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;
use weir_common::pg_text::pg_text;

use crate::rule_support::{invoke_on_arrays, rewrite_expressions};

/// Registers the rule in `context`.
pub(crate) fn register(context: &SessionContext) {
    context.add_analyzer_rule(Arc::new(WriteTextAsPostgresDoes));
}

#[derive(Debug)]
struct WriteTextAsPostgresDoes;

impl AnalyzerRule for WriteTextAsPostgresDoes {
    fn name(&self) -> &str {
        "write_text_as_postgres_does"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        rewrite_expressions(
            plan,
            |_| false,
            |expr, schema| expr.transform_up(|expr| replace_cast(expr, schema)),
        )
    }
}

fn replace_cast(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::Cast(Cast { expr: inner, field }) = &expr else {
        return Ok(Transformed::no(expr));
    };
    let written_otherwise = matches!(
        inner.get_type(schema),
        Ok(DataType::Float32
            | DataType::Float64
            | DataType::Timestamp(_, _)
            | DataType::Time64(_)
            | DataType::Interval(IntervalUnit::MonthDayNano)
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView)
    );
    if !written_otherwise || *field.data_type() != DataType::Utf8 {
        return Ok(Transformed::no(expr));
    }
    let udf = ScalarUDF::new_from_impl(PgTextOut {
        signature: Signature::any(1, Volatility::Immutable),
    });
    Ok(Transformed::yes(Expr::ScalarFunction(
        ScalarFunction::new_udf(Arc::new(udf), vec![(**inner).clone()]),
    )))
}

/// `pg_text_out`: a value as PostgreSQL writes it as text.
#[derive(Debug, PartialEq, Eq, Hash)]
struct PgTextOut {
    signature: Signature,
}

impl ScalarUDFImpl for PgTextOut {
    fn name(&self) -> &str {
        "pg_text_out"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        invoke_on_arrays(&args, |values| match pg_text(&values[0]) {
            Some(text) => Ok(text),
            None => bytea_text(&values[0]),
        })
    }
}

/// `bytea` in PostgreSQL's default hex output: `\x` and two digits a byte.
fn bytea_text(values: &ArrayRef) -> Result<ArrayRef> {
    let binary = datafusion::arrow::compute::cast(values, &DataType::Binary)?;
    let text: StringArray = binary
        .as_binary::<i32>()
        .iter()
        .map(|bytes| {
            bytes.map(|bytes| {
                let mut text = String::with_capacity(2 + 2 * bytes.len());
                text.push_str("\\x");
                for byte in bytes {
                    let _ = write!(text, "{byte:02x}");
                }
                text
            })
        })
        .collect();
    Ok(Arc::new(text))
}
