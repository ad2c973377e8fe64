//! The PostgreSQL wire protocol in front of a weir [`Database`](weir_frontend::Database).
//!
//! `pgwire` handles the protocol's messages and state machine; this crate supplies the
//! parts that are weir's: the connection loop, which checks every message before `pgwire`
//! decodes it, start-up and authentication (the one database is `weir`),
//! the simple and extended query protocols mapped onto [`Session`](weir_frontend::Session),
//! result encoding through `arrow-pg`, and errors as PostgreSQL reports them.

mod connection;
mod copy;
mod early_answer;
mod errors;
mod extended;
mod frame_check;
mod handlers;
mod record_text;
mod responses;
mod server;
mod session_lock;
mod simple;
mod startup;
mod statement_watch;
mod text_values;

pub use server::{Authentication, Server};
