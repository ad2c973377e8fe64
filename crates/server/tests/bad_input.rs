//! Bad input never hurts the server: each case gets an error or a closed connection of its
//! own, other sessions keep working, and nothing is half-written.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use futures::SinkExt;
use support::TestServer;

async fn count(client: &tokio_postgres::Client, table: &str) -> i64 {
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_ten_megabyte_statement_is_answered() {
    let server = TestServer::start();
    let client = server.connect().await;
    let literal = "x".repeat(10 * 1024 * 1024);
    let row = client
        .query_one(&format!("SELECT length('{literal}')"), &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 10 * 1024 * 1024);
    let error = client
        .batch_execute(&format!("SELECT '{literal}' FROM"))
        .await
        .unwrap_err();
    assert!(error.as_db_error().is_some(), "{error:?}");
    client.batch_execute("SELECT 1").await.unwrap();
}

/// Sends raw bytes on a new connection and reads until the server closes it or answers.
fn raw(server: &TestServer, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(bytes).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

fn startup_message() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&196608i32.to_be_bytes());
    for (key, value) in [("user", "weir"), ("database", "weir")] {
        body.extend_from_slice(key.as_bytes());
        body.push(0);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut message = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    message.extend(body);
    message
}

#[tokio::test]
async fn protocol_garbage_and_invalid_utf8_only_hurt_their_own_connection() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE t (id int PRIMARY KEY)")
        .await
        .unwrap();

    // Garbage instead of a startup message.
    raw(&server, b"\x00\x00\x00\x08garbage and more garbage\xff\xff");
    // A message length far beyond the data.
    raw(&server, &[0x00, 0x7f, 0xff, 0xff, 0x00, 0x03, 0x00, 0x00]);
    // A valid start-up followed by a query message with invalid UTF-8 and a bogus type.
    let mut bytes = startup_message();
    let query = b"SELECT '\xff\xfe'\0";
    bytes.push(b'Q');
    bytes.extend_from_slice(&((query.len() + 4) as i32).to_be_bytes());
    bytes.extend_from_slice(query);
    bytes.extend_from_slice(b"Z\x00\x00\x00\x04");
    let answer = raw(&server, &bytes);
    assert!(!answer.is_empty(), "the server answered the start-up");

    client
        .batch_execute("INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    assert_eq!(count(&client, "t").await, 1);
}

#[tokio::test]
async fn a_client_that_vanishes_mid_result_or_mid_copy_changes_nothing() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE big (n bigint PRIMARY KEY);
             INSERT INTO big SELECT value FROM generate_series(1, 200000);
             CREATE TABLE target (n bigint PRIMARY KEY);",
        )
        .await
        .unwrap();

    // Mid-result: ask for many rows, read a little, and drop the connection.
    {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        let mut bytes = startup_message();
        let query = b"SELECT * FROM big\0";
        bytes.push(b'Q');
        bytes.extend_from_slice(&((query.len() + 4) as i32).to_be_bytes());
        bytes.extend_from_slice(query);
        stream.write_all(&bytes).unwrap();
        let mut some = [0u8; 4096];
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let _ = stream.read(&mut some);
    }

    // Mid-COPY: send part of the data and disconnect without CopyDone.
    {
        let (copier, connection) = server
            .config()
            .connect(tokio_postgres::NoTls)
            .await
            .unwrap();
        let task = tokio::spawn(connection);
        let mut sink = Box::pin(copier.copy_in("COPY target FROM STDIN").await.unwrap());
        sink.send(bytes::Bytes::from_static(b"1\n2\n3\n"))
            .await
            .unwrap();
        sink.flush().await.unwrap();
        drop(sink);
        drop(copier);
        task.abort();
    }

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        count(&client, "target").await,
        0,
        "an unfinished COPY writes nothing"
    );
    assert_eq!(count(&client, "big").await, 200_000);

    // A finished COPY writes everything, at once.
    let sink = client.copy_in("COPY target FROM STDIN").await.unwrap();
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from_static(b"1\n2\n3\n"))
        .await
        .unwrap();
    assert_eq!(sink.finish().await.unwrap(), 3);
    assert_eq!(count(&client, "target").await, 3);
}
