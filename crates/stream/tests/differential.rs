//! Each query's dataflow, fed a random sequence of inserts and deletes, must hold the same
//! multiset of rows as DataFusion computes over the final tables, after every step.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::TableReference;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use weir_common::StreamChunk;
use weir_storage::Store;
use weir_stream::Dataflow;

const QUERIES: &[&str] = &[
    "SELECT customer, count(*), sum(amount), min(amount), max(amount), avg(amount) FROM orders GROUP BY customer",
    "SELECT count(*), sum(amount), count(DISTINCT customer) FROM orders",
    "SELECT count(*) FILTER (WHERE amount > 5) AS big, count(amount) FROM orders",
    "SELECT o.id, c.name FROM orders o JOIN customers c ON o.customer = c.id",
    "SELECT o.id, c.name FROM orders o LEFT JOIN customers c ON o.customer = c.id",
    "SELECT o.id, c.name FROM orders o RIGHT JOIN customers c ON o.customer = c.id AND o.amount > 3",
    "SELECT o.id, c.id FROM orders o FULL JOIN customers c ON o.customer = c.id",
    "SELECT c.name, sum(o.amount) FROM orders o JOIN customers c ON o.customer = c.id GROUP BY c.name HAVING sum(o.amount) > 4",
    "SELECT id FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer = c.id)",
    "SELECT id FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer = c.id AND o.amount > 2)",
    "SELECT customer FROM orders UNION ALL SELECT id FROM customers",
    "SELECT DISTINCT customer FROM orders WHERE amount IS NOT NULL",
    "WITH t AS (SELECT customer, sum(amount) AS s FROM orders GROUP BY customer) SELECT a.customer, b.customer FROM t a JOIN t b ON a.s = b.s",
    "SELECT a.id, b.id FROM orders a JOIN orders b ON a.customer = b.customer AND a.id < b.id",
    "SELECT 1 AS one, 'x' AS x",
    "SELECT customer, bool_and(amount > 3) AS all_big, bool_or(amount > 8) AS any_big, var_pop(amount) AS vp, stddev(amount) AS sd FROM orders GROUP BY customer",
    "SELECT id, amount FROM orders ORDER BY amount DESC NULLS LAST, id LIMIT 3",
    "SELECT id FROM orders ORDER BY id LIMIT 2 OFFSET 1",
    "SELECT * FROM (SELECT id, customer, row_number() OVER (PARTITION BY customer ORDER BY amount DESC NULLS LAST, id) AS rn FROM orders) WHERE rn <= 2",
    "SELECT * FROM (SELECT customer, amount, rank() OVER (PARTITION BY customer ORDER BY amount) AS r FROM orders) WHERE r <= 2",
    "SELECT * FROM (SELECT customer, amount, dense_rank() OVER (PARTITION BY customer ORDER BY amount) AS r FROM orders) WHERE r < 3 AND amount > 1",
    "SELECT customer, sum(amount) AS s FROM orders GROUP BY customer ORDER BY s NULLS FIRST, customer LIMIT 2",
    "SELECT id, sum(amount) OVER (PARTITION BY customer ORDER BY id) AS s, lag(amount) OVER (PARTITION BY customer ORDER BY id) AS p FROM orders",
    "SELECT id, count(*) OVER () AS n, ntile(3) OVER (ORDER BY amount, id) AS t FROM orders",
    "SELECT customer, string_agg(CAST(amount AS VARCHAR), ',' ORDER BY amount, id) AS s, array_agg(id ORDER BY id) AS a FROM orders GROUP BY customer",
    "SELECT id FROM customers WHERE id NOT IN (SELECT customer FROM orders)",
    "SELECT id, amount FROM orders WHERE amount > (SELECT avg(amount) FROM orders)",
    "SELECT customer, amount, count(*) FROM orders GROUP BY ROLLUP (customer, amount)",
    "SELECT count(*) OVER () AS n FROM orders",
    "SELECT * FROM (SELECT id, row_number() OVER (ORDER BY amount, id) AS r FROM orders) WHERE r <= 2",
    "SELECT c.id FROM customers c CROSS JOIN orders o",
];

fn orders_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("customer", DataType::Int64, true),
        Field::new("amount", DataType::Int64, true),
    ]))
}

fn customers_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]))
}

/// A small deterministic random generator, so a failure repeats.
struct Random(u64);

impl Random {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }

    fn maybe_null(&mut self, bound: u64) -> Option<i64> {
        match self.next(6) {
            0 => None,
            _ => Some(self.next(bound) as i64),
        }
    }
}

