//! The figures of incremental view maintenance, on a view joining a fact table to a
//! dimension table with GROUP BY:
//!
//! * (a) CPU time of weir for one single-row INSERT to reach the view, against the CPU
//!   time of running the view's query as a batch SELECT over the same data, and the ratio;
//! * (b) rows/s of bulk inserts (1,000-row INSERTs) flowing through the view;
//! * (c) bytes of operator state per group and per join row (from
//!   `weir_catalog.state_tables`), and weir's peak resident memory;
//! * the time to create the view over the loaded table (its backfill), and to restart
//!   with the state of it and of a second view joining every fact row.
//!
//! CPU time is read from `/proc/PID/stat` (user + system) of the weir process, so the
//! client's own work is not counted. Usage: `bench-views WEIR_BINARY [FACT_ROWS]`.

use std::path::PathBuf;
use std::time::Instant;

use futures::SinkExt;
use process::cpu_time;
use support::{connect, free_port, start_weir};
use tokio_postgres::Client;

mod process;
mod support;

const DIMENSION_ROWS: usize = 1_000;
const SINGLE_INSERTS: usize = 200;
const BULK_ROWS: usize = 100_000;
const QUERY: &str = "SELECT d.region, count(*) AS orders, sum(f.amount) AS total \
                     FROM facts f JOIN dims d ON f.dim = d.id GROUP BY d.region";

/// Peak resident memory of process `pid`, in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kib: f64 = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

async fn copy_rows(client: &Client, sql: &str, data: String) {
    let sink = client.copy_in(sql).await.unwrap();
    futures::pin_mut!(sink);
    for piece in data.as_bytes().chunks(256 * 1024) {
        sink.send(bytes::Bytes::copy_from_slice(piece))
            .await
            .unwrap();
    }
    sink.finish().await.unwrap();
}

