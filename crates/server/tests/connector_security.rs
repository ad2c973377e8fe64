//! Connector DDL cannot make weir run code, read files or connect where the operator does
//! not allow: librdkafka properties are checked against an allow-list, files must lie in
//! the secrets directory, hosts in `--allowed-connect-hosts`, and only superusers may
//! create connectors at all.

mod support;

use support::{TestServer, assert_refused};

/// A `CREATE SOURCE` of a JSON topic `t` on `broker`, with `more` options.
fn source(broker: &str, more: &str) -> String {
    format!(
        "CREATE SOURCE s (x text) WITH (connector = 'kafka', topic = 't', \
         properties.bootstrap.server = '{broker}'{more}) FORMAT PLAIN ENCODE JSON"
    )
}

/// No broker listens here: a CREATE that passes every check ends with a notice.
const NO_BROKER: &str = "127.0.0.1:1";

#[tokio::test]
async fn code_loading_properties_are_refused_before_anything_loads() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("loaded");
    let library = dir.path().join("plugin.so");
    let code = format!(
        "#include <stdio.h>\n__attribute__((constructor)) static void loaded(void) {{ \
         FILE *f = fopen(\"{}\", \"w\"); if (f) fclose(f); }}\n",
        marker.display()
    );
    std::fs::write(dir.path().join("plugin.c"), code).unwrap();
    let compiled = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&library)
        .arg(dir.path().join("plugin.c"))
        .status()
        .expect("a C compiler (RocksDB's build needs one too)");
    assert!(compiled.success());

    let server = TestServer::start();
    let client = server.connect().await;
    let library = library.display();
    for (property, value) in [
        ("plugin.library.paths", library.to_string()),
        ("ssl.engine.location", library.to_string()),
        ("ssl.providers", "legacy".to_owned()),
        (
            "sasl.kerberos.kinit.cmd",
            "touch /tmp/weir-kinit".to_owned(),
        ),
    ] {
        let more = format!(", properties.{property} = '{value}'");
        assert_refused(&client, source(NO_BROKER, &more), "42501", property).await;
    }
    assert!(!marker.exists(), "the library's constructor ran in weir");
    for sink in [
        format!(
            "CREATE SINK k AS SELECT 1 AS a WITH (connector = 'kafka', topic = 't', \
             properties.bootstrap.server = '{NO_BROKER}', properties.plugin.library.paths = '{library}') FORMAT PLAIN ENCODE JSON"
        ),
        format!(
            "CREATE TABLE t (x text) WITH (connector = 'kafka', topic = 't', \
             properties.bootstrap.server = '{NO_BROKER}', properties.plugin.library.paths = '{library}') \
             FORMAT PLAIN ENCODE JSON"
        ),
    ] {
        assert_refused(&client, sink, "42501", "plugin.library.paths").await;
    }
    assert!(!marker.exists(), "the library's constructor ran in weir");
}

#[tokio::test]
async fn weirs_own_and_unknown_properties_are_invalid() {
    let server = TestServer::start();
    let client = server.connect().await;
    for property in [
        "enable.auto.commit",
        "isolation.level",
        "debug",
        "no.such.property",
    ] {
        let more = format!(", properties.{property} = 'x'");
        assert_refused(&client, source(NO_BROKER, &more), "22023", property).await;
    }
    let settable = ", properties.fetch.max.bytes = '2000000', properties.client.id = 'c'";
    client
        .batch_execute(&source(NO_BROKER, settable))
        .await
        .expect("settable properties pass");
}

