//! Session settings: what `SET`, `SHOW` and `RESET` read and write, and what the server
//! reports to the client at start-up and on change (`ParameterStatus`).
//!
//! The names, defaults and spellings are PostgreSQL's, because drivers send them and check
//! the answers. Settings that only make sense for PostgreSQL's own machinery
//! (`lock_timeout`, `work_mem`…) are accepted and shown but change nothing; the
//! `description` of each says what weir does with it.

use std::collections::BTreeMap;
use std::time::Duration;

use weir_common::{Result, SqlState, WeirError};

/// The PostgreSQL version weir presents to clients, which use it to pick features.
pub const SERVER_VERSION: &str = "16.6";

struct Parameter {
    /// PostgreSQL's spelling; lookups ignore case.
    name: &'static str,
    default: &'static str,
    /// Set only by the server.
    read_only: bool,
    /// Reported to the client in a ParameterStatus message at start-up and on change.
    reported: bool,
    description: &'static str,
}

const fn parameter(
    name: &'static str,
    default: &'static str,
    read_only: bool,
    reported: bool,
    description: &'static str,
) -> Parameter {
    Parameter {
        name,
        default,
        read_only,
        reported,
        description,
    }
}

const PARAMETERS: &[Parameter] = &[
    parameter(
        "application_name",
        "",
        false,
        true,
        "Name of the client application.",
    ),
    parameter(
        "bytea_output",
        "hex",
        false,
        false,
        "Output format of bytea (hex).",
    ),
    parameter(
        "client_encoding",
        "UTF8",
        false,
        true,
        "Client character set; only UTF8.",
    ),
    parameter(
        "client_min_messages",
        "notice",
        false,
        false,
        "Lowest level of messages sent to the client.",
    ),
    parameter(
        "DateStyle",
        "ISO, MDY",
        false,
        true,
        "Display format of dates and times; ISO output.",
    ),
    parameter(
        "default_transaction_isolation",
        "read committed",
        false,
        false,
        "Accepted; every statement is atomic on its own.",
    ),
    parameter(
        "default_transaction_read_only",
        "off",
        false,
        false,
        "Accepted; has no effect.",
    ),
    parameter(
        "extra_float_digits",
        "1",
        false,
        false,
        "Floats are always printed in their shortest exact form.",
    ),
    parameter(
        "idle_in_transaction_session_timeout",
        "0",
        false,
        false,
        "Accepted; has no effect.",
    ),
    parameter(
        "implicit_flush",
        "on",
        false,
        false,
        "Whether DML returns once the materialized views reflect it (on), or leaves them to the next barrier (off, for bulk loads).",
    ),
    parameter(
        "integer_datetimes",
        "on",
        true,
        true,
        "Date and time values are stored as integers.",
    ),
    parameter(
        "IntervalStyle",
        "postgres",
        false,
        true,
        "Display format of intervals.",
    ),
    parameter(
        "is_superuser",
        "on",
        true,
        true,
        "Every user has every privilege.",
    ),
    parameter(
        "lock_timeout",
        "0",
        false,
        false,
        "Accepted; has no effect.",
    ),
    parameter(
        "max_identifier_length",
        "63",
        true,
        false,
        "Longest identifier PostgreSQL clients expect.",
    ),
    parameter(
        "search_path",
        "\"$user\", public",
        false,
        false,
        "Schemas searched for unqualified names; weir resolves them in public.",
    ),
    parameter(
        "server_encoding",
        "UTF8",
        true,
        true,
        "Server character set.",
    ),
    parameter(
        "server_version",
        SERVER_VERSION,
        true,
        true,
        "PostgreSQL version weir is compatible with.",
    ),
    parameter(
        "server_version_num",
        "160006",
        true,
        false,
        "PostgreSQL version as a number.",
    ),
    parameter(
        "session_authorization",
        "weir",
        false,
        true,
        "The session's user.",
    ),
    parameter(
        "standard_conforming_strings",
        "on",
        true,
        true,
        "Backslashes in ordinary string literals are literal.",
    ),
    parameter(
        "statement_timeout",
        "0",
        false,
        false,
        "Cancel statements running longer than this (0: never).",
    ),
    parameter(
        "TimeZone",
        "UTC",
        false,
        true,
        "Time zone for displaying timestamps.",
    ),
    parameter(
        "transaction_isolation",
        "read committed",
        false,
        false,
        "Accepted; every statement is atomic on its own.",
    ),
    parameter(
        "transaction_read_only",
        "off",
        false,
        false,
        "Accepted; has no effect.",
    ),
    parameter("work_mem", "4MB", false, false, "Accepted; has no effect."),
];