async fn count(client: &Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let binary = PathBuf::from(
        args.next()
            .expect("usage: bench-views WEIR_BINARY [FACT_ROWS]"),
    );
    let facts: usize = args
        .next()
        .map(|n| n.parse().expect("FACT_ROWS is a number"))
        .unwrap_or(1_000_000);

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = start_weir(&binary, dir.path(), port, &[]);
    let pid = server.0.id();
    let client = connect(port, "weir", "weir").await;
    client
        .batch_execute(
            "CREATE TABLE dims (id int PRIMARY KEY, region text);
             CREATE TABLE facts (id bigint PRIMARY KEY, dim int, amount bigint);",
        )
        .await
        .unwrap();
    let dims: String = (0..DIMENSION_ROWS)
        .map(|id| format!("{id}\tregion-{}\n", id % 50))
        .collect();
    copy_rows(&client, "COPY dims FROM STDIN", dims).await;
    let start = Instant::now();
    let rows: String = (0..facts)
        .map(|id| format!("{id}\t{}\t{}\n", id % DIMENSION_ROWS, id % 97))
        .collect();
    copy_rows(&client, "COPY facts FROM STDIN", rows).await;
    let load = start.elapsed();

    let start = Instant::now();
    client
        .batch_execute(&format!("CREATE MATERIALIZED VIEW by_region AS {QUERY}"))
        .await
        .unwrap();
    let backfill = start.elapsed();

    // (a) One row at a time: each INSERT returns once the view has it.
    let insert = client
        .prepare("INSERT INTO facts VALUES ($1, $2, $3)")
        .await
        .unwrap();
    let cpu_before = cpu_time(pid);
    let start = Instant::now();
    for i in 0..SINGLE_INSERTS {
        let id = (facts + i) as i64;
        client
            .execute(&insert, &[&id, &((i % DIMENSION_ROWS) as i32), &5i64])
            .await
            .unwrap();
    }
    let insert_wall = start.elapsed() / SINGLE_INSERTS as u32;
    let insert_cpu = (cpu_time(pid) - cpu_before) / SINGLE_INSERTS as u32;
    let expected = (facts + SINGLE_INSERTS) as i64;
    assert_eq!(
        count(&client, "SELECT sum(orders)::bigint FROM by_region").await,
        expected
    );

    let cpu_before = cpu_time(pid);
    let start = Instant::now();
    let batch = client.query(QUERY, &[]).await.unwrap();
    let query_wall = start.elapsed();
    let query_cpu = cpu_time(pid) - cpu_before;
    assert_eq!(batch.len(), 50);

    // (b) Bulk inserts flowing through the join and the aggregation.
    let start = Instant::now();
    for chunk in (0..BULK_ROWS).step_by(1000) {
        let values: Vec<String> = (chunk..chunk + 1000)
            .map(|i| {
                let id = facts + SINGLE_INSERTS + i;
                format!("({id}, {}, {})", i % DIMENSION_ROWS, i % 13)
            })
            .collect();
        client
            .batch_execute(&format!("INSERT INTO facts VALUES {}", values.join(",")))
            .await
            .unwrap();
    }
    let bulk_rate = BULK_ROWS as f64 / start.elapsed().as_secs_f64();

    // (b') Single-row INSERTs again, with view maintenance deferred to the barrier.
    client
        .batch_execute("SET implicit_flush = off")
        .await
        .unwrap();
    let start = Instant::now();
    for i in 0..SINGLE_INSERTS {
        let id = (facts + SINGLE_INSERTS + BULK_ROWS + i) as i64;
        client
            .execute(&insert, &[&id, &((i % DIMENSION_ROWS) as i32), &5i64])
            .await
            .unwrap();
    }
    client.batch_execute("FLUSH").await.unwrap();
    let deferred_rate = SINGLE_INSERTS as f64 / start.elapsed().as_secs_f64();
    let immediate_rate = 1.0 / insert_wall.as_secs_f64();
    client
        .batch_execute("SET implicit_flush = on")
        .await
        .unwrap();

    // A second view whose join state holds every fact row, for the restart figure.
    let start = Instant::now();
    client
        .batch_execute(
            "CREATE MATERIALIZED VIEW enriched AS \
             SELECT f.id, f.amount, d.region FROM facts f JOIN dims d ON f.dim = d.id",
        )
        .await
        .unwrap();
    let second_backfill = start.elapsed();

    // (c) State size and memory.
    let state = client
        .query(
            "SELECT owner, operator, rows, bytes FROM weir_catalog.state_tables ORDER BY owner, operator",
            &[],
        )
        .await
        .unwrap();
    let rss = peak_rss_mib(pid);

    // Restart with the state in place.
    drop(client);
    drop(server);
    let start = Instant::now();
    server = start_weir(&binary, dir.path(), port, &[]);
    let client = connect(port, "weir", "weir").await;
    let restarted = count(&client, "SELECT sum(orders)::bigint FROM by_region").await;
    let restart = start.elapsed();
    assert_eq!(restarted, (facts + 2 * SINGLE_INSERTS + BULK_ROWS) as i64);
    drop(server);

    println!("bench-views: {facts} fact rows, {DIMENSION_ROWS} dimension rows, 50 groups");
    println!("view: {QUERY}");
    println!(
        "load facts with COPY                {:>10.2} s",
        load.as_secs_f64()
    );
    println!(
        "create the view (backfill)          {:>10.2} s",
        backfill.as_secs_f64()
    );
    println!(
        "(a) single-row INSERT to the view   {:>10.0} us CPU, {:>8.0} us wall",
        insert_cpu.as_micros(),
        insert_wall.as_micros()
    );
    println!(
        "    batch SELECT of the same query  {:>10.0} us CPU, {:>8.0} us wall",
        query_cpu.as_micros(),
        query_wall.as_micros()
    );
    println!(
        "    ratio (batch CPU / insert CPU)  {:>10.0} x",
        query_cpu.as_secs_f64() / insert_cpu.as_secs_f64().max(1e-6)
    );
    println!("(b) bulk INSERT through the view     {bulk_rate:>10.0} rows/s");
    println!(
        "    single-row INSERTs, implicit_flush on / off (then FLUSH) {immediate_rate:>8.0} / {deferred_rate:.0} rows/s"
    );
    for row in &state {
        let (owner, operator, rows, bytes): (String, i32, i64, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        println!(
            "(c) state of {owner:>10} #{operator:<3}     {rows:>10} rows, {:>6.1} bytes/row",
            bytes as f64 / rows as f64
        );
    }
    let state_rows: i64 = state.iter().map(|row| row.get::<_, i64>(2)).sum();
    println!("    peak resident memory of weir    {rss:>10.1} MiB");
    println!(
        "create `enriched` (every fact joined) {:>8.2} s",
        second_backfill.as_secs_f64()
    );
    println!(
        "restart with {state_rows} state rows, first read {:>6.2} s",
        restart.as_secs_f64()
    );
}
