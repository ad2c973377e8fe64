//! The extended query protocol as a driver uses it: prepared statements with typed
//! parameters, binary results, reuse, and portals read a few rows at a time.

mod support;

use support::TestServer;

#[tokio::test]
async fn prepared_statements_bind_parameters_and_return_binary_values() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE people (id bigint PRIMARY KEY, name text, score double precision, active boolean)",
        )
        .await
        .unwrap();
    let insert = client
        .prepare("INSERT INTO people VALUES ($1, $2, $3, $4)")
        .await
        .unwrap();
    for id in 1..=5i64 {
        let name = format!("p{id}");
        let count = client
            .execute(&insert, &[&id, &name, &(id as f64 * 1.5), &(id % 2 == 0)])
            .await
            .unwrap();
        assert_eq!(count, 1);
    }
    let lookup = client
        .prepare("SELECT name, score, active FROM people WHERE id = $1")
        .await
        .unwrap();
    assert_eq!(lookup.params(), &[tokio_postgres::types::Type::INT8]);
    let row = client.query_one(&lookup, &[&4i64]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "p4");
    assert_eq!(row.get::<_, f64>(1), 6.0);
    assert!(row.get::<_, bool>(2));
    let rows = client
        .query(
            "SELECT id FROM people WHERE score > $1 ORDER BY id",
            &[&3.0f64],
        )
        .await
        .unwrap();
    let ids: Vec<i64> = rows.iter().map(|row| row.get(0)).collect();
    assert_eq!(ids, vec![3, 4, 5]);
    let updated = client
        .execute(
            "UPDATE people SET active = $1 WHERE id <= $2",
            &[&true, &2i64],
        )
        .await
        .unwrap();
    assert_eq!(updated, 2);
    let deleted = client
        .execute("DELETE FROM people WHERE id = $1", &[&5i64])
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    let count: i64 = client
        .query_one("SELECT count(*) FROM people WHERE active", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 3);
}

#[tokio::test]
async fn prepared_queries_see_new_rows_and_replaced_tables() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE kv (k int PRIMARY KEY, v text); INSERT INTO kv VALUES (1, 'old')",
        )
        .await
        .unwrap();
    let lookup = client
        .prepare("SELECT v FROM kv WHERE k = $1")
        .await
        .unwrap();
    let read = |row: tokio_postgres::Row| row.get::<_, String>(0);
    assert_eq!(
        read(client.query_one(&lookup, &[&1i32]).await.unwrap()),
        "old"
    );
    client
        .batch_execute("UPDATE kv SET v = 'updated' WHERE k = 1")
        .await
        .unwrap();
    assert_eq!(
        read(client.query_one(&lookup, &[&1i32]).await.unwrap()),
        "updated"
    );
    // The same name, a new table: the prepared query reads the new one.
    client
        .batch_execute(
            "DROP TABLE kv; CREATE TABLE kv (k int PRIMARY KEY, v text); INSERT INTO kv VALUES (1, 'new')",
        )
        .await
        .unwrap();
    assert_eq!(
        read(client.query_one(&lookup, &[&1i32]).await.unwrap()),
        "new"
    );
}

#[tokio::test]
async fn portals_return_rows_in_pieces() {
    let server = TestServer::start();
    let mut client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE numbers (n int PRIMARY KEY);
             INSERT INTO numbers SELECT CAST(value AS int) FROM generate_series(1, 100);",
        )
        .await
        .unwrap();
    let transaction = client.transaction().await.unwrap();
    let statement = transaction
        .prepare("SELECT n FROM numbers ORDER BY n")
        .await
        .unwrap();
    let portal = transaction.bind(&statement, &[]).await.unwrap();
    let mut seen = Vec::new();
    loop {
        let rows = transaction.query_portal(&portal, 30).await.unwrap();
        if rows.is_empty() {
            break;
        }
        assert!(rows.len() <= 30);
        seen.extend(rows.iter().map(|row| row.get::<_, i32>(0)));
    }
    transaction.commit().await.unwrap();
    assert_eq!(seen, (1..=100).collect::<Vec<_>>());
}

#[tokio::test]
async fn errors_in_the_extended_protocol_leave_the_connection_usable() {
    let server = TestServer::start();
    let client = server.connect().await;
    let error = client.prepare("SELECT * FROM nowhere").await.unwrap_err();
    assert_eq!(
        error.code(),
        Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE)
    );
    let error = client.query("SELECT 1 / $1", &[&0i64]).await.unwrap_err();
    assert_eq!(
        error.code(),
        Some(&tokio_postgres::error::SqlState::DIVISION_BY_ZERO)
    );
    let row = client
        .query_one("SELECT $1::text || 'b'", &[&"a"])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "ab");
}

#[tokio::test]
async fn many_concurrent_connections() {
    let server = TestServer::start();
    let setup = server.connect().await;
    setup
        .batch_execute("CREATE TABLE hits (id int PRIMARY KEY, client int)")
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for client_id in 0..120 {
        let config = server.config();
        tasks.push(tokio::spawn(async move {
            let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(connection);
            client
                .execute("INSERT INTO hits VALUES ($1, $1)", &[&client_id])
                .await
                .unwrap();
            let row = client
                .query_one("SELECT client FROM hits WHERE id = $1", &[&client_id])
                .await
                .unwrap();
            assert_eq!(row.get::<_, i32>(0), client_id);
            client
        }));
    }
    let mut clients = Vec::new();
    for task in tasks {
        clients.push(task.await.unwrap());
    }
    let count: i64 = setup
        .query_one("SELECT count(*) FROM hits", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 120);
}