fn find(name: &str) -> Option<&'static Parameter> {
    PARAMETERS
        .iter()
        .find(|parameter| parameter.name.eq_ignore_ascii_case(name))
}

fn unknown(name: &str) -> WeirError {
    WeirError::new(
        SqlState::UNDEFINED_OBJECT,
        format!("unrecognized configuration parameter \"{name}\""),
    )
}

/// One session's settings.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Values set by the client at start-up, by canonical name: what RESET returns to.
    startup: BTreeMap<&'static str, String>,
    /// Values set since, by canonical name.
    values: BTreeMap<&'static str, String>,
}

impl Settings {
    /// The settings a client asked for in its startup message; unknown or invalid ones are
    /// ignored, as PostgreSQL ignores options it cannot apply at startup only when told to.
    pub fn from_startup<'a>(parameters: impl IntoIterator<Item = (&'a str, &'a str)>) -> Settings {
        let mut settings = Settings::default();
        for (name, value) in parameters {
            let name = if name == "user" {
                "session_authorization"
            } else {
                name
            };
            let Some(parameter) = find(name).filter(|parameter| !parameter.read_only) else {
                continue;
            };
            if let Ok(value) = normalize(parameter, value) {
                settings.startup.insert(parameter.name, value);
            }
        }
        settings
    }

    pub fn get(&self, name: &str) -> Result<String> {
        let parameter = find(name).ok_or_else(|| unknown(name))?;
        Ok(self
            .values
            .get(parameter.name)
            .or_else(|| self.startup.get(parameter.name))
            .cloned()
            .unwrap_or_else(|| parameter.default.to_owned()))
    }

    /// Sets `name` to `value`; returns the canonical name and value if the client must be
    /// told (ParameterStatus).
    pub fn set(&mut self, name: &str, value: &str) -> Result<Option<(String, String)>> {
        let parameter = find(name).ok_or_else(|| unknown(name))?;
        if parameter.read_only {
            return Err(WeirError::new(
                SqlState::CANT_CHANGE_RUNTIME_PARAM,
                format!("parameter \"{}\" cannot be changed", parameter.name),
            ));
        }
        let value = normalize(parameter, value)?;
        self.values.insert(parameter.name, value.clone());
        Ok(parameter
            .reported
            .then(|| (parameter.name.to_owned(), value)))
    }

    /// Returns `name` to its value at start-up; like [`Settings::set`], says what to report.
    pub fn reset(&mut self, name: &str) -> Result<Option<(String, String)>> {
        let parameter = find(name).ok_or_else(|| unknown(name))?;
        self.values.remove(parameter.name);
        Ok(parameter.reported.then(|| {
            (
                parameter.name.to_owned(),
                self.get(parameter.name).unwrap_or_default(),
            )
        }))
    }

    /// Returns every setting to its value at start-up; says what to report.
    pub fn reset_all(&mut self) -> Vec<(String, String)> {
        let changed: Vec<&'static str> = std::mem::take(&mut self.values).into_keys().collect();
        changed
            .into_iter()
            .filter_map(find)
            .filter(|parameter| parameter.reported)
            .map(|parameter| {
                (
                    parameter.name.to_owned(),
                    self.get(parameter.name).unwrap_or_default(),
                )
            })
            .collect()
    }

    /// Every setting, for `SHOW ALL`: name, value, description.
    pub fn all(&self) -> Vec<(String, String, String)> {
        PARAMETERS
            .iter()
            .map(|parameter| {
                (
                    parameter.name.to_owned(),
                    self.get(parameter.name).unwrap_or_default(),
                    parameter.description.to_owned(),
                )
            })
            .collect()
    }

    /// The settings sent to a client right after it authenticates.
    pub fn reported(&self) -> Vec<(String, String)> {
        PARAMETERS
            .iter()
            .filter(|parameter| parameter.reported)
            .map(|parameter| {
                (
                    parameter.name.to_owned(),
                    self.get(parameter.name).unwrap_or_default(),
                )
            })
            .collect()
    }

    /// `statement_timeout`, if one is set.
    /// Whether DML maintains the views before it returns.
    pub fn implicit_flush(&self) -> bool {
        self.get("implicit_flush").is_ok_and(|value| value == "on")
    }

    pub fn statement_timeout(&self) -> Option<Duration> {
        let value = self.get("statement_timeout").ok()?;
        let timeout = parse_duration_ms(&value)?;
        (timeout > 0).then(|| Duration::from_millis(timeout))
    }
}

