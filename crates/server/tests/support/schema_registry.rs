//! A schema registry for end-to-end tests of `ENCODE AVRO`: the three calls of the
//! Confluent Schema Registry REST API that weir and the tests use, served over real HTTP
//! on a free port (no Confluent-compatible registry can be installed on these machines).
//!
//! * `GET /schemas/ids/{id}`: `{"schema": "…"}`, or 404;
//! * `GET /subjects/{subject}/versions/latest`: `{"subject", "version", "id", "schema"}`,
//!   or 404;
//! * registering is a direct call ([`SchemaRegistry::register`]), as if by a producer.
//!
//! It can be stopped and started again on the same port, to test a registry outage.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::free_port;

/// Registered schemas: `(subject, schema)`, the id of each being its position plus one.
type Schemas = Arc<Mutex<Vec<(String, String)>>>;

pub struct SchemaRegistry {
    port: u16,
    schemas: Schemas,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SchemaRegistry {
    pub fn start() -> SchemaRegistry {
        let mut registry = SchemaRegistry {
            port: free_port(),
            schemas: Schemas::default(),
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
        };
        registry.resume();
        registry
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Registers `schema` under `subject` (once: the same text gets the same id).
    pub fn register(&self, subject: &str, schema: &str) -> u32 {
        let mut schemas = self.schemas.lock().unwrap();
        if let Some(found) = schemas
            .iter()
            .position(|(s, text)| s == subject && text == schema)
        {
            return found as u32 + 1;
        }
        schemas.push((subject.to_owned(), schema.to_owned()));
        schemas.len() as u32
    }

    /// Stops answering: the port refuses connections until [`SchemaRegistry::resume`].
    pub fn pause(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stop.store(true, Ordering::Release);
            let _ = TcpStream::connect(("127.0.0.1", self.port));
            thread.join().unwrap();
        }
    }

    pub fn resume(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("the registry's port");
        self.stop = Arc::new(AtomicBool::new(false));
        let (stop, schemas) = (self.stop.clone(), self.schemas.clone());
        self.thread = Some(std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::Acquire) {
                    return;
                }
                if let Ok(stream) = stream {
                    let _ = answer(stream, &schemas);
                }
            }
        }));
    }
}

impl Drop for SchemaRegistry {
    fn drop(&mut self) {
        self.pause();
    }
}

fn answer(stream: TcpStream, schemas: &Schemas) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or_default();
    let schemas = schemas.lock().unwrap();
    let found = match path.split('/').collect::<Vec<_>>().as_slice() {
        ["", "schemas", "ids", id] => id
            .parse::<usize>()
            .ok()
            .and_then(|id| schemas.get(id.checked_sub(1)?))
            .map(|(_, schema)| serde_json::json!({ "schema": schema })),
        ["", "subjects", subject, "versions", "latest"] => {
            let versions: Vec<(usize, &String)> = schemas
                .iter()
                .enumerate()
                .filter(|(_, (s, _))| s == subject)
                .map(|(index, (_, schema))| (index, schema))
                .collect();
            versions.last().map(|(index, schema)| {
                serde_json::json!({
                    "subject": subject,
                    "version": versions.len(),
                    "id": index + 1,
                    "schema": schema,
                })
            })
        }
        _ => None,
    };
    let (status, body) = match found {
        Some(body) => ("200 OK", body.to_string()),
        None => (
            "404 Not Found",
            r#"{"error_code": 40403, "message": "Schema not found"}"#.to_owned(),
        ),
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}
