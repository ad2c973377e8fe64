//! `extract` and `date_part` as PostgreSQL computes and types them.
//!
//! `EXTRACT(field FROM x)` is `numeric` in PostgreSQL (`weir_sql` rewrites it into a call
//! of the function `extract('field', x)` defined here), and `date_part('field', x)` is
//! `double precision`. DataFusion's `date_part` answers `integer` for most fields and, for
//! `second`, leaves out the fraction (`22` for `22.07`).
//!
//! Fields, of a `timestamp`, `timestamptz` (in UTC), `date`, `time` or `interval`:
//! * `second` (scale 6, with its fraction), `milliseconds` (scale 3) and `microseconds`
//!   (scale 0) count the seconds of the minute;
//! * `epoch` is the seconds since 1970-01-01 00:00 (scale 6, 0 for a date); of an
//!   interval, its length with a year of 365.25 days and a month of 30;
//! * `minute`, `hour`, `day`, `month`, `year`, `quarter`, `week`, `dow`, `isodow`,
//!   `doy`, `isoyear`, `decade`, `century` and `millennium` are whole numbers.
//!
//! A time of day field of a `date` is refused with 0A000 by `extract`, as in
//! PostgreSQL; `date_part` reads the date as its midnight.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, Float64Array, Int64Array, PrimitiveArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Field, FieldRef, Int32Type, IntervalMonthDayNano,
    IntervalMonthDayNanoType, IntervalUnit, TimeUnit, TimestampNanosecondType,
};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::execution::context::SessionContext;
use datafusion::functions::datetime::date_part;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use weir_common::{SqlState, WeirError};

use crate::rule_support::invoke_on_arrays;

/// Registers `extract` and replaces DataFusion's `date_part`.
pub(crate) fn register(context: &SessionContext) {
    for numeric in [true, false] {
        context.register_udf(ScalarUDF::new_from_impl(Extract {
            numeric,
            aliases: match numeric {
                true => vec![],
                false => vec!["datepart".into()],
            },
            signature: Signature::any(2, Volatility::Immutable),
        }));
    }
}

/// `extract` (numeric) or `date_part` (double precision).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Extract {
    numeric: bool,
    aliases: Vec<String>,
    signature: Signature,
}

/// How a field is computed: from the microseconds of the minute, from the epoch, or as
/// DataFusion's whole-number field (with the three it lacks derived from the year).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Part {
    SecondsOfMinute { scale: i8 },
    Epoch,
    Whole(&'static str),
    Years { per: i32 },
}

fn part(field: &str) -> Option<Part> {
    Some(match field.to_ascii_lowercase().trim() {
        "second" | "seconds" | "sec" | "secs" | "s" => Part::SecondsOfMinute { scale: 6 },
        "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" | "msecond" | "mseconds" => {
            Part::SecondsOfMinute { scale: 3 }
        }
        "microsecond" | "microseconds" | "us" | "usec" | "usecs" | "usecond" | "useconds" => {
            Part::SecondsOfMinute { scale: 0 }
        }
        "epoch" => Part::Epoch,
        "minute" | "minutes" | "min" | "mins" | "m" => Part::Whole("minute"),
        "hour" | "hours" | "h" | "hr" | "hrs" => Part::Whole("hour"),
        "day" | "days" | "d" => Part::Whole("day"),
        "week" | "weeks" | "w" => Part::Whole("week"),
        "month" | "months" | "mon" | "mons" => Part::Whole("month"),
        "quarter" | "qtr" => Part::Whole("quarter"),
        "year" | "years" | "y" | "yr" | "yrs" => Part::Whole("year"),
        "dow" => Part::Whole("dow"),
        "isodow" => Part::Whole("isodow"),
        "doy" => Part::Whole("doy"),
        "isoyear" => Part::Whole("isoyear"),
        "decade" | "decades" => Part::Years { per: 10 },
        "century" | "centuries" => Part::Years { per: 100 },
        "millennium" | "millennia" | "millenniums" => Part::Years { per: 1000 },
        _ => return None,
    })
}

impl Part {
    /// The scale of the numeric answer for an argument of `data_type`.
    fn scale(self, data_type: &DataType) -> i8 {
        match (self, data_type) {
            (Part::SecondsOfMinute { scale }, _) => scale,
            (Part::Epoch, DataType::Date32) => 0,
            (Part::Epoch, _) => 6,
            _ => 0,
        }
    }

