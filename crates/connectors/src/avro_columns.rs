//! The columns of an Avro source declared without any: one per field of the record
//! schema (the registry subject `<topic>-value`'s latest version, or the inline
//! definition), as RisingWave does. They are fixed at CREATE and stored with the
//! source, so a later version of the schema does not change them.
//!
//! Every column is nullable, so that records of a later version without a field still
//! fit. Records, arrays and maps become `jsonb`; enums `text`; fixed and bytes `bytea`.
//! Columns declared by the user are checked against the same schema instead.

use datafusion::arrow::compute::can_cast_types;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use weir_common::json::is_json;
use weir_common::{Result, SqlState, WeirError};

use crate::avro::arrow_schema;
use crate::schema_registry::RegistryError;
use crate::source_format::{AvroSchemaSource, Encode, SourceFormat};

/// A column taken from a schema: its name and SQL type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InferredColumn {
    pub name: String,
    pub sql_type: String,
}

/// The columns of a source of `format` on `topic` that declares none; an error if the
/// format does not carry a schema (only Avro does).
pub fn inferred_columns(format: &SourceFormat, topic: &str) -> Result<Vec<InferredColumn>> {
    let SourceFormat::Plain(Encode::Avro(source)) = format else {
        return Err(WeirError::syntax("a source needs its columns declared").with_hint(
            "CREATE SOURCE name (column type, …) WITH (…) FORMAT PLAIN ENCODE JSON; only ENCODE AVRO takes its columns from the schema.",
        ));
    };
    let definition = latest_definition(source, topic).map_err(|error| match error {
        RegistryError::NotFound(why) => WeirError::new(SqlState::UNDEFINED_OBJECT, why)
            .with_hint(format!(
                "Register the topic's value schema as subject \"{}\", or declare the columns.",
                value_subject(topic)
            )),
        RegistryError::Unreachable(why) => WeirError::new(SqlState::IO_ERROR, why).with_hint(
            "Without the registry the columns must be declared: CREATE SOURCE name (column type, …) …",
        ),
    })?;
    let schema = readable_schema(&definition)?;
    if schema.fields().is_empty() {
        return Err(WeirError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            "the Avro record schema has no fields to take columns from",
        ));
    }
    schema
        .fields()
        .iter()
        .map(|field| {
            Ok(InferredColumn {
                name: field.name().clone(),
                sql_type: sql_type(field.data_type()).ok_or_else(|| {
                    WeirError::not_supported(format!(
                        "Avro field \"{}\" of Arrow type {}",
                        field.name(),
                        field.data_type()
                    ))
                    .with_hint("Declare the columns, leaving that field out.")
                })?,
            })
        })
        .collect()
}

/// Checks the columns `declared` for an Avro source against the schema its records are
/// written with now (the subject's latest version, or the inline schema): records are
/// matched to columns by field name, so a column that names no field would always be
/// NULL (42703), and a column other than `jsonb` must be a type the field's values cast
/// to (42804). `Ok(Some(notice))` if the registry cannot tell now (unreachable, or no
/// such subject yet): the columns are not checked then. Other formats pass.
pub fn check_declared_columns(
    format: &SourceFormat,
    topic: &str,
    declared: &Schema,
) -> Result<Option<String>> {
    let SourceFormat::Plain(Encode::Avro(source)) = format else {
        return Ok(None);
    };
    let definition = match latest_definition(source, topic) {
        Ok(definition) => definition,
        Err(RegistryError::NotFound(why) | RegistryError::Unreachable(why)) => {
            return Ok(Some(format!(
                "the declared columns were not checked against the Avro schema: {why}"
            )));
        }
    };
    let schema = readable_schema(&definition)?;
    for column in declared.fields() {
        let Some((_, field)) = schema.fields().find(column.name()) else {
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            return Err(WeirError::new(
                SqlState::UNDEFINED_COLUMN,
                format!("column \"{}\" names no field of the Avro schema", column.name()),
            )
            .with_hint(format!(
                "Its fields: {}. Columns are matched to fields by name; quote a column name to keep its case.",
                names.join(", ")
            )));
        };
        if !is_json(column) && !can_cast_types(field.data_type(), column.data_type()) {
            return Err(WeirError::new(
                SqlState::DATATYPE_MISMATCH,
                format!(
                    "column \"{}\" cannot hold Avro field \"{}\", whose values read as {}",
                    column.name(),
                    field.name(),
                    sql_type(field.data_type()).unwrap_or_else(|| field.data_type().to_string())
                ),
            ));
        }
    }
    Ok(None)
}

/// The registry subject of `topic`'s values (the topic name strategy).
fn value_subject(topic: &str) -> String {
    format!("{topic}-value")
}

/// The schema records are written with now: inline, or the subject's latest version.
fn latest_definition(
    source: &AvroSchemaSource,
    topic: &str,
) -> std::result::Result<String, RegistryError> {
    match source {
        AvroSchemaSource::Definition(definition) => Ok(definition.clone()),
        AvroSchemaSource::Registry(registry) => Ok(registry.latest(&value_subject(topic))?.1),
    }
}

/// `definition` as the Arrow schema records decode into; 22023 if it cannot be read.
fn readable_schema(definition: &str) -> Result<SchemaRef> {
    arrow_schema(definition).map_err(|e| {
        WeirError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("the Avro schema cannot be read: {e}"),
        )
    })
}

/// The SQL type of a column holding arrow-avro's decoding of a field.
fn sql_type(data_type: &DataType) -> Option<String> {
    Some(
        match data_type {
            DataType::Boolean => "boolean",
            DataType::Int32 => "integer",
            DataType::Int64 => "bigint",
            DataType::Float32 => "real",
            DataType::Float64 => "double precision",
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text",
            DataType::Dictionary(_, value) if value.is_string() => "text",
            DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_) => "bytea",
            DataType::Decimal128(precision, scale) | DataType::Decimal256(precision, scale) => {
                return Some(format!("numeric({precision},{scale})"));
            }
            DataType::Date32 => "date",
            DataType::Time32(_) | DataType::Time64(_) => "time",
            DataType::Timestamp(_, Some(_)) => "timestamptz",
            DataType::Timestamp(_, None) => "timestamp",
            DataType::Interval(_) => "interval",
            DataType::Struct(_)
            | DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(_, _)
            | DataType::Map(_, _) => "jsonb",
            _ => return None,
        }
        .to_owned(),
    )
}
