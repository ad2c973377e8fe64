//! The foundation's figures, next to PostgreSQL on the same machine in the same run:
//!
//! * bulk load, rows/s: multi-row `INSERT` statements and `COPY … FROM STDIN`;
//! * primary-key point `SELECT` latency, p50 and p99, with 1 and with 16 concurrent
//!   clients, each client running a prepared statement in a loop.
//!
//! Usage: `bench-pgwire WEIR_BINARY [ROWS]`. PostgreSQL 15 (Debian's package) is started on
//! a private port and data directory, as the tests start it; weir on another. Prints a table of figures and the
//! weir/PostgreSQL ratios.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::SinkExt;
use postgres::Postgres;
use support::{connect, free_port, start_weir};

#[path = "../crates/server/tests/support/postgres.rs"]
#[allow(dead_code)] // the tests also connect through it
mod postgres;
mod support;

const INSERT_BATCH: usize = 1000;
const POINT_QUERIES_PER_CLIENT: usize = 2000;

struct Figures {
    insert_rows_per_s: f64,
    copy_rows_per_s: f64,
    point: Vec<(usize, Duration, Duration)>,
}

async fn measure(port: u16, user: &str, database: &str, rows: usize) -> Figures {
    let client = connect(port, user, database).await;
    client
        .batch_execute(
            "CREATE TABLE bench_insert (id bigint PRIMARY KEY, name text, amount double precision);
             CREATE TABLE bench_copy (id bigint PRIMARY KEY, name text, amount double precision);",
        )
        .await
        .unwrap();

    let start = Instant::now();
    for chunk_start in (0..rows).step_by(INSERT_BATCH) {
        let values: Vec<String> = (chunk_start..(chunk_start + INSERT_BATCH).min(rows))
            .map(|id| format!("({id}, 'name-{id}', {}.5)", id % 1000))
            .collect();
        client
            .batch_execute(&format!(
                "INSERT INTO bench_insert VALUES {}",
                values.join(",")
            ))
            .await
            .unwrap();
    }
    let insert_rows_per_s = rows as f64 / start.elapsed().as_secs_f64();

    let mut data = String::with_capacity(rows * 24);
    for id in 0..rows {
        data.push_str(&format!("{id}\tname-{id}\t{}.5\n", id % 1000));
    }
    let start = Instant::now();
    let sink = client.copy_in("COPY bench_copy FROM STDIN").await.unwrap();
    futures::pin_mut!(sink);
    for piece in data.as_bytes().chunks(64 * 1024) {
        sink.send(bytes::Bytes::copy_from_slice(piece))
            .await
            .unwrap();
    }
    let copied = sink.finish().await.unwrap();
    assert_eq!(copied as usize, rows);
    let copy_rows_per_s = rows as f64 / start.elapsed().as_secs_f64();

    let mut point = Vec::new();
    for clients in [1usize, 16] {
        let mut tasks = Vec::new();
        for client_index in 0..clients {
            let user = user.to_owned();
            let database = database.to_owned();
            tasks.push(tokio::spawn(async move {
                let client = connect(port, &user, &database).await;
                let statement = client
                    .prepare("SELECT name, amount FROM bench_insert WHERE id = $1")
                    .await
                    .unwrap();
                let mut latencies = Vec::with_capacity(POINT_QUERIES_PER_CLIENT);
                for i in 0..POINT_QUERIES_PER_CLIENT {
                    let id = ((i * 7919 + client_index * 104_729) % rows) as i64;
                    let start = Instant::now();
                    let row = client.query_one(&statement, &[&id]).await.unwrap();
                    latencies.push(start.elapsed());
                    assert_eq!(row.get::<_, String>(0), format!("name-{id}"));
                }
                latencies
            }));
        }
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await.unwrap());
        }
        latencies.sort();
        let percentile =
            |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
        point.push((clients, percentile(0.50), percentile(0.99)));
    }
    Figures {
        insert_rows_per_s,
        copy_rows_per_s,
        point,
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let weir_binary = PathBuf::from(args.next().expect("usage: bench-pgwire WEIR_BINARY [ROWS]"));
    let rows: usize = args
        .next()
        .map(|r| r.parse().expect("ROWS is a number"))
        .unwrap_or(100_000);

    let weir_dir = tempfile::tempdir().unwrap();
    let weir_port = free_port();
    let weir = start_weir(&weir_binary, weir_dir.path(), weir_port, &[]);
    let weir_figures = measure(weir_port, "weir", "weir", rows).await;
    drop(weir);

    let postgres = Postgres::start();
    let pg_figures = measure(postgres.port, "postgres", "postgres", rows).await;
    drop(postgres);

    println!(
        "bench-pgwire: {rows} rows, {INSERT_BATCH} rows per INSERT, {POINT_QUERIES_PER_CLIENT} point queries per client"
    );
    println!(
        "{:<34} {:>14} {:>14} {:>8}",
        "figure", "weir", "postgresql", "ratio"
    );
    let row = |name: &str, weir: f64, pg: f64, unit: &str| {
        println!(
            "{name:<34} {:>11.0} {unit:<2} {:>11.0} {unit:<2} {:>8.2}",
            weir,
            pg,
            weir / pg
        );
    };
    row(
        "bulk INSERT (rows/s)",
        weir_figures.insert_rows_per_s,
        pg_figures.insert_rows_per_s,
        "",
    );
    row(
        "COPY FROM STDIN (rows/s)",
        weir_figures.copy_rows_per_s,
        pg_figures.copy_rows_per_s,
        "",
    );
    for ((clients, weir_p50, weir_p99), (_, pg_p50, pg_p99)) in
        weir_figures.point.iter().zip(&pg_figures.point)
    {
        row(
            &format!("point SELECT p50, {clients} clients (us)"),
            weir_p50.as_micros() as f64,
            pg_p50.as_micros() as f64,
            "",
        );
        row(
            &format!("point SELECT p99, {clients} clients (us)"),
            weir_p99.as_micros() as f64,
            pg_p99.as_micros() as f64,
            "",
        );
    }
    println!("(ratio = weir / postgresql: above 1 is better for rows/s, worse for latency)");
}
