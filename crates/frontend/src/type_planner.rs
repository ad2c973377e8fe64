//! SQL type names DataFusion does not know, or knows less of than PostgreSQL:
//! `json`/`jsonb` become UTF-8 text tagged with the `arrow.json` extension name,
//! `varchar(n)` UTF-8 text carrying its length limit; the rest go to `datafusion-pg-catalog`'s planner for
//! PostgreSQL's oid-alias types (`regclass`, `oid`, …).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::Result;
use datafusion::logical_expr::planner::TypePlanner;
use datafusion::sql::sqlparser::ast::{CharacterLength, DataType as SqlType};
use datafusion_pg_catalog::pg_catalog::oid_type_planner::PgOidTypePlanner;
use weir_common::json::JSON_EXTENSION_NAME;
use weir_common::varchar::VARCHAR_LENGTH_KEY;

#[derive(Debug)]
pub(crate) struct WeirTypePlanner;

impl TypePlanner for WeirTypePlanner {
    fn plan_type_field(&self, sql_type: &SqlType) -> Result<Option<FieldRef>> {
        match sql_type {
            SqlType::JSON | SqlType::JSONB => Ok(Some(json_field(""))),
            SqlType::Varchar(Some(CharacterLength::IntegerLength { length, .. }))
            | SqlType::CharacterVarying(Some(CharacterLength::IntegerLength { length, .. })) => {
                Ok(Some(Arc::new(
                    Field::new("", DataType::Utf8, true).with_metadata(HashMap::from([(
                        VARCHAR_LENGTH_KEY.to_owned(),
                        length.to_string(),
                    )])),
                )))
            }
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