/// Checks a new value and puts it in the form `SHOW` prints.
fn normalize(parameter: &Parameter, value: &str) -> Result<String> {
    let invalid = || {
        WeirError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!(
                "invalid value for parameter \"{}\": \"{value}\"",
                parameter.name
            ),
        )
    };
    match parameter.name {
        "client_encoding" => {
            let upper = value.to_ascii_uppercase().replace('-', "");
            if upper == "UTF8" || upper == "UNICODE" {
                Ok("UTF8".to_owned())
            } else {
                Err(invalid().with_hint("weir supports only the UTF8 encoding."))
            }
        }
        "DateStyle" => {
            if value.to_ascii_uppercase().contains("ISO") || value.trim().is_empty() {
                Ok("ISO, MDY".to_owned())
            } else {
                Err(invalid().with_hint("weir supports only ISO date output."))
            }
        }
        "statement_timeout" | "lock_timeout" | "idle_in_transaction_session_timeout" => {
            let ms = parse_duration_ms(value).ok_or_else(invalid)?;
            Ok(match ms {
                0 => "0".to_owned(),
                ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
                ms => format!("{ms}ms"),
            })
        }
        "implicit_flush" => match value.trim().to_ascii_lowercase().as_str() {
            "on" | "true" | "yes" | "1" => Ok("on".to_owned()),
            "off" | "false" | "no" | "0" => Ok("off".to_owned()),
            _ => Err(invalid()),
        },
        "extra_float_digits" => value
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|digits| (-15..=3).contains(digits))
            .map(|digits| digits.to_string())
            .ok_or_else(invalid),
        _ => Ok(value.to_owned()),
    }
}

/// PostgreSQL durations: a bare number is milliseconds, or a number with a unit.
fn parse_duration_ms(value: &str) -> Option<u64> {
    let value = value.trim().trim_matches('\'');
    let split = value
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match unit.trim() {
        "" | "ms" => 1.0,
        "s" => 1000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    };
    Some((number * factor) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ignore_case_and_report_changes() {
        let mut settings = Settings::default();
        assert_eq!(settings.get("datestyle").unwrap(), "ISO, MDY");
        let reported = settings.set("application_name", "psql").unwrap();
        assert_eq!(reported, Some(("application_name".into(), "psql".into())));
        assert_eq!(settings.set("search_path", "public").unwrap(), None);
        assert_eq!(settings.get("SEARCH_PATH").unwrap(), "public");
    }

    #[test]
    fn unknown_and_read_only_parameters_are_refused() {
        let mut settings = Settings::default();
        assert_eq!(
            settings.get("no_such").unwrap_err().state,
            SqlState::UNDEFINED_OBJECT
        );
        assert_eq!(
            settings.set("server_version", "1").unwrap_err().state,
            SqlState::CANT_CHANGE_RUNTIME_PARAM
        );
        assert_eq!(
            settings.set("client_encoding", "LATIN1").unwrap_err().state,
            SqlState::INVALID_PARAMETER_VALUE
        );
    }

    #[test]
    fn statement_timeout_understands_units() {
        let mut settings = Settings::default();
        assert_eq!(settings.statement_timeout(), None);
        settings.set("statement_timeout", "2s").unwrap();
        assert_eq!(settings.statement_timeout(), Some(Duration::from_secs(2)));
        settings.set("statement_timeout", "150").unwrap();
        assert_eq!(settings.get("statement_timeout").unwrap(), "150ms");
        assert_eq!(
            settings.statement_timeout(),
            Some(Duration::from_millis(150))
        );
    }

    #[test]
    fn startup_parameters_apply_and_reset_returns_to_them() {
        let mut settings = Settings::from_startup([("user", "alice"), ("application_name", "app")]);
        assert_eq!(settings.get("session_authorization").unwrap(), "alice");
        settings.set("application_name", "other").unwrap();
        assert_eq!(settings.get("application_name").unwrap(), "other");
        let reported = settings.reset_all();
        assert_eq!(reported, vec![("application_name".into(), "app".into())]);
        assert_eq!(settings.get("application_name").unwrap(), "app");
    }
}
