//! SQL type names DataFusion does not know: `json`/`jsonb` become UTF-8 text tagged with
//! the `arrow.json` extension name; the rest go to `datafusion-pg-catalog`'s planner for
//! PostgreSQL's oid-alias types (`regclass`, `oid`, …).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::Result;
use datafusion::logical_expr::planner::TypePlanner;
use datafusion::sql::sqlparser::ast::DataType as SqlType;
use datafusion_pg_catalog::pg_catalog::oid_type_planner::PgOidTypePlanner;
use weir_common::json::JSON_EXTENSION_NAME;

#[derive(Debug)]
pub(crate) struct WeirTypePlanner;

impl TypePlanner for WeirTypePlanner {
    fn plan_type_field(&self, sql_type: &SqlType) -> Result<Option<FieldRef>> {
        match sql_type {
            SqlType::JSON | SqlType::JSONB => Ok(Some(json_field(""))),
            other => PgOidTypePlanner.plan_type_field(other),
        }
    }
}

/// A nullable `jsonb` field named `name`.
pub(crate) fn json_field(name: &str) -> FieldRef {
    Arc::new(
        Field::new(name, DataType::Utf8, true).with_metadata(HashMap::from([(
            "ARROW:extension:name".to_owned(),
            JSON_EXTENSION_NAME.to_owned(),
        )])),
    )
}
