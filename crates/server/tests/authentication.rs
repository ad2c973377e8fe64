//! Logging in with a password, end to end against the real binary: SCRAM-SHA-256 (the
//! default) and cleartext, the password from the environment or a file, any number of
//! logins in turn and at once, wrong passwords in between, each failure answered with
//! 28P01 only after a delay.

mod support;

use std::time::{Duration, Instant};

use support::TestServer;

const PASSWORD: &str = "s3cret-Pässword";

/// The server's delay after a failed login (`FAILED_LOGIN_DELAY` in the pgwire crate).
const FAILURE_DELAY: Duration = Duration::from_millis(500);

async fn login(server: &TestServer, password: &str) -> Result<(), tokio_postgres::Error> {
    let (client, connection) = server
        .config()
        .password(password)
        .connect(tokio_postgres::NoTls)
        .await?;
    tokio::spawn(connection);
    let row = client.query_one("SELECT 1 + 1", &[]).await?;
    assert_eq!(row.get::<_, i32>(0), 2);
    Ok(())
}

async fn assert_wrong_password_refused(server: &TestServer) {
    let started = Instant::now();
    let error = login(server, "not-the-password").await.unwrap_err();
    let code = error.as_db_error().map(|error| error.code().code());
    assert_eq!(code, Some("28P01"), "{error}");
    assert!(
        started.elapsed() >= FAILURE_DELAY,
        "a failed login was answered after {:?}",
        started.elapsed()
    );
}

/// 100 logins in turn with a wrong password before every tenth, then 20 at once.
async fn many_logins(server: &TestServer) {
    for attempt in 0..100 {
        if attempt % 10 == 0 {
            assert_wrong_password_refused(server).await;
        }
        login(server, PASSWORD)
            .await
            .unwrap_or_else(|error| panic!("login {attempt}: {error}"));
    }
    let logins: Vec<_> = (0..20).map(|_| login(server, PASSWORD)).collect();
    for result in futures::future::join_all(logins).await {
        result.expect("concurrent login");
    }
}

#[tokio::test]
async fn scram_logins_work_every_time() {
    let server = TestServer::start_fresh(&[], &[("WEIR_PASSWORD", PASSWORD)]);
    many_logins(&server).await;
}

#[tokio::test]
async fn cleartext_logins_work_every_time() {
    let server = TestServer::start_fresh(
        &["--auth-method", "password"],
        &[("WEIR_PASSWORD", PASSWORD)],
    );
    many_logins(&server).await;
}

#[tokio::test]
async fn the_password_can_come_from_a_file() {
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("password");
    std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();
    let server = TestServer::start_with(
        &data.path().join("data"),
        &["--password-file", file.to_str().unwrap()],
    );
    login(&server, PASSWORD).await.expect("login");
    assert_wrong_password_refused(&server).await;
    login(&server, PASSWORD)
        .await
        .expect("login after a failure");
}

#[test]
fn psql_logs_in_every_time() {
    let server = TestServer::start_fresh(&[], &[("WEIR_PASSWORD", PASSWORD)]);
    let psql = |password: &str| {
        std::process::Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &server.port.to_string()])
            .args(["-U", "weir", "-d", "weir", "-X", "-Atc", "SELECT 40 + 2"])
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .expect("psql runs")
    };
    for attempt in 0..100 {
        if attempt % 10 == 0 {
            let refused = psql("wrong");
            assert!(!refused.status.success());
            let stderr = String::from_utf8_lossy(&refused.stderr);
            assert!(
                stderr
                    .to_lowercase()
                    .contains("password authentication failed"),
                "psql with a wrong password: {stderr}"
            );
        }
        let output = psql(PASSWORD);
        assert!(
            output.status.success(),
            "psql login {attempt}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "42");
    }
}
