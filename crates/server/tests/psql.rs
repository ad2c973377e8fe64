//! The real `psql` works against weir as against PostgreSQL: its meta-commands query
//! pg_catalog and information_schema, and must see weir's real objects.

mod support;

use support::TestServer;

fn run(server: &TestServer, command: &str) -> String {
    let output = server.psql(&["-c", command]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "psql -c {command:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

fn setup() -> TestServer {
    let server = TestServer::start();
    run(
        &server,
        "CREATE TABLE orders (id bigint PRIMARY KEY, customer text NOT NULL, amount numeric(10,2))",
    );
    run(
        &server,
        "CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 100",
    );
    server
}

#[test]
fn list_databases_and_schemas() {
    let server = setup();
    assert!(run(&server, r"\l").contains("weir"));
    let schemas = run(&server, r"\dn");
    assert!(schemas.contains("public"), "{schemas}");
}

#[test]
fn list_tables_and_views() {
    let server = setup();
    let tables = run(&server, r"\dt");
    assert!(
        tables.contains("orders") && tables.contains("table"),
        "{tables}"
    );
    assert!(!tables.contains("big_orders"), "{tables}");
    let views = run(&server, r"\dv");
    assert!(
        views.contains("big_orders") && views.contains("view"),
        "{views}"
    );
    let all = run(&server, r"\d");
    assert!(
        all.contains("orders") && all.contains("big_orders"),
        "{all}"
    );
}

#[test]
fn describe_a_table() {
    let server = setup();
    let description = run(&server, r"\d orders");
    // Type modifiers (`numeric(10,2)`) are not shown yet: the emulated pg_attribute
    // reports none.
    for expected in [
        "id", "bigint", "customer", "text", "not null", "amount", "numeric",
    ] {
        assert!(
            description.contains(expected),
            "missing {expected:?} in\n{description}"
        );
    }
}

#[test]
fn describe_with_details_shows_storage_and_view_definitions() {
    let server = setup();
    let table = run(&server, r"\d+ orders");
    for expected in ["Storage", "customer", "extended", "not null"] {
        assert!(table.contains(expected), "missing {expected:?} in\n{table}");
    }
    let view = run(&server, r"\d+ big_orders");
    assert!(view.contains("View definition:"), "{view}");
    assert!(
        view.contains("FROM orders WHERE amount > 100"),
        "the view's query is missing in\n{view}"
    );
}

#[test]
fn materialized_views_are_listed_and_described_as_such() {
    let server = setup();
    run(
        &server,
        "CREATE MATERIALIZED VIEW spend AS SELECT customer, sum(amount) AS total FROM orders GROUP BY customer",
    );
    let listed = run(&server, r"\dm");
    assert!(
        listed.contains("spend") && listed.contains("materialized view"),
        "{listed}"
    );
    assert!(!listed.contains("big_orders"), "{listed}");
    assert!(!run(&server, r"\dt").contains("spend"));
    let described = run(&server, r"\d+ spend");
    for expected in [
        "Materialized view \"public.spend\"",
        "customer",
        "total",
        "View definition:",
        "GROUP BY customer",
    ] {
        assert!(
            described.contains(expected),
            "missing {expected:?} in\n{described}"
        );
    }
}

#[test]
fn system_schema_is_listed_and_read_only() {
    let server = setup();
    let schemas = run(&server, r"\dn");
    assert!(schemas.contains("weir_catalog"), "{schemas}");
    let output = server.psql(&["-c", "DROP TABLE weir_catalog.objects"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("permission denied"), "{stderr}");
}

#[test]
fn functions_expanded_output_and_timing() {
    let server = setup();
    run(&server, r"\df");
    let expanded = server.psql(&["-c", r"\x", "-c", "SELECT 1 AS one, 'a' AS letter"]);
    let text = String::from_utf8_lossy(&expanded.stdout);
    assert!(
        text.contains("one    | 1") || text.contains("one | 1"),
        "{text}"
    );
    let timed = server.psql(&["-c", r"\timing", "-c", "SELECT 1"]);
    assert!(String::from_utf8_lossy(&timed.stdout).contains("Time:"));
}

#[test]
fn copy_from_and_to_files_with_backslash_copy() {
    let server = setup();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("orders.csv");
    std::fs::write(
        &input,
        "id,customer,amount\n1,ann,10.50\n2,\"bo, jr\",200\n",
    )
    .unwrap();
    let copied = run(
        &server,
        &format!(
            r"\copy orders FROM '{}' WITH (FORMAT csv, HEADER true)",
            input.display()
        ),
    );
    assert!(copied.contains("COPY 2"), "{copied}");
    let output = dir.path().join("out.txt");
    run(
        &server,
        &format!(
            r"\copy (SELECT * FROM orders ORDER BY id) TO '{}'",
            output.display()
        ),
    );
    let text = std::fs::read_to_string(&output).unwrap();
    assert_eq!(text, "1\tann\t10.50\n2\tbo, jr\t200.00\n");
}
