//! A Kafka sink's `WITH` options and format, checked at CREATE.

use std::collections::BTreeMap;

use weir_common::{Result, WeirError};

use weir_sql::Format;

use crate::options::{OptionList, invalid};

/// How a sink turns changes into messages (see the `sink_encoder` module).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkFormat {
    /// Each inserted row is a message; the input must never retract.
    AppendOnly,
    /// Keyed by the primary key: a row's latest value, or a null value (a tombstone) once
    /// the key is gone.
    Upsert,
    /// Debezium's change events: `before`, `after` and `op` (`c`, `u`, `d`).
    Debezium,
}

/// When a sink's messages count as delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// One Kafka transaction per delivery, which also records the sink's progress: a
    /// `read_committed` consumer sees every change once.
    ExactlyOnce,
    /// Acknowledged writes of an idempotent producer; a crash between the broker's
    /// acknowledgement and weir's record of it sends those messages again.
    AtLeastOnce,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkOptions {
    pub topic: String,
    pub bootstrap_servers: String,
    /// librdkafka settings given as `properties.<name>`.
    pub properties: BTreeMap<String, String>,
    pub format: SinkFormat,
    /// The columns that key each message (required for upsert and Debezium).
    pub primary_key: Vec<String>,
    pub delivery: Delivery,
    /// An append-only sink drops retractions instead of refusing an input that makes
    /// them.
    pub force_append_only: bool,
    /// Where exactly-once sinks record how far they have delivered.
    pub progress_topic: String,
}

/// The options a Kafka sink accepts besides `properties.*`.
const KNOWN: [&str; 8] = [
    "connector",
    "topic",
    "properties.bootstrap.server",
    "type",
    "primary_key",
    "force_append_only",
    "sink.delivery",
    "sink.progress.topic",
];

/// The default of `sink.progress.topic`.
pub const DEFAULT_PROGRESS_TOPIC: &str = "weir_sink_progress";

