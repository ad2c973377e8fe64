//! Which librdkafka properties a statement may set as `properties.<name>`.
//!
//! librdkafka's configuration can load shared libraries (`plugin.library.paths`,
//! `ssl.engine.location`, `ssl.providers`), run programs (`sasl.kerberos.kinit.cmd`) and
//! read any file weir can (`*.location`), so a property is passed on only if it is named
//! here:
//! * [`SETTABLE`]: connection, security, timeout, fetching and batching settings, passed
//!   on as written;
//! * [`FILES`]: paths of certificates, keys and keytabs, passed on only if they lie in
//!   the server's secrets directory (checked at CREATE by
//!   [`ConnectPolicy`](crate::ConnectPolicy));
//! * [`SET_BY_WEIR`]: settings weir's exactly-once reading and writing depend on; refused
//!   with 22023.
//!
//! Anything else is refused: code-loading ones with 42501, unknown ones with 22023.

use weir_common::{Result, SqlState, WeirError};

/// Properties passed on to librdkafka as written.
const SETTABLE: &[&str] = &[
    // Connections.
    "client.id",
    "client.rack",
    "client.dns.lookup",
    "broker.address.family",
    "broker.address.ttl",
    "socket.timeout.ms",
    "socket.connection.setup.timeout.ms",
    "socket.keepalive.enable",
    "socket.nagle.disable",
    "socket.send.buffer.bytes",
    "socket.receive.buffer.bytes",
    "socket.max.fails",
    "connections.max.idle.ms",
    "reconnect.backoff.ms",
    "reconnect.backoff.max.ms",
    "retry.backoff.ms",
    "retry.backoff.max.ms",
    "metadata.max.age.ms",
    "topic.metadata.refresh.interval.ms",
    "topic.metadata.refresh.fast.interval.ms",
    "topic.metadata.propagation.max.ms",
    "api.version.request",
    "api.version.request.timeout.ms",
    "api.version.fallback.ms",
    "broker.version.fallback",
    "message.max.bytes",
    "message.copy.max.bytes",
    "receive.message.max.bytes",
    "max.in.flight.requests.per.connection",
    "max.in.flight",
    "statistics.interval.ms",
    // Security: TLS with certificates given inline, SASL.
    "security.protocol",
    "ssl.cipher.suites",
    "ssl.curves.list",
    "ssl.sigalgs.list",
    "ssl.key.password",
    "ssl.key.pem",
    "ssl.certificate.pem",
    "ssl.ca.pem",
    "ssl.keystore.password",
    "enable.ssl.certificate.verification",
    "ssl.endpoint.identification.algorithm",
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.username",
    "sasl.password",
    "sasl.kerberos.service.name",
    "sasl.kerberos.principal",
    "sasl.kerberos.min.time.before.relogin",
    "sasl.oauthbearer.config",
    "enable.sasl.oauthbearer.unsecure.jwt",
    "sasl.oauthbearer.method",
    "sasl.oauthbearer.client.id",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.scope",
    "sasl.oauthbearer.extensions",
    "sasl.oauthbearer.token.endpoint.url",
    // Consuming.
    "group.id",
    "group.instance.id",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "coordinator.query.interval.ms",
    "max.poll.interval.ms",
    "queued.min.messages",
    "queued.max.messages.kbytes",
    "fetch.wait.max.ms",
    "fetch.queue.backoff.ms",
    "fetch.message.max.bytes",
    "max.partition.fetch.bytes",
    "fetch.max.bytes",
    "fetch.min.bytes",
    "fetch.error.backoff.ms",
    "check.crcs",
    // Producing.
    "transaction.timeout.ms",
    "queue.buffering.max.messages",
    "queue.buffering.max.kbytes",
    "queue.buffering.max.ms",
    "linger.ms",
    "message.send.max.retries",
    "retries",
    "batch.num.messages",
    "batch.size",
    "compression.codec",
    "compression.type",
    "compression.level",
    "request.timeout.ms",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "acks",
    "request.required.acks",
    "partitioner",
    "sticky.partitioning.linger.ms",
];

/// Properties that name a file librdkafka reads: allowed only inside the secrets directory.
pub(crate) const FILES: &[&str] = &[
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
    "ssl.crl.location",
    "ssl.keystore.location",
    "sasl.kerberos.keytab",
];

/// Properties weir sets itself, for offsets it commits in its own epochs and for
/// transactional sinks.
const SET_BY_WEIR: &[&str] = &[
    "bootstrap.servers",
    "metadata.broker.list",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "auto.commit.interval.ms",
    "auto.offset.reset",
    "isolation.level",
    "enable.partition.eof",
    "allow.auto.create.topics",
    "enable.idempotence",
    "transactional.id",
];

/// Properties that load code into weir's process or run a program.
const RUNS_CODE: &[(&str, &str)] = &[
    ("plugin.library.paths", "loads shared libraries"),
    ("ssl.engine.location", "loads an OpenSSL engine"),
    ("ssl.engine.id", "selects an OpenSSL engine"),
    ("ssl.providers", "loads OpenSSL providers"),
    ("sasl.kerberos.kinit.cmd", "runs a program"),
];

/// Checks that a statement may set the librdkafka property `name` (without its
/// `properties.` prefix).
pub(crate) fn check(name: &str) -> Result<()> {
    if SETTABLE.contains(&name) || FILES.contains(&name) {
        return Ok(());
    }
    if let Some((_, what)) = RUNS_CODE.iter().find(|(code, _)| *code == name) {
        return Err(WeirError::new(
            SqlState::INSUFFICIENT_PRIVILEGE,
            format!(
                "the librdkafka property \"{name}\" cannot be set from SQL: it {what} in weir's process"
            ),
        ));
    }
    if SET_BY_WEIR.contains(&name) {
        return Err(WeirError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("the librdkafka property \"{name}\" is set by weir"),
        )
        .with_hint(
            "weir commits offsets in its own epochs and writes sinks in transactions; the bootstrap servers are properties.bootstrap.server.",
        ));
    }
    Err(WeirError::new(
        SqlState::INVALID_PARAMETER_VALUE,
        format!("the librdkafka property \"{name}\" is not one a statement may set"),
    )
    .with_hint(
        "The README's section \"Security\" lists the properties.<name> settings weir passes on.",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(name: &str) -> Option<&'static str> {
        check(name).err().map(|error| error.state.code())
    }

    #[test]
    fn settable_and_file_properties_pass() {
        assert_eq!(code("sasl.password"), None);
        assert_eq!(code("fetch.max.bytes"), None);
        assert_eq!(code("ssl.key.location"), None);
    }

    #[test]
    fn code_loading_properties_are_a_privilege_error() {
        for name in [
            "plugin.library.paths",
            "ssl.engine.location",
            "sasl.kerberos.kinit.cmd",
        ] {
            assert_eq!(code(name), Some("42501"), "{name}");
        }
    }

    #[test]
    fn weirs_own_and_unknown_properties_are_invalid() {
        assert_eq!(code("enable.auto.commit"), Some("22023"));
        assert_eq!(code("transactional.id"), Some("22023"));
        assert_eq!(code("debug"), Some("22023"));
        assert_eq!(code("no.such.thing"), Some("22023"));
    }

    #[test]
    fn the_lists_do_not_overlap() {
        for name in SETTABLE.iter().chain(FILES) {
            assert!(!SET_BY_WEIR.contains(name), "{name}");
            assert!(!RUNS_CODE.iter().any(|(code, _)| code == name), "{name}");
        }
    }
}
