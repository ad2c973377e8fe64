//! SQL functions clients expect of a PostgreSQL server that DataFusion does not provide,
//! or provides with another meaning.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};

use crate::settings::SERVER_VERSION;

/// Functions whose answer is the same in every session.
pub(crate) fn register_shared(context: &SessionContext) {
    let version = format!(
        "PostgreSQL {SERVER_VERSION} (weir {}) on {}-linux",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH
    );
    register_constant(context, "version", ScalarValue::Utf8(Some(version)));
    // psql's `\df` asks these of every function in pg_proc. weir has no user-defined
    // functions, and the built-in ones live in pg_catalog, which `\df` does not list.
    register_of_oid(
        context,
        "pg_function_is_visible",
        ScalarValue::Boolean(Some(true)),
    );
    register_of_oid(context, "pg_get_function_result", ScalarValue::Utf8(None));
    register_of_oid(
        context,
        "pg_get_function_arguments",
        ScalarValue::Utf8(None),
    );
    // weir has no COMMENT ON yet, so no object or column has a description.
    register_with_arguments(
        context,
        "col_description",
        vec![DataType::Int64, DataType::Int32],
        ScalarValue::Utf8(None),
    );
}

/// Functions whose answer depends on the session.
pub(crate) fn register_for_session(context: &SessionContext, backend_pid: i32, user: &str) {
    register_constant(
        context,
        "pg_backend_pid",
        ScalarValue::Int32(Some(backend_pid)),
    );
    for name in ["current_user", "session_user", "user"] {
        register_constant(context, name, ScalarValue::Utf8(Some(user.to_owned())));
    }
}

fn register_constant(context: &SessionContext, name: &str, value: ScalarValue) {
    register_with_arguments(context, name, vec![], value);
}

/// A function of one object id that answers `value` for every object.
fn register_of_oid(context: &SessionContext, name: &str, value: ScalarValue) {
    register_with_arguments(context, name, vec![DataType::Int64], value);
}

fn register_with_arguments(
    context: &SessionContext,
    name: &str,
    arguments: Vec<DataType>,
    value: ScalarValue,
) {
    let data_type: DataType = value.data_type();
    let udf = create_udf(
        name,
        arguments,
        data_type,
        Volatility::Stable,
        Arc::new(move |_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(value.clone()))),
    );
    context.register_udf(udf);
}
