//! PostgreSQL's `jsonb` operators over the canonical JSON text weir stores (see
//! `weir_common::json`):
//!
//! | SQL            | meaning                                            | result  |
//! |----------------|----------------------------------------------------|---------|
//! | `j -> k`       | member `k` (text) or element `k` (integer)         | jsonb   |
//! | `j ->> k`      | the same, as text (JSON null is SQL NULL)          | text    |
//! | `j ? k`        | `k` is a key, or a string element of an array      | boolean |
//! | `j @> other`   | `j` contains `other`, by PostgreSQL's rules        | boolean |
//!
//! `@>` between arrays stays DataFusion's array containment.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{DFSchema, Result, ScalarValue, exec_err};
use datafusion::execution::FunctionRegistry;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion::sql::sqlparser::ast::BinaryOperator;
use weir_common::json::{Json, Selector, is_json};

use crate::type_planner::json_field;

/// Registers the operators in `context`.
pub(crate) fn register(context: &mut SessionContext) -> Result<()> {
    for operator in [
        Operator::Get,
        Operator::GetText,
        Operator::HasKey,
        Operator::Contains,
    ] {
        context.register_udf(Arc::new(ScalarUDF::new_from_impl(JsonOperator::new(
            operator,
        ))))?;
    }
    context.register_expr_planner(Arc::new(JsonOperatorPlanner))
}

#[derive(Debug)]
struct JsonOperatorPlanner;

impl ExprPlanner for JsonOperatorPlanner {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        let operator = match expr.op {
            BinaryOperator::Arrow => Operator::Get,
            BinaryOperator::LongArrow => Operator::GetText,
            BinaryOperator::Question => Operator::HasKey,
            BinaryOperator::AtArrow if is_json(expr.left.to_field(schema)?.1.as_ref()) => {
                Operator::Contains
            }
            _ => return Ok(PlannerResult::Original(expr)),
        };
        let function = Arc::new(ScalarUDF::new_from_impl(JsonOperator::new(operator)));
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(function, vec![expr.left, expr.right]),
        )))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Operator {
    Get,
    GetText,
    HasKey,
    Contains,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonOperator {
    operator: Operator,
    signature: Signature,
}

impl JsonOperator {
    fn new(operator: Operator) -> Self {
        JsonOperator {
            operator,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for JsonOperator {
    fn name(&self) -> &str {
        match self.operator {
            Operator::Get => "jsonb_object_field",
            Operator::GetText => "jsonb_object_field_text",
            Operator::HasKey => "jsonb_exists",
            Operator::Contains => "jsonb_contains",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arguments: &[DataType]) -> Result<DataType> {
        Ok(match self.operator {
            Operator::Get | Operator::GetText => DataType::Utf8,
            Operator::HasKey | Operator::Contains => DataType::Boolean,
        })
    }

    fn return_field_from_args(&self, _arguments: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(match self.operator {
            Operator::Get => json_field(self.name()),
            _ => Arc::new(datafusion::arrow::datatypes::Field::new(
                self.name(),
                self.return_type(&[])?,
                true,
            )),
        })
    }

    fn invoke_with_args(&self, arguments: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = arguments
            .args
            .iter()
            .all(|argument| matches!(argument, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&arguments.args)?;
        let documents = cast(&arrays[0], &DataType::Utf8)?;
        let documents = documents.as_string::<i32>();
        let result: ArrayRef = match self.operator {
            Operator::Get | Operator::GetText => {
                let selected = select(documents, &arrays[1])?;
                let text: StringArray = selected
                    .into_iter()
                    .map(|value| match self.operator {
                        Operator::Get => value.map(|json| json.to_string()),
                        _ => value.and_then(|json| json.as_text()),
                    })
                    .collect();
                Arc::new(text)
            }
            Operator::HasKey => {
                let keys = cast(&arrays[1], &DataType::Utf8)?;
                let result: BooleanArray = documents
                    .iter()
                    .zip(keys.as_string::<i32>().iter())
                    .map(|pair| match pair {
                        (Some(document), Some(key)) => Ok(Some(parse(document)?.has_key(key))),
                        _ => Ok(None),
                    })
                    .collect::<Result<_>>()?;
                Arc::new(result)
            }
            Operator::Contains => {
                let others = cast(&arrays[1], &DataType::Utf8)?;
                let result: BooleanArray = documents
                    .iter()
                    .zip(others.as_string::<i32>().iter())
                    .map(|pair| match pair {
                        (Some(document), Some(other)) => {
                            Ok(Some(parse(document)?.contains(&parse(other)?)))
                        }
                        _ => Ok(None),
                    })
                    .collect::<Result<_>>()?;
                Arc::new(result)
            }
        };
        Ok(match all_scalar {
            true => ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?),
            false => ColumnarValue::Array(result),
        })
    }
}

fn parse(text: &str) -> Result<Json> {
    Json::parse(text).map_err(weir_common::WeirError::into_datafusion)
}

/// The member or element each document's selector names: by key when the selectors are
/// text, by index when they are integers.
fn select(
    documents: &datafusion::arrow::array::StringArray,
    selectors: &ArrayRef,
) -> Result<Vec<Option<Json>>> {
    let pick = |document: Option<&str>, selector: Option<Selector>| -> Result<Option<Json>> {
        match (document, selector) {
            (Some(document), Some(selector)) => Ok(parse(document)?.select(selector)),
            _ => Ok(None),
        }
    };
    match selectors.data_type() {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => {
            let keys = cast(selectors, &DataType::Utf8)?;
            documents
                .iter()
                .zip(keys.as_string::<i32>().iter())
                .map(|(document, key)| pick(document, key.map(Selector::Key)))
                .collect()
        }
        data_type if data_type.is_integer() => {
            let indexes = cast(selectors, &DataType::Int64)?;
            let indexes = indexes.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            documents
                .iter()
                .zip(indexes.iter())
                .map(|(document, index)| pick(document, index.map(Selector::Index)))
                .collect()
        }
        other => exec_err!("a jsonb member is selected by text or integer, not {other}"),
    }
}
