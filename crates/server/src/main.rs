//! `weir`: starts the server on a data directory and serves PostgreSQL clients until
//! SIGINT or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use tracing_subscriber::EnvFilter;
use weir_frontend::{
    AllowedHost, ConnectPolicy, ConnectorAccess, Database, DatabaseOptions, QueryMemory,
    STATEMENT_STACK_BYTES,
};
use weir_pgwire::{Authentication, Server};

use crate::memory_size::{parse_memory_size, physical_memory};

mod memory_size;

/// The machine's memory assumed where it cannot be read.
const ASSUMED_MEMORY: usize = 8 << 30;

/// weir, a streaming SQL database that speaks PostgreSQL.
///
/// Connect with `psql -h 127.0.0.1 -p 5488 -U weir -d weir`.
#[derive(Parser, Debug)]
#[command(name = "weir", version)]
struct Args {
    /// Address and port to accept PostgreSQL connections on. Port 0 takes a free port
    /// (see --address-file).
    #[arg(long, env = "WEIR_LISTEN", default_value = "127.0.0.1:5488")]
    listen: String,

    /// When ready for clients, write the address weir listens on (`host:port`, one line)
    /// to this file, replacing it atomically. Scripts that start weir with port 0 read
    /// the port from it.
    #[arg(long, env = "WEIR_ADDRESS_FILE")]
    address_file: Option<PathBuf>,

    /// Directory that holds all of weir's data; created if missing. Only one weir at a
    /// time may use it.
    #[arg(long, env = "WEIR_DATA_DIR", default_value = "./weir-data")]
    data_dir: PathBuf,

    /// Require this password from every client. Without it (or --password-file), any user
    /// name is accepted without a password. Prefer the environment variable or
    /// --password-file: other users of the machine can read a command line.
    #[arg(long, env = "WEIR_PASSWORD", hide_env_values = true)]
    password: Option<String>,

    /// Require the password held in this file (its first line) from every client.
    #[arg(long, env = "WEIR_PASSWORD_FILE", conflicts_with = "password")]
    password_file: Option<PathBuf>,

