//! Text read as a value of another type the way PostgreSQL reads it, where DataFusion's
//! cast reads it otherwise: `bytea` (see [`crate::bytea_input`]) and the date and time
//! types (see [`weir_common::datetime_text`]).
//!
//! An analyzer rule, run after type coercion, replaces every cast from text to one of
//! those types in a plan — literals, INSERT values, COPY input, comparisons with a text
//! literal, `::timestamp` — by a call of the function that reads PostgreSQL's input
//! formats. A batch query and a materialized view plan through the same rule, so both
//! read text alike.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, PrimitiveArray, Time64MicrosecondArray,
    Time64NanosecondArray,
};
use datafusion::arrow::datatypes::{
    ArrowTimestampType, DataType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::expr::{Cast, ScalarFunction, TryCast};
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;
use weir_common::datetime_text::{DatetimeType, parse_date, parse_time, parse_timestamp};
use weir_common::{SqlState, WeirError};

use crate::bytea_input::bytea_in;

/// Registers the rule in `context`.
pub(crate) fn register(context: &SessionContext) {
    context.add_analyzer_rule(Arc::new(ReadTextAsPostgresDoes));
}

#[derive(Debug)]
struct ReadTextAsPostgresDoes;

impl AnalyzerRule for ReadTextAsPostgresDoes {
    fn name(&self) -> &str {
        "read_text_as_postgres_does"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|plan| {
            let schema = merge_schema(&plan.inputs());
            plan.map_expressions(|expr| expr.transform_up(|expr| replace_cast(expr, &schema)))
        })
        .map(|transformed| transformed.data)
    }
}

fn replace_cast(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let (inner, target) = match &expr {
        Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field }) => {
            (expr, field.data_type())
        }
        _ => return Ok(Transformed::no(expr)),
    };
    let from_text = matches!(
        inner.get_type(schema),
        Ok(DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)
    );
    if !from_text {
        return Ok(Transformed::no(expr));
    }
    let (reader, read_type) = match target {
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            (bytea_in(), DataType::Binary)
        }
        DataType::Timestamp(_, zone) => {
            let kind = match zone {
                Some(_) => DatetimeType::Timestamptz,
                None => DatetimeType::Timestamp,
            };
            (DatetimeIn::udf(kind, target.clone()), target.clone())
        }
        DataType::Date32 => (
            DatetimeIn::udf(DatetimeType::Date, target.clone()),
            target.clone(),
        ),
        DataType::Time64(_) => (
            DatetimeIn::udf(DatetimeType::Time, target.clone()),
            target.clone(),
        ),
        _ => return Ok(Transformed::no(expr)),
    };
    let text = Expr::Cast(Cast::new(inner.clone(), DataType::Utf8));
    let read = Expr::ScalarFunction(ScalarFunction::new_udf(Arc::new(reader), vec![text]));
    Ok(Transformed::yes(match read_type == *target {
        true => read,
        false => Expr::Cast(Cast::new(Box::new(read), target.clone())),
    }))
}

/// `timestamp_in`, `timestamptz_in`, `date_in`, `time_in`: text to `target`, a type of
/// `kind`, through [`weir_common::datetime_text`].
#[derive(Debug, PartialEq, Eq, Hash)]
struct DatetimeIn {
    kind: DatetimeType,
    target: DataType,
    signature: Signature,
}

impl DatetimeIn {
    fn udf(kind: DatetimeType, target: DataType) -> ScalarUDF {
        ScalarUDF::new_from_impl(DatetimeIn {
            kind,
            target,
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
        })
    }

