//! Text read as a value of another type the way PostgreSQL reads it, where DataFusion's
//! cast reads it otherwise: `bytea` (see [`crate::bytea_input`]), the date and time
//! types (see [`weir_common::datetime_text`]), `interval` (see
//! [`weir_common::interval_text`]) and `numeric` (see `NumericIn`).
//!
//! An analyzer rule, run after type coercion, replaces every cast from text to one of
//! those types in a plan — literals, INSERT values, COPY input, comparisons with a text
//! literal, `::timestamp` — by a call of the function that reads PostgreSQL's input
//! formats. A batch query and a materialized view plan through the same rule, so both
//! read text alike.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, AsArray, Date32Array, IntervalMonthDayNanoArray, PrimitiveArray, StringArray,
    Time64MicrosecondArray, Time64NanosecondArray,
};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{
    ArrowTimestampType, DataType, IntervalMonthDayNano, IntervalUnit, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::expr::{Cast, ScalarFunction, TryCast};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;
use weir_common::datetime_text::{DatetimeType, parse_date, parse_time, parse_timestamp};
use weir_common::interval_text::parse_interval;
use weir_common::{SqlState, WeirError};

use crate::bytea_input::bytea_in;
use crate::rule_support::{invoke_on_arrays, rewrite_expressions};

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
        rewrite_expressions(
            plan,
            |_| false,
            |expr, schema| expr.transform_up(|expr| replace_cast(expr, schema)),
        )
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
        DataType::Interval(IntervalUnit::MonthDayNano) => (interval_in(), target.clone()),
        DataType::Decimal128(_, _) => (numeric_in(target.clone()), target.clone()),
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

fn interval_in() -> ScalarUDF {
    ScalarUDF::new_from_impl(IntervalIn {
        signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
    })
}

/// `interval_in`: text to `interval` through [`weir_common::interval_text`].
#[derive(Debug, PartialEq, Eq, Hash)]
struct IntervalIn {
    signature: Signature,
}

impl ScalarUDFImpl for IntervalIn {
    fn name(&self) -> &str {
        "interval_in"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Interval(IntervalUnit::MonthDayNano))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        invoke_on_arrays(&args, |texts| {
            let values: IntervalMonthDayNanoArray =
                read_each(texts[0].as_string::<i32>(), |text| {
                    let interval = parse_interval(text)?;
                    Ok(IntervalMonthDayNano::new(
                        interval.months,
                        interval.days,
                        interval.micros * 1_000,
                    ))
                })
                .map_err(WeirError::into_datafusion)?;
            Ok(Arc::new(values) as ArrayRef)
        })
    }
}

fn numeric_in(target: DataType) -> ScalarUDF {
    ScalarUDF::new_from_impl(NumericIn {
        target,
        signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
    })
}

/// `numeric_in`: text to `numeric`, with PostgreSQL's errors: white space around the
/// number is allowed, `NaN` and the infinities (which weir's `numeric` cannot hold) are
/// refused with 0A000, other text is 22P02 and a number beyond the precision 22003.
#[derive(Debug, PartialEq, Eq, Hash)]
struct NumericIn {
    target: DataType,
    signature: Signature,
}

impl NumericIn {
    fn read(&self, texts: &ArrayRef) -> weir_common::Result<ArrayRef> {
        let trimmed: StringArray = texts
            .as_string::<i32>()
            .iter()
            .map(|text| text.map(str::trim))
            .collect();
        let options = CastOptions {
            safe: false,
            ..CastOptions::default()
        };
        if let Ok(values) = cast_with_options(&trimmed, &self.target, &options) {
            return Ok(values);
        }
        for text in trimmed.iter().flatten() {
            let one = StringArray::from(vec![text]);
            let Err(error) = cast_with_options(&one, &self.target, &options) else {
                continue;
            };
            let special = [
                "nan",
                "infinity",
                "+infinity",
                "-infinity",
                "inf",
                "+inf",
                "-inf",
            ];
            return Err(if special.contains(&text.to_ascii_lowercase().as_str()) {
                WeirError::new(
                    SqlState::FEATURE_NOT_SUPPORTED,
                    format!("weir's numeric cannot hold \"{text}\""),
                )
            } else if error.to_string().contains("too large") {
                WeirError::new(
                    SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                    "numeric field overflow",
                )
                .with_detail(format!("\"{text}\" does not fit {}", self.target))
            } else {
                WeirError::new(
                    SqlState::INVALID_TEXT_REPRESENTATION,
                    format!("invalid input syntax for type numeric: \"{text}\""),
                )
            });
        }
        Err(WeirError::internal("a numeric cast failed on no value"))
    }
}

impl ScalarUDFImpl for NumericIn {
    fn name(&self) -> &str {
        "numeric_in"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.target.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        invoke_on_arrays(&args, |texts| {
            self.read(&texts[0]).map_err(WeirError::into_datafusion)
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
        invoke_on_arrays(&args, |texts| {
            self.read(&texts[0]).map_err(WeirError::into_datafusion)
        })
    }
}
