//! A Kafka source's `WITH` options, checked once at CREATE so that a typo is an error
//! then rather than a surprise later.

use std::collections::BTreeMap;

use weir_common::{Result, SqlState, WeirError};

use crate::kafka_properties;

/// Where a new consumer starts reading each partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartupMode {
    Earliest,
    Latest,
    /// The first record at or after this time (milliseconds since the Unix epoch).
    Timestamp(i64),
}

/// What happens to a record that cannot be decoded into the source's columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    /// Kept in `weir_catalog.source_dead_letters`; the source goes on.
    DeadLetter,
    /// Counted in `weir_catalog.source_partitions` only; the source goes on.
    Skip,
    /// The source stops at the record, which stays unconsumed, until it is dropped.
    Fail,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaOptions {
    pub topic: String,
    pub bootstrap_servers: String,
    pub startup: StartupMode,
    /// librdkafka settings given as `properties.<name>`.
    pub properties: BTreeMap<String, String>,
    pub on_error: OnError,
    /// A record larger than this is a dead letter rather than decoded.
    pub max_record_bytes: usize,
    /// `scan.topic.missing = 'wait'`: a topic that does not exist at CREATE is waited
    /// for (and then read from its beginning) instead of refused.
    pub wait_for_topic: bool,
}

/// The options a Kafka source accepts besides `properties.*`.
const KNOWN: [&str; 8] = [
    "connector",
    "topic",
    "properties.bootstrap.server",
    "scan.startup.mode",
    "scan.startup.timestamp.millis",
    "scan.topic.missing",
    "on_error",
    "max_record_bytes",
];

/// The default of `max_record_bytes`.
const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;

/// A statement's `WITH` options (keys lower case), read by the connector they configure.
pub(crate) struct OptionList<'a> {
    options: &'a [(String, String)],
    /// What the options configure, for error messages: "Kafka source".
    what: &'static str,
}

impl<'a> OptionList<'a> {
    /// The options, after checking that each is `known` or a `properties.*` setting.
    pub fn checked(
        options: &'a [(String, String)],
        what: &'static str,
        known: &[&str],
    ) -> Result<OptionList<'a>> {
        if let Some((key, _)) = options
            .iter()
            .find(|(key, _)| !known.contains(&key.as_str()) && !key.starts_with("properties."))
        {
            return Err(
                invalid(format!("unknown {what} option \"{key}\"")).with_hint(format!(
                    "Known options: {}, and properties.<librdkafka setting>.",
                    known.join(", ")
                )),
            );
        }
        Ok(OptionList { options, what })
    }

    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn required(&self, key: &str) -> Result<&'a str> {
        self.get(key)
            .ok_or_else(|| invalid(format!("a {} needs the option {key}", self.what)))
    }

    /// The librdkafka settings given as `properties.<name>`, but for the bootstrap
    /// servers (see [`OptionList::bootstrap_servers`]); each must be one a statement may
    /// set (see the `kafka_properties` module).
    pub fn properties(&self) -> Result<BTreeMap<String, String>> {
        self.options
            .iter()
            .filter(|(key, _)| key != "properties.bootstrap.server")
            .filter_map(|(key, value)| Some((key.strip_prefix("properties.")?, value)))
            .map(|(name, value)| {
                kafka_properties::check(name)?;
                Ok((name.to_owned(), value.clone()))
            })
            .collect()
    }

    pub fn bootstrap_servers(&self) -> Result<String> {
        Ok(self.required("properties.bootstrap.server")?.to_owned())
    }
}

impl KafkaOptions {
    /// Reads a source's `WITH` options (keys lower case).
    pub fn parse(options: &[(String, String)]) -> Result<KafkaOptions> {
        let options = OptionList::checked(options, "Kafka source", &KNOWN)?;
        let startup = match (
            options.get("scan.startup.mode"),
            options.get("scan.startup.timestamp.millis"),
        ) {
            (None | Some("earliest"), None) => StartupMode::Earliest,
            (Some("latest"), None) => StartupMode::Latest,
            (None | Some("timestamp"), Some(millis)) => {
                StartupMode::Timestamp(millis.parse().map_err(|_| {
                    invalid(format!(
                        "scan.startup.timestamp.millis is not a number: {millis}"
                    ))
                })?)
            }
            (Some("timestamp"), None) => {
                return Err(invalid(
                    "scan.startup.mode 'timestamp' needs scan.startup.timestamp.millis",
                ));
            }
            (Some(mode), _) => {
                return Err(invalid(format!(
                    "scan.startup.mode must be 'earliest', 'latest' or 'timestamp', not '{mode}'"
                )));
            }
        };
        let on_error = match options.get("on_error").unwrap_or("dead_letter") {
            "dead_letter" => OnError::DeadLetter,
            "skip" => OnError::Skip,
            "fail" => OnError::Fail,
            other => {
                return Err(invalid(format!(
                    "on_error must be 'dead_letter', 'skip' or 'fail', not '{other}'"
                )));
            }
        };
        let max_record_bytes = match options.get("max_record_bytes") {
            None => DEFAULT_MAX_RECORD_BYTES,
            Some(bytes) => bytes
                .parse()
                .map_err(|_| invalid(format!("max_record_bytes is not a number: {bytes}")))?,
        };
        let wait_for_topic = match options.get("scan.topic.missing").unwrap_or("error") {
            "error" => false,
            "wait" => true,
            other => {
                return Err(invalid(format!(
                    "scan.topic.missing must be 'error' or 'wait', not '{other}'"
                )));
            }
        };
        Ok(KafkaOptions {
            topic: options.required("topic")?.to_owned(),
            bootstrap_servers: options.bootstrap_servers()?,
            startup,
            properties: options.properties()?,
            on_error,
            max_record_bytes,
            wait_for_topic,
        })
    }
}

pub(crate) fn invalid(message: impl Into<String>) -> WeirError {
    WeirError::new(SqlState::INVALID_PARAMETER_VALUE, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn options_are_read_with_their_defaults() {
        let parsed = KafkaOptions::parse(&options(&[
            ("connector", "kafka"),
            ("topic", "bids"),
            ("properties.bootstrap.server", "h:1"),
            ("properties.fetch.max.bytes", "1000"),
        ]))
        .unwrap();
        assert_eq!(parsed.startup, StartupMode::Earliest);
        assert_eq!(parsed.on_error, OnError::DeadLetter);
        assert!(!parsed.wait_for_topic);
        assert_eq!(
            parsed.properties.get("fetch.max.bytes").map(String::as_str),
            Some("1000")
        );
        assert!(!parsed.properties.contains_key("bootstrap.server"));
    }

    #[test]
    fn mistakes_are_named() {
        let base = [
            ("connector", "kafka"),
            ("topic", "t"),
            ("properties.bootstrap.server", "h:1"),
        ];
        let with = |extra: (&str, &str)| {
            let mut pairs = base.to_vec();
            pairs.push(extra);
            KafkaOptions::parse(&options(&pairs)).unwrap_err().message
        };
        assert!(with(("scan.startup.mode", "first")).contains("'first'"));
        assert!(with(("topik", "x")).contains("topik"));
        assert!(with(("on_error", "ignore")).contains("ignore"));
        assert!(with(("scan.topic.missing", "create")).contains("'create'"));
        let missing = KafkaOptions::parse(&options(&base[..2])).unwrap_err();
        assert!(missing.message.contains("properties.bootstrap.server"));
    }
}
