//! The query executor: the threads that statements run on, apart from the threads that
//! serve connections.
//!
//! Parsing, planning and running statements, producing their rows, and the barriers of
//! view maintenance all run on the executor's own runtime. The runtime that accepts
//! connections and reads and writes the protocol stays free, so a session's `SELECT 1`,
//! a cancel request or a new login is answered while other sessions run long queries.
//!
//! The executor has a bounded number of threads, more than the machine has cores (see
//! `--query-threads`). DataFusion's operators yield between batches, so tokio shares each
//! thread among the statements on it; and because there are more threads than cores, the
//! kernel's scheduler also shares the cores among statements by time slice, so one that
//! computes for long between batches cannot hold back the others.
//!
//! A statement's rows are produced on the executor and handed to the connection through
//! a small channel, one batch at a time. When the statement's [`Interrupt`] is raised, the
//! rows end with its error at once and their producer is stopped; a client that stops
//! reading stops the producer too.

use std::pin::Pin;
use std::task::{Context, Poll};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use futures::{FutureExt, Stream, StreamExt};
use tokio::runtime::{Handle, Runtime};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use weir_common::{Interrupt, Result, WeirError};

/// Batches a statement may produce ahead of the client reading them.
const ROWS_AHEAD: usize = 2;

/// The stack of every executor thread: parsing, planning and evaluating a statement
/// recurse once per level of its syntax tree, up to `weir_sql::MAX_DEPTH` levels (deeper
/// statements are refused before they are parsed). Only the pages a thread touches take
/// memory.
pub const STATEMENT_STACK_BYTES: usize = 256 << 20;

pub struct QueryExecutor {
    /// `Some` until the executor is dropped; a runtime cannot be dropped on a thread that
    /// runs async code, so it is shut down in the background then.
    runtime: Option<Runtime>,
    handle: Handle,
}

impl std::fmt::Debug for QueryExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryExecutor").finish()
    }
}

impl QueryExecutor {
    /// An executor of `threads` threads.
    pub fn new(threads: usize) -> Result<QueryExecutor> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("weir-query")
            .thread_stack_size(STATEMENT_STACK_BYTES)
            .enable_all()
            .build()
            .map_err(|error| {
                WeirError::internal(format!("cannot start the query executor: {error}"))
            })?;
        let handle = runtime.handle().clone();
        Ok(QueryExecutor {
            runtime: Some(runtime),
            handle,
        })
    }

    /// Runs `work` on the executor and waits for it. A panic in `work` continues in the
    /// caller, as if `work` had run there.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> T {
        match self.handle.spawn(work).await {
            Ok(value) => value,
            Err(error) => match error.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                // The runtime shuts down only when the server stops.
                Err(_) => std::future::pending().await,
            },
        }
    }

    /// Starts `work` on the executor without waiting for it.
    pub fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        self.handle.spawn(work);
    }

    /// `stream`'s batches, produced on the executor, ending with the interrupt's error
    /// as soon as `interrupt` is raised.
    pub fn rows(
        &self,
        stream: SendableRecordBatchStream,
        interrupt: Interrupt,
    ) -> SendableRecordBatchStream {
        let schema = stream.schema();
        let (sender, receiver) = mpsc::channel(ROWS_AHEAD);
        let producer = self.handle.spawn(produce(stream, sender));
        let interrupted = {
            let interrupt = interrupt.clone();
            async move { interrupt.raised().await }.boxed()
        };
        Box::pin(ExecutorRows {
            schema,
            receiver,
            producer,
            interrupted,
            ended: false,
        })
    }
}

impl Drop for QueryExecutor {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Polls `stream` to its end (or its first error), sending each batch on.
async fn produce(
    mut stream: SendableRecordBatchStream,
    sender: mpsc::Sender<datafusion::error::Result<RecordBatch>>,
) {
    while let Some(batch) = stream.next().await {
        let failed = batch.is_err();
        if sender.send(batch).await.is_err() || failed {
            return;
        }
    }
}

/// The connection's end of a statement's rows.
struct ExecutorRows {
    schema: SchemaRef,
    receiver: mpsc::Receiver<datafusion::error::Result<RecordBatch>>,
    producer: JoinHandle<()>,
    interrupted: futures::future::BoxFuture<'static, WeirError>,
    ended: bool,
}

impl Stream for ExecutorRows {
    type Item = datafusion::error::Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if let Poll::Ready(error) = self.interrupted.poll_unpin(cx) {
            self.ended = true;
            self.producer.abort();
            return Poll::Ready(Some(Err(error.into_datafusion())));
        }
        match self.receiver.poll_recv(cx) {
            // The producer is done; it ended without a word only if it panicked.
            Poll::Ready(None) => match self.producer.poll_unpin(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(finished) => {
                    self.ended = true;
                    Poll::Ready(finished.err().map(|_| {
                        let error = WeirError::internal("the query failed while producing rows");
                        Err(error.into_datafusion())
                    }))
                }
            },
            other => other,
        }
    }
}

impl RecordBatchStream for ExecutorRows {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

impl Drop for ExecutorRows {
    fn drop(&mut self) {
        self.producer.abort();
    }
}