impl SinkOptions {
    /// Reads a sink's `WITH` options and its `FORMAT … ENCODE …`, if it has one.
    pub fn parse(options: &[(String, String)], format: Option<&Format>) -> Result<SinkOptions> {
        let options = OptionList::checked(options, "Kafka sink", &KNOWN)?;
        match options.required("connector")? {
            "kafka" => {}
            other => {
                return Err(
                    WeirError::not_supported(format!("sink connector '{other}'"))
                        .with_hint("weir sends sinks to Kafka: connector = 'kafka'."),
                );
            }
        }
        let declared = match format {
            None => None,
            Some(format) => {
                if format.encode != "JSON" {
                    return Err(
                        WeirError::not_supported(format!("sink ENCODE {}", format.encode))
                            .with_hint("Sinks write ENCODE JSON."),
                    );
                }
                if let Some((key, _)) = format.options.first() {
                    return Err(invalid(format!("unknown ENCODE JSON option \"{key}\"")));
                }
                Some(match format.format.as_str() {
                    "PLAIN" => SinkFormat::AppendOnly,
                    "UPSERT" => SinkFormat::Upsert,
                    "DEBEZIUM" => SinkFormat::Debezium,
                    other => {
                        return Err(WeirError::not_supported(format!("sink FORMAT {other}"))
                            .with_hint("Sinks write FORMAT PLAIN, UPSERT or DEBEZIUM."));
                    }
                })
            }
        };
        let typed = match options.get("type") {
            None => None,
            Some("append-only") => Some(SinkFormat::AppendOnly),
            Some("upsert") => Some(SinkFormat::Upsert),
            Some("debezium") => Some(SinkFormat::Debezium),
            Some(other) => {
                return Err(invalid(format!(
                    "type must be 'append-only', 'upsert' or 'debezium', not '{other}'"
                )));
            }
        };
        let format = match (declared, typed) {
            (Some(declared), Some(typed)) if declared != typed => {
                return Err(invalid(format!(
                    "the sink's FORMAT ({declared:?}) and its option type ({typed:?}) disagree"
                )));
            }
            (Some(format), _) | (None, Some(format)) => format,
            (None, None) => {
                return Err(
                    invalid("a Kafka sink needs FORMAT … ENCODE JSON or the option type")
                        .with_hint("FORMAT PLAIN | UPSERT | DEBEZIUM ENCODE JSON"),
                );
            }
        };
        let primary_key: Vec<String> = options
            .get("primary_key")
            .map(|columns| {
                columns
                    .split(',')
                    .map(|column| column.trim().to_owned())
                    .filter(|column| !column.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if format != SinkFormat::AppendOnly && primary_key.is_empty() {
            return Err(invalid(format!(
                "a {} sink needs the option primary_key",
                match format {
                    SinkFormat::Upsert => "upsert",
                    _ => "Debezium",
                }
            ))
            .with_hint("primary_key = 'column, …' names the columns that key each message."));
        }
        let delivery = match options.get("sink.delivery").unwrap_or("exactly-once") {
            "exactly-once" => Delivery::ExactlyOnce,
            "at-least-once" => Delivery::AtLeastOnce,
            other => {
                return Err(invalid(format!(
                    "sink.delivery must be 'exactly-once' or 'at-least-once', not '{other}'"
                )));
            }
        };
        let force_append_only = match options.get("force_append_only").unwrap_or("false") {
            "true" => true,
            "false" => false,
            other => {
                return Err(invalid(format!(
                    "force_append_only must be 'true' or 'false', not '{other}'"
                )));
            }
        };
        Ok(SinkOptions {
            topic: options.required("topic")?.to_owned(),
            bootstrap_servers: options.bootstrap_servers()?,
            properties: options.properties()?,
            format,
            primary_key,
            delivery,
            force_append_only,
            progress_topic: options
                .get("sink.progress.topic")
                .unwrap_or(DEFAULT_PROGRESS_TOPIC)
                .to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut all = vec![
            ("connector".to_owned(), "kafka".to_owned()),
            ("topic".to_owned(), "out".to_owned()),
            ("properties.bootstrap.server".to_owned(), "h:1".to_owned()),
        ];
        all.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        all
    }

    fn format(format: &str, encode: &str) -> Format {
        Format {
            format: format.into(),
            encode: encode.into(),
            options: vec![],
        }
    }

    #[test]
    fn format_comes_from_format_or_type() {
        let upsert = SinkOptions::parse(
            &options(&[("primary_key", "a, b")]),
            Some(&format("UPSERT", "JSON")),
        )
        .unwrap();
        assert_eq!(upsert.format, SinkFormat::Upsert);
        assert_eq!(upsert.primary_key, ["a", "b"]);
        assert_eq!(upsert.delivery, Delivery::ExactlyOnce);
        let typed = SinkOptions::parse(&options(&[("type", "append-only")]), None).unwrap();
        assert_eq!(typed.format, SinkFormat::AppendOnly);
    }

    #[test]
    fn mistakes_are_named() {
        let error = |pairs: &[(&str, &str)], format: Option<Format>| {
            SinkOptions::parse(&options(pairs), format.as_ref())
                .unwrap_err()
                .message
        };
        assert!(error(&[], Some(format("UPSERT", "JSON"))).contains("primary_key"));
        assert!(error(&[("type", "upsert")], Some(format("PLAIN", "JSON"))).contains("disagree"));
        assert!(error(&[], None).contains("FORMAT"));
        assert!(
            error(&[("sink.delivery", "twice")], Some(format("PLAIN", "JSON"))).contains("twice")
        );
        assert!(error(&[("topik", "x")], Some(format("PLAIN", "JSON"))).contains("topik"));
        assert!(error(&[], Some(format("PLAIN", "AVRO"))).contains("AVRO"));
    }
}
