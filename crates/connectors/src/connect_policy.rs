//! What connector DDL may make weir reach, set by the server's operator: the hosts of
//! Kafka brokers, schema registries and OAuth token endpoints (`--allowed-connect-hosts`),
//! and the files librdkafka may read (`--secrets-dir`). Checked at CREATE, before weir
//! connects anywhere.
//!
//! Hosts are compared as written in the statement, not as they resolve, so list names
//! and addresses the way users write them. A broker's metadata names the other brokers of
//! its cluster, which the client then connects to; only the addresses written in SQL are
//! checked.

use std::path::{Path, PathBuf};

use weir_common::{Result, SqlState, WeirError};
use weir_sql::ConnectorOption;

use crate::kafka_properties;

/// The operator's limits on connector DDL. The default allows every host and no file.
#[derive(Clone, Debug, Default)]
pub struct ConnectPolicy {
    /// `None`: any host may be reached.
    pub allowed_hosts: Option<Vec<AllowedHost>>,
    /// The directory certificate, key and keytab files must lie in; `None`: no file may
    /// be named.
    pub secrets_dir: Option<PathBuf>,
}

/// One entry of `--allowed-connect-hosts`: a host name or address, with or without a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHost {
    host: String,
    port: Option<u16>,
}

impl AllowedHost {
    /// A comma-separated list of `host` or `host:port` (`[v6address]:port` for IPv6).
    pub fn parse_list(list: &str) -> std::result::Result<Vec<AllowedHost>, String> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                let (host, port) = split_host_port(entry)
                    .ok_or_else(|| format!("\"{entry}\" is not a host or host:port"))?;
                Ok(AllowedHost { host, port })
            })
            .collect()
    }

    fn allows(&self, host: &str, port: u16) -> bool {
        self.host.eq_ignore_ascii_case(host) && self.port.is_none_or(|allowed| allowed == port)
    }
}

impl ConnectPolicy {
    /// Checks a CREATE SOURCE, TABLE or SINK's `WITH` options and its `FORMAT` options.
    pub fn check(&self, options: &[ConnectorOption], format: &[ConnectorOption]) -> Result<()> {
        for (key, value) in options {
            match key.as_str() {
                "properties.bootstrap.server" => {
                    for server in value.split(',').map(str::trim) {
                        self.check_broker(server)?;
                    }
                }
                "properties.sasl.oauthbearer.token.endpoint.url" => self.check_url(key, value)?,
                _ => {
                    if let Some(name) = key.strip_prefix("properties.")
                        && kafka_properties::FILES.contains(&name)
                    {
                        self.check_file(key, value)?;
                    }
                }
            }
        }
        for (key, value) in format {
            if key == "schema.registry" {
                for url in value.split(',').map(str::trim) {
                    self.check_url(key, url)?;
                }
            }
        }
        Ok(())
    }

    /// A bootstrap server: `host:port`, optionally after a `PROTOCOL://` prefix.
    fn check_broker(&self, server: &str) -> Result<()> {
        let address = server.split_once("://").map_or(server, |(_, rest)| rest);
        let (host, port) = split_host_port(address).ok_or_else(|| {
            WeirError::new(
                SqlState::INVALID_PARAMETER_VALUE,
                format!("the bootstrap server \"{server}\" is not host:port"),
            )
        })?;
        self.check_host(&host, port.unwrap_or(9092))
    }

    fn check_url(&self, key: &str, url: &str) -> Result<()> {
        let parsed = url::Url::parse(url).map_err(|error| {
            WeirError::new(
                SqlState::INVALID_PARAMETER_VALUE,
                format!("{key} \"{url}\" is not a URL: {error}"),
            )
        })?;
        let host = parsed.host_str().unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.check_host(host, parsed.port_or_known_default().unwrap_or(0))
    }

    fn check_host(&self, host: &str, port: u16) -> Result<()> {
        let Some(allowed) = &self.allowed_hosts else {
            return Ok(());
        };
        if allowed.iter().any(|entry| entry.allows(host, port)) {
            return Ok(());
        }
        Err(WeirError::new(
            SqlState::INSUFFICIENT_PRIVILEGE,
            format!("connecting to {host}:{port} is not allowed on this server"),
        )
        .with_hint("The server's --allowed-connect-hosts lists the hosts connectors may reach."))
    }

