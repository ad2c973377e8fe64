//! What the benchmarks share: free ports, starting weir, connecting.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits for a server to listen on `port`; a restart over a large state may take minutes.
pub fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(900);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on port {port}");
}

/// A server process stopped when dropped.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// Starts weir on `port` over data directory `dir`, with `flags` besides.
pub fn start_weir(binary: &Path, dir: &Path, port: u16, flags: &[&str]) -> Server {
    let child = Command::new(binary)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir)
        .args(flags)
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("weir starts");
    wait_for_port(port);
    Server(child)
}

pub async fn connect(port: u16, user: &str, database: &str) -> Client {
    let config = format!("host=127.0.0.1 port={port} user={user} dbname={database}");
    let (client, connection) = tokio_postgres::connect(&config, NoTls)
        .await
        .expect("connects");
    tokio::spawn(connection);
    client
}