#[tokio::test]
async fn files_are_read_only_from_the_secrets_directory() {
    let secrets = tempfile::tempdir().unwrap();
    let certificate = secrets.path().join("ca.pem");
    std::fs::write(&certificate, "not a certificate").unwrap();
    let secrets_dir = secrets.path().to_str().unwrap();
    let guarded = TestServer::start_fresh(&["--secrets-dir", secrets_dir], &[]);
    let plain = TestServer::start();

    // Without a secrets directory, an existing and a missing file get the same answer:
    // the answer tells nothing about the server's files.
    let client = plain.connect().await;
    for path in [
        "/etc/shadow",
        "/no/such/file",
        certificate.to_str().unwrap(),
    ] {
        let more = format!(", properties.ssl.key.location = '{path}'");
        assert_refused(
            &client,
            source(NO_BROKER, &more),
            "42501",
            "no secrets directory",
        )
        .await;
    }

    let client = guarded.connect().await;
    let outside = format!("{secrets_dir}/../{}", guarded.data_dir.display());
    for path in ["/etc/shadow", "/no/such/file", "ca.pem", &outside] {
        let more = format!(", properties.ssl.ca.location = '{path}'");
        assert_refused(
            &client,
            source(NO_BROKER, &more),
            "42501",
            "ssl.ca.location",
        )
        .await;
    }
    let more = format!(", properties.ssl.ca.location = '{}'", certificate.display());
    client
        .batch_execute(&source(NO_BROKER, &more))
        .await
        .expect("a file in the secrets directory may be named");
}

#[tokio::test]
async fn connectors_reach_only_the_allowed_hosts() {
    let server = TestServer::start_fresh(
        &["--allowed-connect-hosts", "127.0.0.1:1,registry.internal"],
        &[],
    );
    let client = server.connect().await;
    for broker in [
        "127.0.0.1:9092",
        "169.254.169.254:80",
        "127.0.0.1:1,10.0.0.1:9092",
    ] {
        assert_refused(&client, source(broker, ""), "42501", "is not allowed").await;
    }
    let avro = |registry: &str| {
        format!(
            "CREATE SOURCE a WITH (connector = 'kafka', topic = 't', \
             properties.bootstrap.server = '{NO_BROKER}') \
             FORMAT PLAIN ENCODE AVRO (schema.registry = '{registry}')"
        )
    };
    assert_refused(
        &client,
        avro("http://169.254.169.254/"),
        "42501",
        "169.254.169.254:80",
    )
    .await;
    let token = ", properties.sasl.oauthbearer.token.endpoint.url = 'http://10.0.0.1/token'";
    assert_refused(&client, source(NO_BROKER, token), "42501", "10.0.0.1:80").await;
    let sink = "CREATE SINK k AS SELECT 1 AS a WITH (connector = 'kafka', topic = 't', \
                properties.bootstrap.server = '10.0.0.1:9092')";
    assert_refused(&client, sink.to_owned(), "42501", "10.0.0.1:9092").await;
    client
        .batch_execute(&source(NO_BROKER, ""))
        .await
        .expect("an allowed broker");
}

#[tokio::test]
async fn only_superusers_create_connectors() {
    let server = TestServer::start();
    let mut config = server.config();
    config.user("app");
    let (app, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let sink = "CREATE SINK k AS SELECT 1 AS a WITH (connector = 'kafka', topic = 't', \
                properties.bootstrap.server = '127.0.0.1:1') FORMAT PLAIN ENCODE JSON";
    assert_refused(&app, source(NO_BROKER, ""), "42501", "permission denied").await;
    assert_refused(&app, sink.to_owned(), "42501", "permission denied").await;
    // The login decides, not the setting.
    app.batch_execute("SET session_authorization = 'weir'")
        .await
        .unwrap();
    assert_refused(&app, source(NO_BROKER, ""), "42501", "permission denied").await;
    // Everything else is open to every user.
    app.batch_execute("CREATE TABLE t (a int); INSERT INTO t VALUES (1); CREATE MATERIALIZED VIEW v AS SELECT count(*) FROM t")
        .await
        .unwrap();
    let weir = server.connect().await;
    weir.batch_execute(&source(NO_BROKER, ""))
        .await
        .expect("the superuser weir");
}