fn orders_row(random: &mut Random, id: i64) -> RecordBatch {
    RecordBatch::try_new(
        orders_schema(),
        vec![
            Arc::new(Int64Array::from(vec![id])),
            Arc::new(Int64Array::from(vec![random.maybe_null(4)])),
            Arc::new(Int64Array::from(vec![random.maybe_null(10)])),
        ],
    )
    .unwrap()
}

fn customers_row(random: &mut Random, id: i64) -> RecordBatch {
    let name = random.next(3);
    RecordBatch::try_new(
        customers_schema(),
        vec![
            Arc::new(Int64Array::from(vec![id])),
            Arc::new(datafusion::arrow::array::StringArray::from(vec![Some(
                format!("n{name}"),
            )])),
        ],
    )
    .unwrap()
}

/// Each row of `batch` as text, with its multiplicity.
fn count_rows(batch: &RecordBatch, weights: Option<&Int64Array>, into: &mut BTreeMap<String, i64>) {
    let options = FormatOptions::default().with_null("NULL");
    let formatters: Vec<ArrayFormatter> = batch
        .columns()
        .iter()
        .map(|column| ArrayFormatter::try_new(column.as_ref(), &options).unwrap())
        .collect();
    for row in 0..batch.num_rows() {
        // Floats maintained incrementally may differ from a one-pass result in the last
        // digits.
        let text: Vec<String> = formatters
            .iter()
            .map(|f| {
                let value = f.value(row).to_string();
                match (value.contains('.'), value.parse::<f64>()) {
                    (true, Ok(number)) => format!("{number:.9}"),
                    _ => value,
                }
            })
            .collect();
        let weight = weights.map_or(1, |w| w.value(row));
        let count = into.entry(text.join("|")).or_default();
        *count += weight;
        if *count == 0 {
            into.remove(&text.join("|"));
        }
    }
}

async fn batch_answer(
    sql: &str,
    orders: &[RecordBatch],
    customers: &[RecordBatch],
) -> BTreeMap<String, i64> {
    let context = SessionContext::new();
    let table = |schema: SchemaRef, rows: &[RecordBatch]| {
        Arc::new(MemTable::try_new(schema, vec![rows.to_vec()]).unwrap())
    };
    context
        .register_table("orders", table(orders_schema(), orders))
        .unwrap();
    context
        .register_table("customers", table(customers_schema(), customers))
        .unwrap();
    let mut answer = BTreeMap::new();
    for batch in context.sql(sql).await.unwrap().collect().await.unwrap() {
        count_rows(&batch, None, &mut answer);
    }
    answer
}

#[tokio::test]
async fn dataflows_equal_batch_answers_after_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for (index, sql) in QUERIES.iter().enumerate() {
        let context = SessionContext::new();
        context
            .register_table(
                "orders",
                Arc::new(MemTable::try_new(orders_schema(), vec![vec![]]).unwrap()),
            )
            .unwrap();
        context
            .register_table(
                "customers",
                Arc::new(MemTable::try_new(customers_schema(), vec![vec![]]).unwrap()),
            )
            .unwrap();
        let state = context.state();
        let written = state.create_logical_plan(sql).await.unwrap();
        let optimized = state.optimize(&written).unwrap();
        let plan = weir_planner::plan_stream(&written, &optimized).unwrap();
        let mut dataflow = Dataflow::new(index as u32, plan, &store.snapshot()).unwrap();

        let mut view = BTreeMap::new();
        let initial = dataflow.initial().unwrap();
        count_rows(initial.rows(), Some(initial.weights()), &mut view);

        let mut random = Random(0x9E37_79B9_7F4A_7C15 + index as u64);
        let mut orders: Vec<RecordBatch> = Vec::new();
        let mut customers: Vec<RecordBatch> = Vec::new();
        for step in 0..60i64 {
            let (relation, change) = match random.next(4) {
                0 if !orders.is_empty() => {
                    let removed = orders.remove(random.next(orders.len() as u64) as usize);
                    ("orders", StreamChunk::deletes(removed))
                }
                1 if !customers.is_empty() => {
                    let removed = customers.remove(random.next(customers.len() as u64) as usize);
                    ("customers", StreamChunk::deletes(removed))
                }
                2 => {
                    let row = customers_row(&mut random, step % 5);
                    customers.push(row.clone());
                    ("customers", StreamChunk::inserts(row))
                }
                _ => {
                    let row = orders_row(&mut random, step);
                    orders.push(row.clone());
                    ("orders", StreamChunk::inserts(row))
                }
            };
            let out = dataflow
                .push(&TableReference::bare(relation), &change)
                .unwrap_or_else(|error| panic!("{sql}: {error:?}"));
            count_rows(out.rows(), Some(out.weights()), &mut view);
            let expected = batch_answer(sql, &orders, &customers).await;
            assert_eq!(
                view, expected,
                "query {sql}\nafter step {step} ({relation})"
            );
        }
    }
}
