//! `weir-produce`: sends sample JSON order events to a Kafka topic at a steady rate, for
//! trying weir's Kafka sources (the README's tour) and for measuring their freshness.
//!
//! Each event is `{"id": n, "customer": "c<n % customers>", "amount": …, "details":
//! {"channel": …, "items": …}}`, keyed by its id, with ids counting up from `--first-id`.
//! The topic is created (with `--partitions`) if it does not exist.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;

#[derive(Parser, Debug)]
#[command(name = "weir-produce", version)]
struct Args {
    /// The Kafka broker(s) to send to.
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap_server: String,
    /// The topic to send to.
    #[arg(long, default_value = "orders")]
    topic: String,
    /// Partitions of the topic, if it has to be created.
    #[arg(long, default_value_t = 3)]
    partitions: i32,
    /// Events per second.
    #[arg(long, default_value_t = 10)]
    rate: u64,
    /// How many events to send; without it, events go on until interrupted.
    #[arg(long)]
    count: Option<u64>,
    /// The id of the first event.
    #[arg(long, default_value_t = 0)]
    first_id: u64,
    /// How many distinct customers the events name.
    #[arg(long, default_value_t = 10)]
    customers: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(sent) => {
            eprintln!("weir-produce: sent {sent} events to {}", args.topic);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("weir-produce: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<u64, KafkaError> {
    create_topic(args)?;
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap_server)
        .set("linger.ms", "5")
        .create()?;
    let started = Instant::now();
    let mut sent = 0;
    while args.count.is_none_or(|count| sent < count) {
        let id = args.first_id + sent;
        let value = event(id, args.customers);
        let key = id.to_string();
        let mut record = BaseRecord::to(&args.topic).key(&key).payload(&value);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(10));
                }
                Err((error, _)) => return Err(error),
            }
        }
        sent += 1;
        // Keep to the rate: event n goes out n / rate seconds after the start.
        let due = started + Duration::from_secs_f64(sent as f64 / args.rate.max(1) as f64);
        while Instant::now() < due {
            producer.poll(due.saturating_duration_since(Instant::now()));
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30))?;
    Ok(sent)
}

/// Order event `id` as JSON.
fn event(id: u64, customers: u64) -> String {
    let channel = ["web", "app", "store"][(id % 3) as usize];
    format!(
        r#"{{"id": {id}, "customer": "c{}", "amount": {}.{:02}, "details": {{"channel": "{channel}", "items": {}}}}}"#,
        id % customers.max(1),
        (id * 7919) % 500,
        id % 100,
        id % 5 + 1
    )
}

fn create_topic(args: &Args) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap_server)
        .create()?;
    let topic = NewTopic::new(&args.topic, args.partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    let results = futures::executor::block_on(admin.create_topics([&topic], &options))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(KafkaError::AdminOp(code)),
        }
    }
    Ok(())
}
