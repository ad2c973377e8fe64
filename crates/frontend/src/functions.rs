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
}

/// Functions whose answer depends on the session.
pub(crate) fn register_for_session(context: &SessionContext, backend_pid: i32, user: &str) {
    register_constant(context, "pg_backend_pid", ScalarValue::Int32(Some(backend_pid)));
    for name in ["current_user", "session_user", "user"] {
        register_constant(context, name, ScalarValue::Utf8(Some(user.to_owned())));
    }
}

fn register_constant(context: &SessionContext, name: &str, value: ScalarValue) {
    let data_type: DataType = value.data_type();
    let udf = create_udf(
        name,
        vec![],
        data_type,
        Volatility::Stable,
        Arc::new(move |_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(value.clone()))),
    );
    context.register_udf(udf);
}
