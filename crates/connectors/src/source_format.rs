//! A source's `FORMAT … ENCODE …`: how each Kafka record becomes rows, checked at CREATE.
//!
//! * `FORMAT PLAIN`: every record's value is one row (JSON, Avro) or one or more rows
//!   (CSV), inserted.
//! * `FORMAT UPSERT ENCODE JSON`: a record's value is the latest version of the row with
//!   the record's primary key; a record without a value (a tombstone) deletes the row
//!   whose key its message key holds.
//! * `FORMAT DEBEZIUM ENCODE JSON`: a record is a Debezium change event whose `op` says
//!   what happened to its `before` and `after` rows.
//!
//! UPSERT and DEBEZIUM records update and delete rows, so only a table with a primary key
//! can take them (as in RisingWave): the table applies each change by key.

use weir_common::Result;

use crate::avro::arrow_schema;
use crate::options::invalid;
use crate::schema_registry::SchemaRegistry;

/// How a record's value is encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Encode {
    Json,
    Csv(CsvOptions),
    Avro(AvroSchemaSource),
}

/// Where `ENCODE AVRO` finds the schemas records are written with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AvroSchemaSource {
    /// `schema.registry = 'url[,url…]'`: each value names its schema's id in the
    /// registry (Confluent's wire format).
    Registry(SchemaRegistry),
    /// `schema.definition = '{…}'`: each value is a bare Avro body written with this
    /// schema (JSON text).
    Definition(String),
}

/// `ENCODE CSV (delimiter = ',', without_header = 'true' | 'false')`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvOptions {
    pub delimiter: u8,
    /// Each record's first line names its columns, which are matched by name; without a
    /// header, columns are taken in their declared order.
    pub header: bool,
}

/// What a record means for the relation it feeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceFormat {
    Plain(Encode),
    Upsert,
    Debezium,
}

impl SourceFormat {
    /// The format a statement's `FORMAT … ENCODE … (options)` names.
    pub fn parse(format: &weir_sql::Format) -> Result<SourceFormat> {
        let known: &[&str] = match format.encode.as_str() {
            "CSV" => &["delimiter", "without_header"],
            "AVRO" => &[
                "schema.registry",
                "schema.registry.username",
                "schema.registry.password",
                "schema.registry.name.strategy",
                "schema.definition",
            ],
            _ => &[],
        };
        if let Some((key, _)) = format
            .options
            .iter()
            .find(|(key, _)| !known.contains(&key.as_str()))
        {
            return Err(invalid(format!(
                "unknown ENCODE {} option \"{key}\"",
                format.encode
            )));
        }
        let option = |key: &str| {
            format
                .options
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        match (format.format.as_str(), format.encode.as_str()) {
            ("PLAIN", "JSON") => Ok(SourceFormat::Plain(Encode::Json)),
            ("PLAIN", "CSV") => {
                let delimiter = match option("delimiter").unwrap_or(",").as_bytes() {
                    [byte] if byte.is_ascii() => *byte,
                    _ => return Err(invalid("the CSV delimiter must be one ASCII character")),
                };
                let header = match option("without_header").unwrap_or("false") {
                    "false" => true,
                    "true" => false,
                    other => {
                        return Err(invalid(format!(
                            "without_header must be 'true' or 'false', not '{other}'"
                        )));
                    }
                };
                Ok(SourceFormat::Plain(Encode::Csv(CsvOptions { delimiter, header })))
            }
            ("PLAIN", "AVRO") => Ok(SourceFormat::Plain(Encode::Avro(avro_schema_source(
                option,
            )?))),
            ("UPSERT", "JSON") => Ok(SourceFormat::Upsert),
            ("DEBEZIUM", "JSON") => Ok(SourceFormat::Debezium),
            (format, encode) => Err(weir_common::WeirError::not_supported(format!(
                "FORMAT {format} ENCODE {encode}"
            ))
            .with_hint(
                "Kafka sources read FORMAT PLAIN ENCODE JSON, CSV or AVRO; tables also read FORMAT UPSERT ENCODE JSON and FORMAT DEBEZIUM ENCODE JSON.",
            )),
        }
    }

    /// Whether records can update and delete rows, which needs a table with a primary key.
    pub fn changes_rows(&self) -> bool {
        !matches!(self, SourceFormat::Plain(_))
    }
}

/// `ENCODE AVRO`'s options: a registry or an inline schema, not both.
fn avro_schema_source<'a>(option: impl Fn(&str) -> Option<&'a str>) -> Result<AvroSchemaSource> {
    if let Some(strategy) = option("schema.registry.name.strategy")
        && strategy != "topic_name_strategy"
    {
        return Err(weir_common::WeirError::not_supported(format!(
            "schema.registry.name.strategy '{strategy}'"
        ))
        .with_hint("weir reads the subject \"<topic>-value\" (topic_name_strategy)."));
    }
    match (option("schema.registry"), option("schema.definition")) {
        (Some(urls), None) => {
            let urls: Vec<String> = urls
                .split(',')
                .map(|url| url.trim().to_owned())
                .filter(|url| !url.is_empty())
                .collect();
            if let Some(bad) = urls
                .iter()
                .find(|url| !url.starts_with("http://") && !url.starts_with("https://"))
            {
                return Err(invalid(format!(
                    "schema.registry \"{bad}\" is not an http:// or https:// URL"
                )));
            }
            let credentials = match (
                option("schema.registry.username"),
                option("schema.registry.password"),
            ) {
                (Some(user), Some(password)) => Some((user.to_owned(), password.to_owned())),
                (None, None) => None,
                _ => {
                    return Err(invalid(
                        "schema.registry.username and schema.registry.password go together",
                    ));
                }
            };
            Ok(AvroSchemaSource::Registry(SchemaRegistry {
                urls,
                credentials,
            }))
        }
        (None, Some(definition)) => {
            arrow_schema(definition)
                .map_err(|e| invalid(format!("schema.definition cannot be read: {e}")))?;
            Ok(AvroSchemaSource::Definition(definition.to_owned()))
        }
        _ => Err(invalid(
            "ENCODE AVRO takes either schema.registry = 'http://…' or schema.definition = '<Avro schema JSON>'",
        )),
    }
}
