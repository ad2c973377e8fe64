//! A full disk refuses writes with 53100 while reads go on, and once space returns,
//! writes succeed again without a restart, with every view still equal to its query.
//!
//! The data directory lies on a small tmpfs of its own, which needs the right to mount
//! (the test command runs as root); "space returns" is the tmpfs grown with a remount.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{TestServer, text_rows};

/// A tmpfs mounted for the test, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(megabytes: u32) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "cannot mount a tmpfs at {}: this test needs root (the test command runs as root)",
            dir.path().display()
        );
        SmallDisk { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn grow(&self, megabytes: u32) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={megabytes}m")])
            .arg(self.dir.path())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn fill(round: u32) -> String {
    format!(
        "INSERT INTO t SELECT value + {round} * 100000, repeat('x', 1000) FROM generate_series(1, 10000)"
    )
}

async fn assert_view_is_current(client: &tokio_postgres::Client) {
    let view = text_rows(client, "SELECT n, bytes FROM totals").await;
    let query = text_rows(client, "SELECT count(*), sum(length(s)) FROM t").await;
    assert_eq!(view, query);
}

#[tokio::test]
async fn writes_resume_once_space_returns() {
    let disk = SmallDisk::mount(48);
    let server = TestServer::start_in(&disk.path());
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE t (id bigint PRIMARY KEY, s text);
             CREATE MATERIALIZED VIEW totals AS SELECT count(*) AS n, sum(length(s)) AS bytes FROM t",
        )
        .await
        .unwrap();

    let mut refused = None;
    for round in 0..40 {
        if let Err(error) = client.batch_execute(&fill(round)).await {
            refused = Some(error);
            break;
        }
    }
    let refused = refused.expect("the 48 MB disk filled up");
    assert_eq!(refused.code().map(|c| c.code()), Some("53100"), "{refused}");
    // Reads go on, and the refused statement left nothing behind.
    assert_view_is_current(&client).await;

    disk.grow(512);
    let started = Instant::now();
    loop {
        match client.batch_execute(&fill(100)).await {
            Ok(()) => break,
            Err(error) => {
                assert_eq!(error.code().map(|c| c.code()), Some("53100"), "{error}");
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "writes still fail a minute after space returned: {error}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    println!(
        "writes resumed {:?} after space returned",
        started.elapsed()
    );
    client
        .batch_execute("CREATE TABLE u (a int); INSERT INTO u VALUES (1)")
        .await
        .unwrap();
    assert_view_is_current(&client).await;
}
