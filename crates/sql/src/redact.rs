//! Secrets in connector DDL: option values that are passwords, tokens, secrets or private
//! keys are stored as written (the connectors need them) but shown as `[REDACTED]`
//! wherever a stored definition is shown. An option is a secret when its key contains
//! one of [`SECRET_WORDS`]: librdkafka's `sasl.password`, `ssl.key.password`,
//! `ssl.key.pem`, `sasl.oauthbearer.client.secret`, a schema registry's password…

use crate::{ConnectorOption, ParsedStatement, parse};

/// Parts of option keys that mark their values as secrets.
const SECRET_WORDS: [&str; 6] = [
    "password",
    "secret",
    "token",
    "credential",
    "private",
    "ssl.key",
];

/// What a secret's value is shown as.
const REDACTED: &str = "[REDACTED]";

/// `definition` with the values of secret options replaced; as it is when it holds no
/// connector DDL (or does not parse, which stored definitions always do).
pub fn redacted(definition: &str) -> String {
    let Ok(mut statements) = parse(definition) else {
        return definition.to_owned();
    };
    let (options, format_options) = match statements.as_mut_slice() {
        [ParsedStatement::CreateConnector(create)] => (&mut create.options, &mut create.format),
        [ParsedStatement::CreateSink(create)] => (&mut create.options, &mut create.format),
        _ => return definition.to_owned(),
    };
    redact(options);
    if let Some(format) = format_options {
        redact(&mut format.options);
    }
    statements[0].to_string()
}

fn redact(options: &mut [ConnectorOption]) {
    for (key, value) in options {
        if SECRET_WORDS.iter().any(|word| key.contains(word)) {
            *value = REDACTED.to_owned();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_nothing_else() {
        let shown = redacted(
            "CREATE SOURCE s (a INT) WITH (connector = 'kafka', topic = 'pass', \
             properties.sasl.password = 'hunter2', properties.ssl.key.pem = 'PEM') \
             FORMAT PLAIN ENCODE AVRO (schema.registry = 'http://r', \
             schema.registry.username = 'me', schema.registry.password = 'hunter3')",
        );
        assert!(
            !shown.contains("hunter") && !shown.contains("PEM"),
            "{shown}"
        );
        assert_eq!(shown.matches(REDACTED).count(), 3, "{shown}");
        assert!(
            shown.contains("'pass'") && shown.contains("'me'"),
            "{shown}"
        );
        let sink = redacted(
            "CREATE SINK k FROM v WITH (connector = 'kafka', topic = 't', \
             properties.bootstrap.server = 'b:1', properties.sasl.oauthbearer.client.secret = 'x', \
             primary_key = 'id') FORMAT UPSERT ENCODE JSON",
        );
        assert!(sink.contains(REDACTED) && sink.contains("'id'"), "{sink}");
        let view = "CREATE MATERIALIZED VIEW password AS SELECT 'secret' AS token";
        assert_eq!(redacted(view), view);
    }
}