    fn is_time_of_day(self) -> bool {
        matches!(
            self,
            Part::SecondsOfMinute { .. } | Part::Whole("minute") | Part::Whole("hour")
        )
    }
}

impl ScalarUDFImpl for Extract {
    fn name(&self) -> &str {
        match self.numeric {
            true => "extract",
            false => "date_part",
        }
    }

    /// `date_part` takes DataFusion's alias too: a state rebuilt from its functions
    /// would otherwise register DataFusion's `date_part` again under both names.
    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        plan_err!("{} is typed from its arguments", self.name())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let field = args.scalar_arguments.first().copied().flatten();
        let Some(Some(Some(field))) = field.map(ScalarValue::try_as_str) else {
            return plan_err!("the field of {} must be a constant text", self.name());
        };
        let Some(part) = part(field) else {
            return Err(unsupported_unit(field, args.arg_fields[1].data_type()));
        };
        let data_type = args.arg_fields[1].data_type();
        if !is_datetime(data_type) {
            return plan_err!(
                "function {}(unknown, {data_type}) does not exist",
                self.name()
            );
        }
        if self.numeric && part.is_time_of_day() && data_type == &DataType::Date32 {
            return Err(unsupported_unit(field, data_type));
        }
        let result = match self.numeric {
            true => DataType::Decimal128(38, part.scale(data_type)),
            false => DataType::Float64,
        };
        Ok(Arc::new(Field::new(self.name(), result, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ColumnarValue::Scalar(field) = &args.args[0] else {
            return exec_err!("the field of {} must be a constant text", self.name());
        };
        let Some(part) = field.try_as_str().flatten().and_then(part) else {
            return exec_err!("{} of an unknown field", self.name());
        };
        let numeric = self.numeric;
        invoke_on_arrays(&args, |arrays| {
            let values = &arrays[1];
            let values = match (numeric, values.data_type()) {
                // date_part reads a date as the timestamp of its midnight.
                (false, DataType::Date32) if part.is_time_of_day() => {
                    cast(values, &DataType::Timestamp(TimeUnit::Nanosecond, None))?
                }
                _ => values.clone(),
            };
            let scale = part.scale(values.data_type());
            let scaled = scaled_values(part, &values)?;
            Ok(match numeric {
                true => Arc::new(scaled.with_precision_and_scale(38, scale)?) as ArrayRef,
                false => {
                    let unit = 10f64.powi(i32::from(scale));
                    let doubles: Float64Array = scaled.unary(|v| v as f64 / unit);
                    Arc::new(doubles)
                }
            })
        })
    }
}

/// The field of each value, times ten to the power of its scale (in 128 bits: an
/// interval's epoch in microseconds may need more than 64).
fn scaled_values(part: Part, values: &ArrayRef) -> Result<Decimal128Array> {
    let wide = |values: Int64Array| values.unary::<_, Decimal128Type>(i128::from);
    Ok(match part {
        Part::Epoch => epoch(values)?,
        _ => wide(narrow_values(part, values)?),
    })
}

fn narrow_values(part: Part, values: &ArrayRef) -> Result<Int64Array> {
    match part {
        Part::SecondsOfMinute { .. } => Ok(micros(values)?.unary(|micros| {
            match values.data_type() {
                // An interval's seconds take the sign of its time.
                DataType::Interval(_) => micros % 60_000_000,
                _ => micros.rem_euclid(60_000_000),
            }
        })),
        Part::Epoch => micros(values),
        Part::Whole(name) => whole(name, values),
        Part::Years { per } => {
            let years = whole("year", values)?;
            Ok(match values.data_type() {
                DataType::Interval(_) => years.unary(|y| y / i64::from(per)),
                // The first decade, century and millennium begin with year 1.
                _ if per == 10 => years.unary(|y| y.div_euclid(10)),
                _ => years.unary(|y| (y + i64::from(per) - 1).div_euclid(i64::from(per))),
            })
        }
    }
}

/// Microseconds: of the time of an interval, since the epoch of a timestamp, since
/// midnight of a time.
fn micros(values: &ArrayRef) -> Result<Int64Array> {
    Ok(match values.data_type() {
        DataType::Interval(IntervalUnit::MonthDayNano) => values
            .as_primitive::<IntervalMonthDayNanoType>()
            .unary(|v: IntervalMonthDayNano| v.nanoseconds / 1000),
        DataType::Date32 => values
            .as_primitive::<Date32Type>()
            .unary(|days| i64::from(days) * 86_400_000_000),
        DataType::Timestamp(_, zone) => {
            let nanos = cast(
                values,
                &DataType::Timestamp(TimeUnit::Nanosecond, zone.clone()),
            )?;
            nanos
                .as_primitive::<TimestampNanosecondType>()
                .unary(|v| v.div_euclid(1000))
        }
        DataType::Time32(_) | DataType::Time64(_) => {
            let nanos = cast(
                &cast(values, &DataType::Time64(TimeUnit::Nanosecond))?,
                &DataType::Int64,
            )?;
            nanos
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .unary(|v| v / 1000)
        }
        other => return exec_err!("extract from {other} is not supported"),
    })
}

/// The epoch, times 10^6 (times 1 for a date).
fn epoch(values: &ArrayRef) -> Result<Decimal128Array> {
    Ok(match values.data_type() {
        DataType::Date32 => values
            .as_primitive::<Date32Type>()
            .unary(|days| i128::from(days) * 86_400),
        DataType::Interval(IntervalUnit::MonthDayNano) => values
            .as_primitive::<IntervalMonthDayNanoType>()
            .unary(interval_epoch_micros),
        _ => micros(values)?.unary(i128::from),
    })
}

/// PostgreSQL's interval epoch: a year of 365.25 days, a month of 30, in microseconds.
fn interval_epoch_micros(interval: IntervalMonthDayNano) -> i128 {
    let (years, months) = (interval.months / 12, interval.months % 12);
    // Four times everything, so that a quarter day stays whole.
    let quarter_days =
        1461 * i128::from(years) + 120 * i128::from(months) + 4 * i128::from(interval.days);
    quarter_days * 21_600 * 1_000_000 + i128::from(interval.nanoseconds / 1000)
}

/// DataFusion's whole-number field `name` of each value.
fn whole(name: &str, values: &ArrayRef) -> Result<Int64Array> {
    let field = ColumnarValue::Scalar(ScalarValue::Utf8(Some(name.into())));
    let args = vec![field, ColumnarValue::Array(values.clone())];
    let arg_fields = vec![
        Arc::new(Field::new("field", DataType::Utf8, false)),
        Arc::new(Field::new("value", values.data_type().clone(), true)),
    ];
    let return_field = Arc::new(Field::new(name, DataType::Int32, true));
    let result = date_part().invoke_with_args(ScalarFunctionArgs {
        args,
        arg_fields,
        number_rows: values.len(),
        return_field,
        config_options: Default::default(),
    })?;
    let ColumnarValue::Array(result) = result else {
        return exec_err!("date_part of an array answered a scalar");
    };
    let result: &PrimitiveArray<Int32Type> = result.as_primitive();
    Ok(result.unary(i64::from))
}

fn is_datetime(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Date32
            | DataType::Timestamp(_, _)
            | DataType::Time32(_)
            | DataType::Time64(_)
            | DataType::Interval(IntervalUnit::MonthDayNano)
    )
}

fn unsupported_unit(field: &str, data_type: &DataType) -> datafusion::error::DataFusionError {
    let type_name = match data_type {
        DataType::Date32 => "date",
        DataType::Interval(_) => "interval",
        DataType::Timestamp(_, Some(_)) => "timestamp with time zone",
        DataType::Timestamp(_, None) => "timestamp without time zone",
        _ => "time without time zone",
    };
    WeirError::new(
        SqlState::FEATURE_NOT_SUPPORTED,
        format!("unit \"{field}\" not supported for type {type_name}"),
    )
    .into_datafusion()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interval_epoch_counts_a_year_as_365_and_a_quarter_days() {
        let year = IntervalMonthDayNano::new(12, 0, 0);
        assert_eq!(interval_epoch_micros(year), 31_557_600_000_000);
        let month_and_a_second = IntervalMonthDayNano::new(1, 0, 1_000_000_000);
        assert_eq!(interval_epoch_micros(month_and_a_second), 2_592_001_000_000);
    }
}
