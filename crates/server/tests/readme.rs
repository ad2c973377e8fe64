//! The README's SQL runs as written: every ```` ```sql ```` block of `README.md` is run
//! through the real `psql` (stopping at the first error) against the real server, and
//! where a ```` ```text ```` block follows it (only blank lines between), psql's output
//! must equal that block line for line.
//!
//! The tour's block runs on a fresh server of its own; the Kafka blocks, which build on
//! each other, share a second server, a real broker (noida-db) holding the topics they
//! name, and the test's schema registry. Their broker and registry addresses
//! (`127.0.0.1:9092`, `http://127.0.0.1:8081`) are replaced by those of the test's.

mod support;

use support::TestServer;
use support::kafka::Broker;
use support::schema_registry::SchemaRegistry;

/// One ```` ```sql ```` block: its first line in the README, its text, and the output the
/// README shows for it, if it shows any.
struct Block {
    line: usize,
    sql: String,
    output: Option<String>,
}

/// The README's SQL blocks, in order.
fn blocks(readme: &str) -> Vec<Block> {
    let mut fenced: Vec<(usize, String, String, usize)> = Vec::new();
    let lines: Vec<&str> = readme.lines().collect();
    let mut at = 0;
    while at < lines.len() {
        if let Some(language) = lines[at].strip_prefix("```") {
            let start = at;
            let end = (at + 1..lines.len())
                .find(|&i| lines[i] == "```")
                .unwrap_or_else(|| panic!("README.md line {}: unclosed block", start + 1));
            let body = lines[start + 1..end].join("\n") + "\n";
            fenced.push((start + 1, language.to_owned(), body, end));
            at = end + 1;
        } else {
            at += 1;
        }
    }
    let mut blocks = Vec::new();
    for (index, (line, language, body, end)) in fenced.iter().enumerate() {
        if language != "sql" {
            continue;
        }
        let output = fenced.get(index + 1).and_then(|(next, language, text, _)| {
            let between = &lines[*end + 1..*next - 1];
            (language == "text" && between.iter().all(|l| l.trim().is_empty()))
                .then(|| text.clone())
        });
        blocks.push(Block {
            line: *line,
            sql: body.clone(),
            output,
        });
    }
    blocks
}

/// Runs `block` through psql on `server`, after `rewrite`, and checks its output.
fn run(server: &TestServer, block: &Block, rewrite: &dyn Fn(&str) -> String) {
    let file = tempfile::NamedTempFile::new().expect("a temporary file");
    std::fs::write(file.path(), rewrite(&block.sql)).expect("writes the block");
    let path = file.path().to_str().expect("a UTF-8 path");
    let output = server.psql(&["-f", path]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "README.md line {}: the block failed\nstdout:\n{stdout}\nstderr:\n{stderr}",
        block.line
    );
    if let Some(expected) = &block.output {
        let shown: Vec<&str> = expected.lines().map(str::trim_end).collect();
        let printed: Vec<&str> = stdout.lines().map(str::trim_end).collect();
        assert_eq!(
            printed, shown,
            "README.md line {}: psql printed something else than the README shows",
            block.line
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sql_block_runs_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let blocks = blocks(&readme);
    assert!(blocks.len() >= 3, "the README has its SQL blocks");
    assert!(
        blocks[0].output.is_some(),
        "the tour shows what psql prints for it"
    );

    // The tour: a fresh server, no Kafka.
    let tour = TestServer::start();
    run(&tour, &blocks[0], &|sql| sql.to_owned());
    drop(tour);

    // The rest: topics and a registry, shared in order.
    let broker = Broker::start();
    for topic in [
        "orders",
        "clicks",
        "customers",
        "pg.public.accounts",
        "payments",
        "spend",
        "big_orders",
    ] {
        broker.create_topic(topic, 1).await;
    }
    let registry = SchemaRegistry::start();
    registry.register(
        "orders-value",
        r#"{"type": "record", "name": "Order", "fields": [
            {"name": "id", "type": "long"}, {"name": "customer", "type": "string"}]}"#,
    );
    let server = TestServer::start();
    let (address, url) = (broker.address(), registry.url());
    let rewrite = |sql: &str| {
        sql.replace("127.0.0.1:9092", &address)
            .replace("http://127.0.0.1:8081", &url)
    };
    for block in &blocks[1..] {
        run(&server, block, &rewrite);
    }
}
