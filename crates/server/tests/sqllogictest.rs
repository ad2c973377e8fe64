//! Runs every `sql/**/*.slt` file against a fresh `weir` over the PostgreSQL wire
//! protocol, with sqllogictest as the runner. Each file gets its own server and data
//! directory, and runs twice: once through the simple and once through the extended
//! query protocol.
//!
//! `cargo test --test sqllogictest -- FILTER` runs only the files whose path contains
//! FILTER.

mod support;

use std::path::{Path, PathBuf};

use std::process::Command;
use std::time::Duration;

use async_trait::async_trait;
use sqllogictest::{
    AsyncDB, DBOutput, DefaultColumnType, Runner, default_column_validator, default_validator,
};
use sqllogictest_engines::postgres::{PostgresExtended, PostgresSimple};
use support::TestServer;

/// A server error as `SQLSTATE: message`, so that `statement error` lines can name both.
#[derive(Debug)]
struct ServerError(tokio_postgres::Error);

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.as_db_error() {
            Some(error) => write!(f, "{}: {}", error.code().code(), error.message()),
            None => write!(f, "{}", self.0),
        }
    }
}

impl std::error::Error for ServerError {}

/// One of sqllogictest-engines' PostgreSQL engines, with errors that show the server's text.
struct Engine<E>(E);

#[async_trait]
impl<E> AsyncDB for Engine<E>
where
    E: AsyncDB<Error = tokio_postgres::Error, ColumnType = DefaultColumnType> + Send,
{
    type Error = ServerError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, ServerError> {
        self.0.run(sql).await.map_err(ServerError)
    }

    async fn shutdown(&mut self) {
        self.0.shutdown().await
    }

    fn engine_name(&self) -> &str {
        "weir"
    }

    async fn sleep(duration: Duration) {
        tokio::time::sleep(duration).await
    }

    async fn run_command(command: Command) -> std::io::Result<std::process::Output> {
        tokio::process::Command::from(command).output().await
    }
}

fn slt_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("sql/ is readable")
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            slt_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "slt") {
            found.push(path);
        }
    }
}

async fn run_file(path: &Path, extended: bool) -> Result<(), String> {
    let server = TestServer::start();
    let config = server.config();
    let result = if extended {
        let mut runner = Runner::new(|| {
            let config = config.clone();
            async move {
                PostgresExtended::connect(config)
                    .await
                    .map(Engine)
                    .map_err(ServerError)
            }
        });
        runner.with_validator(default_validator);
        runner.with_column_validator(default_column_validator);
        runner.run_file_async(path).await
    } else {
        let mut runner = Runner::new(|| {
            let config = config.clone();
            async move {
                PostgresSimple::connect(config)
                    .await
                    .map(Engine)
                    .map_err(ServerError)
            }
        });
        runner.with_validator(default_validator);
        runner.with_column_validator(default_column_validator);
        runner.run_file_async(path).await
    };
    result.map_err(|error| error.display(true).to_string())
}

#[tokio::main]
async fn main() {
    let filter = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sql");
    let mut files = Vec::new();
    slt_files(&root, &mut files);
    let (mut passed, mut failed) = (0, 0);
    for path in &files {
        let name = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string();
        if filter
            .as_ref()
            .is_some_and(|filter| !name.contains(filter.as_str()))
        {
            continue;
        }
        // Files whose name says so need the simple protocol only (multi-statement text).
        let protocols: &[bool] = if name.contains("simple_only") {
            &[false]
        } else {
            &[false, true]
        };
        for &extended in protocols {
            let label = format!("{name} ({})", if extended { "extended" } else { "simple" });
            match run_file(path, extended).await {
                Ok(()) => {
                    println!("test {label} ... ok");
                    passed += 1;
                }
                Err(error) => {
                    println!("test {label} ... FAILED\n{error}\n");
                    failed += 1;
                }
            }
        }
    }
    println!("\nsqllogictest: {passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