    /// How a password is checked, when one is required.
    #[arg(
        long,
        env = "WEIR_AUTH_METHOD",
        value_enum,
        default_value = "scram-sha-256"
    )]
    auth_method: AuthMethod,

    /// Milliseconds between barriers: how often changes whose view maintenance was
    /// deferred (sessions with `SET implicit_flush = off`) reach the materialized views.
    #[arg(long, env = "WEIR_BARRIER_INTERVAL_MS", default_value_t = 1000)]
    barrier_interval_ms: u64,

    /// How many records that Kafka sources could not decode
    /// `weir_catalog.source_dead_letters` keeps; older ones are dropped.
    #[arg(long, env = "WEIR_MAX_DEAD_LETTERS", default_value_t = 100_000)]
    max_dead_letters: u64,

    /// The user names that may create sources, connector-fed tables and sinks
    /// (comma-separated). weir has no roles; see the README's section "Security".
    #[arg(
        long,
        env = "WEIR_SUPERUSERS",
        default_value = "weir",
        value_delimiter = ','
    )]
    superusers: Vec<String>,

    /// The only hosts connectors may reach (Kafka brokers, schema registries, OAuth token
    /// endpoints), comma-separated `host` or `host:port`. Without it, any host.
    #[arg(long, env = "WEIR_ALLOWED_CONNECT_HOSTS")]
    allowed_connect_hosts: Option<String>,

    /// The directory whose files (certificates, keys, keytabs) connectors may name in
    /// `properties.*.location` options. Without it, connectors can name no file.
    #[arg(long, env = "WEIR_SECRETS_DIR")]
    secrets_dir: Option<PathBuf>,

    /// How many threads run statements and view maintenance, apart from the threads that
    /// serve connections. More threads than cores let the kernel share the cores among
    /// concurrent statements, so that short ones are answered while long ones run.
    /// Default: four per core, at least 8.
    #[arg(long, env = "WEIR_QUERY_THREADS")]
    query_threads: Option<usize>,

    /// How much memory running statements may hold together in their joins, aggregates,
    /// sorts and buffers (`512MB`, `4GB`, …). A sort or aggregate beyond it spills to
    /// disk; other statements fail with 53200 "out of memory". Default: half of the
    /// machine's memory.
    #[arg(long, env = "WEIR_QUERY_MEMORY", value_parser = parse_memory_size)]
    query_memory: Option<usize>,

    /// How much of --query-memory one statement may hold. Default: half of it.
    #[arg(long, env = "WEIR_STATEMENT_MEMORY", value_parser = parse_memory_size)]
    statement_memory: Option<usize>,

    /// What to log: error, warn, info, debug, trace, or a tracing filter directive such as
    /// `weir_storage=debug,info`. RUST_LOG, when set, takes precedence.
    #[arg(long, env = "WEIR_LOG", default_value = "info")]
    log: String,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum AuthMethod {
    /// SCRAM-SHA-256, as PostgreSQL uses by default.
    #[value(name = "scram-sha-256")]
    Scram,
    /// The password in cleartext (use only on trusted networks).
    #[value(name = "password")]
    Cleartext,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&args.log))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    // The threads that serve connections; statements run on the query executor's. A
    // statement's text may still be formatted here (in a log line), so these threads get
    // the same deep stack.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("weir-connections")
        .thread_stack_size(STATEMENT_STACK_BYTES)
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("weir: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("weir: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> Result<(), String> {
    let allowed_hosts = match &args.allowed_connect_hosts {
        Some(list) => Some(
            AllowedHost::parse_list(list)
                .map_err(|error| format!("--allowed-connect-hosts: {error}"))?,
        ),
        None => None,
    };
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let query_memory = args
        .query_memory
        .unwrap_or(physical_memory().unwrap_or(ASSUMED_MEMORY) / 2);
    let statement_memory = args.statement_memory.unwrap_or(query_memory / 2);
    let options = DatabaseOptions {
        query_threads: args.query_threads.unwrap_or((4 * cores).max(8)),
        query_memory: QueryMemory::new(query_memory, statement_memory),
        barrier_interval: Duration::from_millis(args.barrier_interval_ms),
        max_dead_letters: args.max_dead_letters,
        connector_access: ConnectorAccess {
            superusers: args.superusers.clone(),
            policy: ConnectPolicy {
                allowed_hosts,
                secrets_dir: args.secrets_dir.clone(),
            },
        },
    };
    let database = Database::open(&args.data_dir, &options)
        .await
        .map_err(|error| error.to_string())?;
    if std::env::args().any(|arg| arg == "--password" || arg.starts_with("--password=")) {
        tracing::warn!(
            "--password on the command line can be read by other users of this machine; \
             use WEIR_PASSWORD or --password-file"
        );
    }
    let password = match &args.password_file {
        Some(path) => Some(read_password(path)?),
        None => args.password,
    };
    let authentication = match (password, args.auth_method) {
        (None, _) => Authentication::Trust,
        (Some(password), AuthMethod::Scram) => Authentication::Scram { password },
        (Some(password), AuthMethod::Cleartext) => Authentication::Cleartext { password },
    };
    let server = Server::bind(&args.listen, database.clone(), authentication)
        .await
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::AddrInUse => format!(
                "cannot listen on {}: the address is in use; stop the other server or choose another --listen",
                args.listen
            ),
            _ => format!("cannot listen on {}: {error}", args.listen),
        })?;
    let address = server.local_addr().map_err(|error| error.to_string())?;
    if let Some(path) = &args.address_file {
        write_address_file(path, address)?;
    }
    tracing::info!(%address, data_dir = %args.data_dir.display(), "weir is ready");
    server.run(Box::pin(shutdown_signal())).await;
    if let Err(error) = database.shutdown().await {
        tracing::warn!(%error, "could not write everything to disk at shutdown; the next start replays the log");
    }
    tracing::info!("weir stopped");
    Ok(())
}

/// Writes `address` to `path` through a temporary file and a rename, so that a reader
/// sees either no file or the whole address.
fn write_address_file(path: &std::path::Path, address: std::net::SocketAddr) -> Result<(), String> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, format!("{address}\n"))
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|error| format!("cannot write the address file {}: {error}", path.display()))
}

/// The first line of a password file, without its line ending.
fn read_password(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read the password file {}: {error}", path.display()))?;
    let password = text.lines().next().unwrap_or_default().to_owned();
    if password.is_empty() {
        return Err(format!("the password file {} is empty", path.display()));
    }
    Ok(password)
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => return interrupt.await.unwrap_or(()),
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    interrupt.await.unwrap_or(());
}
