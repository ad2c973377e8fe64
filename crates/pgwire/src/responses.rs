//! Statement outcomes as protocol responses: result sets encoded by `arrow-pg`, command
//! tags as PostgreSQL writes them.

use std::sync::Arc;

use arrow_pg::datatypes::encode_recordbatch;
use arrow_pg::encoder::{Encoder, encode_value};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::{StreamExt, TryStreamExt};
use pgwire::api::portal::Format;
use pgwire::api::results::{
    CopyCsvOptions, CopyEncoder, CopyResponse, CopyTextOptions, QueryResponse, Response, Tag,
};
use pgwire::error::PgWireResult;
use pgwire::messages::copy::CopyData;
use pgwire::messages::data::DataRow;
use tokio::sync::Mutex;
use weir_common::{Result, WeirError};
use weir_frontend::{CopyFormat, Outcome, Session};

use crate::errors::to_pgwire;
use crate::text_values::{render_values, result_fields};

pub(crate) fn to_response(
    outcome: Outcome,
    format: &Format,
    session: Arc<Mutex<Session>>,
) -> PgWireResult<Response> {
    match outcome {
        Outcome::Rows { schema, stream } => Ok(Response::Query(query_response(
            &schema, stream, format, session,
        )?)),
        Outcome::Command { tag, rows } => {
            let mut complete = Tag::new(&tag);
            if tag == "INSERT" {
                complete = complete.with_oid(0);
            }
            if let Some(rows) = rows {
                complete = complete.with_rows(rows);
            }
            Ok(match tag.as_str() {
                "BEGIN" => Response::TransactionStart(complete),
                "COMMIT" | "ROLLBACK" => Response::TransactionEnd(complete),
                _ => Response::Execution(complete),
            })
        }
        Outcome::CopyIn { columns, .. } => Ok(Response::CopyIn(CopyResponse::new(
            0,
            columns,
            futures::stream::empty(),
        ))),
        Outcome::CopyOut {
            schema,
            stream,
            format,
        } => Ok(Response::CopyOut(copy_out(&schema, stream, &format)?)),
    }
}

/// Rows of a `COPY … TO STDOUT`, one CopyData message each, in the COPY's format.
fn copy_out(
    schema: &SchemaRef,
    stream: SendableRecordBatchStream,
    format: &CopyFormat,
) -> PgWireResult<CopyResponse> {
    let fields = Arc::new(result_fields(schema, &Format::UnifiedText)?);
    let columns = fields.len();
    let mut encoder = match format {
        CopyFormat::Text { delimiter, null } => CopyEncoder::new_text(
            fields.clone(),
            CopyTextOptions {
                delimiter: delimiter.to_string().as_str().into(),
                null_string: null.as_str().into(),
            },
        ),
        CopyFormat::Csv {
            delimiter,
            quote,
            escape,
            null,
            ..
        } => CopyEncoder::new_csv(
            fields.clone(),
            CopyCsvOptions {
                delimiter: delimiter.to_string().as_str().into(),
                quote: quote.to_string().as_str().into(),
                escape: escape.to_string().as_str().into(),
                null_string: null.as_str().into(),
                force_quote: vec![],
            },
        ),
    };
    let header = match format {
        CopyFormat::Csv {
            header: true,
            delimiter,
            ..
        } => Some(csv_header(schema, *delimiter)),
        _ => None,
    };
    let rows = stream.flat_map(move |batch| {
        let batch = batch
            .map_err(WeirError::from)
            .and_then(|batch| render_values(batch, &Format::UnifiedText));
        let encoded: Vec<PgWireResult<CopyData>> = match batch {
            Ok(batch) => (0..batch.num_rows())
                .map(|row| {
                    for (index, column) in batch.columns().iter().enumerate() {
                        encode_value(
                            &mut encoder,
                            column,
                            row,
                            batch.schema_ref().field(index),
                            &fields[index],
                        )?;
                    }
                    Ok(encoder.take_row())
                })
                .collect(),
            Err(error) => vec![Err(to_pgwire(error))],
        };
        futures::stream::iter(encoded)
    });
    let rows = futures::stream::iter(header.map(Ok)).chain(rows);
    Ok(CopyResponse::new(0, columns, rows))
}

fn csv_header(schema: &SchemaRef, delimiter: char) -> CopyData {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    CopyData::new(format!("{}\n", names.join(&delimiter.to_string())).into())
}

fn query_response(
    schema: &SchemaRef,
    stream: SendableRecordBatchStream,
    format: &Format,
    session: Arc<Mutex<Session>>,
) -> PgWireResult<QueryResponse> {
    let fields = Arc::new(result_fields(schema, format)?);
    let row_fields = fields.clone();
    let row_format = format.clone();
    let rows = stream
        .then(move |batch| {
            let session = session.clone();
            async move {
                // An error while the client reads rows fails the transaction block, as
                // an error anywhere else in the statement would.
                if batch.is_err() {
                    session.lock().await.fail_transaction();
                }
                batch
            }
        })
        .map(move |batch| {
            let rows: Box<dyn Iterator<Item = PgWireResult<DataRow>> + Send + Sync> = match batch {
                Ok(batch) => match render_values(batch, &row_format) {
                    Ok(batch) => encode_recordbatch(row_fields.clone(), batch),
                    Err(error) => Box::new(std::iter::once(Err(to_pgwire(error)))),
                },
                Err(error) => Box::new(std::iter::once(Err(to_pgwire(WeirError::from(error))))),
            };
            futures::stream::iter(rows)
        })
        .flatten();
    Ok(QueryResponse::new(fields, rows))
}

/// Reads a result set to the end, so that an error in it surfaces before the next
/// statement of the same query string runs.
pub(crate) async fn buffered(outcome: Outcome) -> Result<Outcome> {
    match outcome {
        Outcome::Rows { schema, stream } => {
            let batches: Vec<RecordBatch> = stream.try_collect().await?;
            let stream = RecordBatchStreamAdapter::new(
                schema.clone(),
                futures::stream::iter(batches.into_iter().map(Ok)),
            );
            Ok(Outcome::Rows {
                schema,
                stream: Box::pin(stream),
            })
        }
        command => Ok(command),
    }
}
