//! A private PostgreSQL server for tests and benchmarks that compare weir with it: a new
//! cluster in a temporary directory (the C.UTF-8 locale: code-point order, Unicode case, `TimeZone` UTC, trust
//! authentication), on a free port of 127.0.0.1, stopped when dropped.
//!
//! PostgreSQL refuses to run as root, so when we are root its programs run as the
//! `postgres` user (which Debian's package creates).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Debian's PostgreSQL 15 server programs, which `scripts/setup.sh` installs.
const BIN: &str = "/usr/lib/postgresql/15/bin";

pub struct Postgres {
    pub port: u16,
    data: PathBuf,
    _dir: tempfile::TempDir,
}

impl Postgres {
    /// Creates and starts a new cluster; panics, naming the step, if it cannot.
    pub fn start() -> Postgres {
        let dir = tempfile::tempdir().expect("temporary directory");
        let data = dir.path().join("data");
        if running_as_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path())
                .status();
            assert!(
                status.is_ok_and(|s| s.success()),
                "chown to postgres failed"
            );
        }
        let initdb = as_postgres("initdb")
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ])
            .stdout(Stdio::null())
            .output()
            .expect("initdb runs");
        assert!(
            initdb.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        let port = free_port();
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c TimeZone=UTC -c fsync=off",
            dir.path().display()
        );
        let start = as_postgres("pg_ctl")
            .args(["-w", "-t", "60", "-D"])
            .arg(&data)
            .args(["-o", &options, "-l"])
            .arg(dir.path().join("log"))
            .arg("start")
            .stdout(Stdio::null())
            .output()
            .expect("pg_ctl runs");
        assert!(
            start.status.success(),
            "PostgreSQL did not start: {}{}",
            String::from_utf8_lossy(&start.stderr),
            std::fs::read_to_string(dir.path().join("log")).unwrap_or_default()
        );
        Postgres {
            port,
            data,
            _dir: dir,
        }
    }

    /// A client of the `postgres` database whose connection runs on its own task.
    pub async fn connect(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={} user=postgres dbname=postgres",
                self.port
            ),
            tokio_postgres::NoTls,
        )
        .await
        .expect("connects to PostgreSQL");
        tokio::spawn(connection);
        client
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_postgres("pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(&self.data)
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n")
}

/// PostgreSQL's `program`, run as the `postgres` user when we are root.
fn as_postgres(program: &str) -> Command {
    let program = Path::new(BIN).join(program);
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// A port nobody listens on now (PostgreSQL needs one chosen in advance).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}