    /// A file option: an absolute path to an existing file inside the secrets directory.
    fn check_file(&self, key: &str, value: &str) -> Result<()> {
        let refused = |why: &str| {
            Err(WeirError::new(
                SqlState::INSUFFICIENT_PRIVILEGE,
                format!("{key} may not name \"{value}\": {why}"),
            )
            .with_hint("Certificates and keys can be given inline (properties.ssl.ca.pem, ssl.certificate.pem, ssl.key.pem), or as files in the server's --secrets-dir."))
        };
        let Some(dir) = &self.secrets_dir else {
            return refused("this server has no secrets directory");
        };
        if !Path::new(value).is_absolute() {
            return refused("the path is not absolute");
        }
        // Both resolved, so that neither `..` nor a link leads out of the directory.
        let inside = match (std::fs::canonicalize(dir), std::fs::canonicalize(value)) {
            (Ok(dir), Ok(file)) => file.starts_with(dir) && file.is_file(),
            _ => false,
        };
        if inside {
            Ok(())
        } else {
            refused("it is not a file in the server's secrets directory")
        }
    }
}

/// `host`, `host:port` or `[v6address]:port`, the host without brackets.
fn split_host_port(address: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = address.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match address.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host, Some(port)),
            _ => (address, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(port) => Some(port.parse().ok()?),
        None => None,
    };
    Some((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> Vec<ConnectorOption> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn state(result: Result<()>) -> Option<&'static str> {
        result.err().map(|error| error.state.code())
    }

    fn limited(list: &str) -> ConnectPolicy {
        ConnectPolicy {
            allowed_hosts: Some(AllowedHost::parse_list(list).unwrap()),
            secrets_dir: None,
        }
    }

    #[test]
    fn any_host_is_allowed_by_default() {
        let policy = ConnectPolicy::default();
        let with = options(&[("properties.bootstrap.server", "10.0.0.1:9092")]);
        assert_eq!(state(policy.check(&with, &[])), None);
    }

    #[test]
    fn brokers_and_registries_must_be_listed() {
        let policy = limited("kafka.internal, 127.0.0.1:9092, [::1]:8081");
        let broker = |servers: &str| {
            state(policy.check(&options(&[("properties.bootstrap.server", servers)]), &[]))
        };
        assert_eq!(broker("kafka.internal:9093,127.0.0.1:9092"), None);
        assert_eq!(broker("SASL_SSL://KAFKA.internal:1"), None);
        assert_eq!(broker("127.0.0.1:9093"), Some("42501"));
        assert_eq!(
            broker("kafka.internal:9092,169.254.169.254:80"),
            Some("42501")
        );
        let registry =
            |urls: &str| state(policy.check(&[], &options(&[("schema.registry", urls)])));
        assert_eq!(registry("http://[::1]:8081/"), None);
        assert_eq!(registry("http://[::1]:8082"), Some("42501"));
        assert_eq!(registry("http://kafka.internal"), None);
        assert_eq!(registry("http://evil.example/"), Some("42501"));
        let token = options(&[(
            "properties.sasl.oauthbearer.token.endpoint.url",
            "https://169.254.169.254/token",
        )]);
        assert_eq!(state(policy.check(&token, &[])), Some("42501"));
    }

    #[test]
    fn files_must_lie_in_the_secrets_directory() {
        let secrets = tempfile::tempdir().unwrap();
        let key = secrets.path().join("client.key");
        std::fs::write(&key, "key").unwrap();
        let outside = tempfile::NamedTempFile::new().unwrap();
        let location = |policy: &ConnectPolicy, path: &str| {
            state(policy.check(&options(&[("properties.ssl.key.location", path)]), &[]))
        };
        let none = ConnectPolicy::default();
        assert_eq!(location(&none, key.to_str().unwrap()), Some("42501"));
        let policy = ConnectPolicy {
            allowed_hosts: None,
            secrets_dir: Some(secrets.path().to_owned()),
        };
        assert_eq!(location(&policy, key.to_str().unwrap()), None);
        assert_eq!(location(&policy, "/etc/shadow"), Some("42501"));
        assert_eq!(
            location(&policy, outside.path().to_str().unwrap()),
            Some("42501")
        );
        let escape = format!("{}/../{}", secrets.path().display(), "x");
        assert_eq!(location(&policy, &escape), Some("42501"));
        assert_eq!(location(&policy, "client.key"), Some("42501"));
    }

    #[test]
    fn host_lists_parse() {
        assert_eq!(
            AllowedHost::parse_list("a, b:1,[::1]:2").unwrap(),
            vec![
                AllowedHost {
                    host: "a".into(),
                    port: None
                },
                AllowedHost {
                    host: "b".into(),
                    port: Some(1)
                },
                AllowedHost {
                    host: "::1".into(),
                    port: Some(2)
                },
            ]
        );
        assert!(AllowedHost::parse_list("a:port").is_err());
    }
}
