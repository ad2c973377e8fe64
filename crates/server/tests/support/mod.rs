//! Starting and stopping the real `weir` binary for end-to-end tests.

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod avro;
pub mod kafka;
pub mod postgres;
pub mod random;
pub mod schema_registry;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Waits for `child` to write its address to `address_file` and returns its port; panics
/// if it exits first or takes longer than a minute.
fn wait_until_ready(child: &mut Child, address_file: &Path) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(address_file) {
            let address: std::net::SocketAddr = text.trim().parse().expect("an address");
            return address.port();
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("weir exited before it was ready: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("weir did not become ready within a minute");
}

/// A `weir` process on a free port, stopped when dropped.
pub struct TestServer {
    child: Option<Child>,
    pub port: u16,
    pub data_dir: PathBuf,
    /// Keeps a temporary data directory alive as long as the server.
    _temp: Option<tempfile::TempDir>,
    /// Holds the file the server writes its address to.
    _address_dir: tempfile::TempDir,
}

impl TestServer {
    /// A server on a fresh, empty data directory.
    pub fn start() -> TestServer {
        TestServer::start_fresh(&[], &[])
    }

    /// A server on a fresh, empty data directory, with `extra_args` and environment
    /// variables `env`.
    pub fn start_fresh(extra_args: &[&str], env: &[(&str, &str)]) -> TestServer {
        let temp = tempfile::tempdir().expect("temporary directory");
        let mut server = TestServer::start_with_env(temp.path(), extra_args, env);
        server._temp = Some(temp);
        server
    }

    /// A server on `data_dir`, which may hold data from an earlier server.
    pub fn start_in(data_dir: &Path) -> TestServer {
        TestServer::start_with(data_dir, &[])
    }

    pub fn start_with(data_dir: &Path, extra_args: &[&str]) -> TestServer {
        TestServer::start_with_env(data_dir, extra_args, &[])
    }

    /// A server with `extra_args` and environment variables `env`.
    pub fn start_with_env(
        data_dir: &Path,
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> TestServer {
        // weir takes a free port itself and names it in the address file: a port chosen
        // here could be taken by another test before weir binds it.
        let address_dir = tempfile::tempdir().expect("temporary directory");
        let address_file = address_dir.path().join("address");
        let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(["--listen", "127.0.0.1:0", "--address-file"])
            .arg(&address_file)
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra_args)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .spawn()
            .expect("weir starts");
        let port = wait_until_ready(&mut child, &address_file);
        TestServer {
            child: Some(child),
            port,
            data_dir: data_dir.to_path_buf(),
            _temp: None,
            _address_dir: address_dir,
        }
    }

    pub fn connection_string(&self) -> String {
        format!("host=127.0.0.1 port={} user=weir dbname=weir", self.port)
    }

    pub fn config(&self) -> tokio_postgres::Config {
        self.connection_string()
            .parse()
            .expect("valid configuration")
    }

    /// A tokio-postgres client whose connection runs on its own task.
    pub async fn connect(&self) -> tokio_postgres::Client {
        let (client, connection) = self
            .config()
            .connect(tokio_postgres::NoTls)
            .await
            .expect("connects to weir");
        tokio::spawn(connection);
        client
    }

    /// Runs the real `psql` against this server with `args` after the connection options.
    pub fn psql(&self, args: &[&str]) -> Output {
        Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "weir",
                "-d",
                "weir",
            ])
            .args(["-X", "-v", "ON_ERROR_STOP=1"])
            .args(args)
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .expect("psql runs")
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The processor time (user and system) the server has used so far.
    pub fn cpu_time(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // The fields after the command name, which is in parentheses; utime and stime are
        // the 14th and 15th fields, in clock ticks (100 per second on Linux).
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .collect();
        let ticks: u64 = [11, 12]
            .iter()
            .filter_map(|index| fields.get(*index)?.parse::<u64>().ok())
            .sum();
        Duration::from_millis(ticks * 10)
    }

    /// Stops the server with SIGTERM and waits for it to exit; returns whether it exited
    /// cleanly.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Waits up to `timeout` for the server to exit by itself; returns whether it did.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match self.child.as_mut().map(Child::try_wait) {
                None | Some(Ok(Some(_))) => {
                    self.child = None;
                    return true;
                }
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        false
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The first column of each row `sql` (a statement weir answers with text, such as
/// `SHOW SINKS`) returns.
pub async fn first_column(client: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    let rows = text_rows(client, sql).await;
    rows.into_iter().map(|mut row| row.swap_remove(0)).collect()
}

/// The rows `sql` returns, each column as text (`NULL` for a null).
pub async fn text_rows(client: &tokio_postgres::Client, sql: &str) -> Vec<Vec<String>> {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .filter_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).unwrap_or("NULL").to_owned())
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// Asserts that `sql` fails with SQLSTATE `code` and a message containing `text`.
pub async fn assert_refused(client: &tokio_postgres::Client, sql: String, code: &str, text: &str) {
    let error = client.batch_execute(&sql).await.unwrap_err();
    let error = error
        .as_db_error()
        .unwrap_or_else(|| panic!("{sql}: {error}"));
    assert_eq!(error.code().code(), code, "{sql}: {}", error.message());
    assert!(error.message().contains(text), "{sql}: {}", error.message());
}

/// A port free now for a process the test starts (a broker, a registry), chosen at random
/// below the kernel's ephemeral range (32768–60999 by default), so that no client's source
/// port and no `bind` to port 0 — weir's own, in the tests — can take it before that
/// process binds it.
pub fn free_port() -> u16 {
    use std::hash::BuildHasher;
    loop {
        let random = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
        let port = 20_000 + (random % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
