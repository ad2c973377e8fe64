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

/// A frontend message of type `tag`.
fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = vec![tag];
    bytes.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    bytes.extend_from_slice(body);
    bytes
}

/// The severity and SQLSTATE of each ErrorResponse in `answer` (backend messages, after
/// an optional `N` answering an SSLRequest), and whether it ended with ReadyForQuery.
fn errors(answer: &[u8]) -> (Vec<(String, String)>, bool) {
    let mut rest = answer.strip_prefix(b"N").unwrap_or(answer);
    let (mut found, mut ready) = (Vec::new(), false);
    while rest.len() >= 5 {
        let length = i32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
        let (tag, body) = (rest[0], &rest[5..1 + length]);
        ready = tag == b'Z';
        if tag == b'E' {
            let field = |code: u8| {
                body.split(|b| *b == 0)
                    .find(|f| f.first() == Some(&code))
                    .map(|f| String::from_utf8_lossy(&f[1..]).into_owned())
                    .unwrap_or_default()
            };
            found.push((field(b'S'), field(b'C')));
        }
        rest = &rest[1 + length..];
    }
    (found, ready)
}

#[tokio::test]
async fn malformed_messages_are_answered_with_protocol_violations() {
    let server = TestServer::start();
    let client = server.connect().await;
    let fatal = |state: &str| (vec![("FATAL".to_owned(), state.to_owned())], false);

    // Before start-up: lengths, layouts and protocol versions PostgreSQL refuses.
    let mut unterminated = startup_message();
    unterminated.pop();
    unterminated[3] -= 1;
    let mut protocol_9 = startup_message();
    protocol_9[4..8].copy_from_slice(&0x0009_0000i32.to_be_bytes());
    for (bytes, state) in [
        (&b"\x00\x00\x00\x02"[..], "08P01"),
        (&b"\x7f\x00\x00\x00\x00\x03\x00\x00"[..], "08P01"),
        (&unterminated[..], "08P01"),
        (&protocol_9[..], "0A000"),
    ] {
        assert_eq!(errors(&raw(&server, bytes)), fatal(state), "{bytes:?}");
    }
    // An SSLRequest is declined, and the start-up goes on in the clear.
    let mut declined = b"\x00\x00\x00\x08\x04\xd2\x16\x2f".to_vec();
    declined.extend(startup_message());
    declined.extend(message(b'X', b""));
    assert_eq!(errors(&raw(&server, &declined)), (vec![], true));

    // After start-up: bodies cut short, overlong, unterminated, of unknown types.
    let cases: [(u8, &[u8]); 11] = [
        (b'E', b"\0"),
        (b'P', b"\0"),
        (b'B', b"\0"),
        (b'B', b"\0\0\0\0\0\x01\0\0\0\x09ab\0\0"),
        (b'B', b"\0\0\xff\xff"),
        (b'D', b"S"),
        (b'C', b""),
        (b'Q', b"SELECT 1"),
        (b'S', b"extra"),
        (b'Z', b""),
        (b'F', b"\0\0\0\0"),
    ];
    for (tag, body) in cases {
        let mut bytes = startup_message();
        bytes.extend(message(tag, body));
        // What follows must not be read as part of the broken message.
        bytes.extend(message(b'Q', b"SELECT 1\0"));
        let (found, _) = errors(&raw(&server, &bytes));
        let expected = vec![("FATAL".to_owned(), "08P01".to_owned())];
        assert_eq!(found, expected, "{} {body:?}", tag as char);
    }
    let mut bytes = startup_message();
    bytes.extend(b"Q\xff\xff\xff\xff");
    assert_eq!(errors(&raw(&server, &bytes)).0, fatal("08P01").0);

    // A binary parameter of the wrong size for its type is an error of its statement only.
    let mut bytes = startup_message();
    bytes.extend(message(b'P', b"\0SELECT $1::interval\0\0\x01\0\0\x04\xa2"));
    bytes.extend(message(b'B', b"\0\0\0\x01\0\x01\0\x01\0\0\0\x03abc\0\0"));
    bytes.extend(message(b'E', b"\0\0\0\0\0"));
    bytes.extend(message(b'S', b""));
    bytes.extend(message(b'Q', b"SELECT 1\0"));
    bytes.extend(message(b'X', b""));
    let (found, ready) = errors(&raw(&server, &bytes));
    assert_eq!(found, vec![("ERROR".to_owned(), "22P03".to_owned())]);
    assert!(ready, "the connection went on after the error");

    client.batch_execute("SELECT 1").await.unwrap();
}