    fn read(&self, texts: &ArrayRef) -> weir_common::Result<ArrayRef> {
        let texts = texts.as_string::<i32>();
        Ok(match (&self.target, self.kind) {
            (DataType::Date32, _) => {
                let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("the epoch");
                let days: Date32Array = read_each(texts, |text| {
                    let days = (parse_date(text)? - epoch).num_days();
                    i32::try_from(days).map_err(|_| out_of_range("date", text))
                })?;
                Arc::new(days)
            }
            (DataType::Time64(unit), _) => {
                let nanos = |text: &str| -> weir_common::Result<i64> {
                    let time = parse_time(text)?;
                    let since_midnight = time - chrono::NaiveTime::MIN;
                    Ok(since_midnight.num_nanoseconds().expect("a day fits"))
                };
                match unit {
                    TimeUnit::Nanosecond => {
                        Arc::new(read_each::<_, Time64NanosecondArray>(texts, nanos)?)
                    }
                    _ => Arc::new(read_each::<_, Time64MicrosecondArray>(texts, |text| {
                        Ok(nanos(text)? / 1_000)
                    })?),
                }
            }
            (DataType::Timestamp(unit, zone), kind) => {
                let read = |text: &str| -> weir_common::Result<i64> {
                    let value = parse_timestamp(text, kind)?.and_utc();
                    let units = match unit {
                        TimeUnit::Second => Some(value.timestamp()),
                        TimeUnit::Millisecond => Some(value.timestamp_millis()),
                        TimeUnit::Microsecond => Some(value.timestamp_micros()),
                        TimeUnit::Nanosecond => value.timestamp_nanos_opt(),
                    };
                    units.ok_or_else(|| out_of_range("timestamp", text))
                };
                match unit {
                    TimeUnit::Second => timestamps::<TimestampSecondType>(texts, read, zone)?,
                    TimeUnit::Millisecond => {
                        timestamps::<TimestampMillisecondType>(texts, read, zone)?
                    }
                    TimeUnit::Microsecond => {
                        timestamps::<TimestampMicrosecondType>(texts, read, zone)?
                    }
                    TimeUnit::Nanosecond => {
                        timestamps::<TimestampNanosecondType>(texts, read, zone)?
                    }
                }
            }
            (other, _) => {
                return Err(WeirError::internal(format!("no text input for {other}")));
            }
        })
    }
}

/// PostgreSQL's error for a value beyond what `type_name` holds — in weir, a timestamp
/// between 1677-09-21 and 2262-04-11, as it is held in nanoseconds.
fn out_of_range(type_name: &str, text: &str) -> WeirError {
    WeirError::new(
        SqlState::DATETIME_FIELD_OVERFLOW,
        format!("{type_name} out of range: \"{text}\""),
    )
    .with_detail("weir's timestamps run from 1677-09-21 to 2262-04-11")
}

fn read_each<N, A>(
    texts: &datafusion::arrow::array::StringArray,
    read: impl Fn(&str) -> weir_common::Result<N>,
) -> weir_common::Result<A>
where
    A: FromIterator<Option<N>>,
{
    texts
        .iter()
        .map(|text| text.map(&read).transpose())
        .collect()
}

fn timestamps<T: ArrowTimestampType>(
    texts: &datafusion::arrow::array::StringArray,
    read: impl Fn(&str) -> weir_common::Result<i64>,
    zone: &Option<Arc<str>>,
) -> weir_common::Result<ArrayRef> {
    let values: PrimitiveArray<T> = read_each(texts, read)?;
    Ok(Arc::new(values.with_timezone_opt(zone.clone())))
}

impl ScalarUDFImpl for DatetimeIn {
    fn name(&self) -> &str {
        match self.kind {
            DatetimeType::Date => "date_in",
            DatetimeType::Time => "time_in",
            DatetimeType::Timestamp => "timestamp_in",
            DatetimeType::Timestamptz => "timestamptz_in",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.target.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let texts = ColumnarValue::values_to_arrays(&args.args)?;
        let values = self.read(&texts[0]).map_err(WeirError::into_datafusion)?;
        Ok(match all_scalar && values.len() == 1 {
            true => ColumnarValue::Scalar(ScalarValue::try_from_array(&values, 0)?),
            false => ColumnarValue::Array(values),
        })
    }
}
