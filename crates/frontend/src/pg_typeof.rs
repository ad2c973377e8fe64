//! `pg_typeof(any)`: the PostgreSQL name of its argument's type, as PostgreSQL's
//! `format_type` writes it (`integer`, `double precision`, `timestamp with time zone`,
//! `text[]`). PostgreSQL's result is a `regtype`, which a client reads as this text.

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, ScalarValue};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use weir_common::json::is_json;
use weir_common::varchar::VARCHAR_LENGTH_KEY;

pub(crate) fn register(context: &SessionContext) {
    context.register_udf(ScalarUDF::new_from_impl(PgTypeof {
        signature: Signature::any(1, Volatility::Immutable),
    }));
}

/// The PostgreSQL name of `field`'s type.
fn type_name(field: &Field) -> String {
    if is_json(field) {
        return "jsonb".into();
    }
    if field.metadata().contains_key(VARCHAR_LENGTH_KEY) {
        return "character varying".into();
    }
    match field.data_type() {
        DataType::Null => "unknown",
        DataType::Boolean => "boolean",
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => "smallint",
        DataType::Int32 | DataType::UInt16 => "integer",
        DataType::Int64 | DataType::UInt32 => "bigint",
        DataType::UInt64 | DataType::Decimal128(..) | DataType::Decimal256(..) => "numeric",
        DataType::Float16 | DataType::Float32 => "real",
        DataType::Float64 => "double precision",
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text",
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "bytea",
        DataType::Date32 | DataType::Date64 => "date",
        DataType::Time32(_) | DataType::Time64(_) => "time without time zone",
        DataType::Timestamp(_, None) => "timestamp without time zone",
        DataType::Timestamp(_, Some(_)) => "timestamp with time zone",
        DataType::Interval(_) | DataType::Duration(_) => "interval",
        DataType::List(element) | DataType::LargeList(element) => {
            return format!("{}[]", type_name(element));
        }
        DataType::Struct(_) => "record",
        other => return other.to_string(),
    }
    .into()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PgTypeof {
    signature: Signature,
}

impl ScalarUDFImpl for PgTypeof {
    fn name(&self) -> &str {
        "pg_typeof"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = type_name(&args.arg_fields[0]);
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(name))))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn names_are_postgresql_s() {
        let named = |data_type| type_name(&Field::new("x", data_type, true));
        assert_eq!(named(DataType::Int32), "integer");
        assert_eq!(named(DataType::Decimal128(38, 0)), "numeric");
        assert_eq!(named(DataType::Float64), "double precision");
        let list = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
        assert_eq!(named(list), "text[]");
        let zoned = DataType::Timestamp(
            datafusion::arrow::datatypes::TimeUnit::Nanosecond,
            Some("+00:00".into()),
        );
        assert_eq!(named(zoned), "timestamp with time zone");
    }
}
