//! One client connection, from its first byte to its last.
//!
//! weir runs the connection loop itself, around the `pgwire` crate's message processing,
//! so that nothing a client sends can end the connection without an answer:
//! * the untyped messages before start-up are read here: SSLRequest and GSSENCRequest are
//!   declined with `N` (weir serves no TLS), a startup message or cancel request is
//!   checked for PostgreSQL's layout, anything else is refused with FATAL 0A000 or 08P01;
//! * every later message passes through a [`FrameCheck`], and one that is malformed,
//!   truncated or of an unknown type is answered with FATAL 08P01, as PostgreSQL answers
//!   a protocol violation, and the connection closes;
//! * a panic while a message is processed is answered with FATAL XX000 and closes only
//!   that connection.

use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures::{FutureExt, SinkExt, StreamExt};
use pgwire::api::{
    ClientInfo, DefaultClient, ErrorHandler, PgWireConnectionState, PgWireServerHandlers,
};
use pgwire::error::ErrorInfo;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::server::{PgWireMessageServerCodec, process_error, process_message};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;
use weir_common::SqlState;

use crate::frame_check::{FrameCheck, check_startup_parameters};
use crate::handlers::WeirHandlers;
use crate::statement_watch::ClientSocket;

/// How long a client has to log in, as PostgreSQL's `authentication_timeout`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// PostgreSQL's limit for a startup message (`MAX_STARTUP_PACKET_LENGTH`).
const MAX_STARTUP_LENGTH: usize = 10_000;

const SSL_REQUEST: i32 = 80_877_103;
const GSSENC_REQUEST: i32 = 80_877_104;
const CANCEL_REQUEST: i32 = 80_877_102;

/// Serves one client until it leaves or its connection fails.
pub(crate) async fn serve(mut socket: TcpStream, handlers: Arc<WeirHandlers>) -> io::Result<()> {
    let peer = socket.peer_addr()?;
    let deadline = tokio::time::sleep(STARTUP_TIMEOUT);
    tokio::pin!(deadline);
    let first = tokio::select! {
        _ = &mut deadline => return Ok(()),
        first = first_message(&mut socket) => first?,
    };
    let Some(first) = first else {
        return Ok(());
    };
    let watched = ClientSocket::of(&socket)?;
    let mut socket = Framed::new(
        FrameCheck::new(socket, first),
        PgWireMessageServerCodec::new(DefaultClient::new(peer, false)),
    );
    socket.set_state(PgWireConnectionState::AwaitingStartup);
    socket.session_extensions().insert(watched);

    let startup_handler = handlers.startup_handler();
    let simple_query_handler = handlers.simple_query_handler();
    let extended_query_handler = handlers.extended_query_handler();
    let copy_handler = handlers.copy_handler();
    let cancel_handler = handlers.cancel_handler();
    let error_handler = handlers.error_handler();
    loop {
        let logging_in = matches!(
            socket.state(),
            PgWireConnectionState::AwaitingStartup
                | PgWireConnectionState::AuthenticationInProgress
        );
        let message = if logging_in {
            tokio::select! {
                _ = &mut deadline => return Ok(()),
                message = socket.next() => message,
            }
        } else {
            socket.next().await
        };
        let message = match message {
            None | Some(Ok(PgWireFrontendMessage::Terminate(_))) => return Ok(()),
            Some(Ok(message)) => message,
            Some(Err(error)) => {
                let message = error.to_string();
                return close_with(&mut socket, SqlState::PROTOCOL_VIOLATION, message).await;
            }
        };
        let is_extended_query = match socket.state() {
            PgWireConnectionState::CopyInProgress(is_extended_query) => is_extended_query,
            _ => message.is_extended_query(),
        };
        let processed = AssertUnwindSafe(process_message(
            message,
            &mut socket,
            startup_handler.clone(),
            simple_query_handler.clone(),
            extended_query_handler.clone(),
            copy_handler.clone(),
            cancel_handler.clone(),
        ))
        .catch_unwind()
        .await;
        match processed {
            Ok(Ok(())) => {}
            Ok(Err(mut error)) => {
                error_handler.on_error(&socket, &mut error);
                process_error(&mut socket, error, is_extended_query).await?;
            }
            Err(_) => {
                tracing::error!(%peer, "a panic while processing a message; the connection is closed");
                let message = "internal error while processing a message".to_owned();
                return close_with(&mut socket, SqlState::INTERNAL_ERROR, message).await;
            }
        }
    }
}

/// Reads the messages before start-up: declines encryption requests, and returns the
/// startup message or cancel request once it is whole and well-formed. `None` when the
/// client left or sent something else, which was answered.
async fn first_message(socket: &mut TcpStream) -> io::Result<Option<BytesMut>> {
    loop {
        let mut length = [0u8; 4];
        match socket.read_exact(&mut length).await {
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            result => result?,
        };
        let length = i32::from_be_bytes(length);
        let Some(length) = usize::try_from(length)
            .ok()
            .filter(|length| (8..=MAX_STARTUP_LENGTH).contains(length))
        else {
            let message = format!("invalid length of startup packet: {length}");
            return refuse(socket, SqlState::PROTOCOL_VIOLATION, message).await;
        };
        let mut message = BytesMut::zeroed(length);
        message[..4].copy_from_slice(&(length as i32).to_be_bytes());
        socket.read_exact(&mut message[4..]).await?;
        let code = i32::from_be_bytes(message[4..8].try_into().expect("4 bytes"));
        match code {
            SSL_REQUEST | GSSENC_REQUEST if length == 8 => socket.write_all(b"N").await?,
            CANCEL_REQUEST if (16..=268).contains(&length) => return Ok(Some(message)),
            code if code >> 16 == 3 => {
                return match check_startup_parameters(&message[8..]) {
                    Ok(()) => Ok(Some(message)),
                    Err(why) => refuse(socket, SqlState::PROTOCOL_VIOLATION, why).await,
                };
            }
            code => {
                let message = format!(
                    "unsupported frontend protocol {}.{}: server supports 3.0 to 3.2",
                    code >> 16,
                    code & 0xffff
                );
                return refuse(socket, SqlState::FEATURE_NOT_SUPPORTED, message).await;
            }
        }
    }
}

fn fatal_response(state: SqlState, message: String) -> PgWireBackendMessage {
    let info = ErrorInfo::new("FATAL".to_owned(), state.code().to_owned(), message);
    PgWireBackendMessage::ErrorResponse(info.into())
}

/// Answers a client that has not started up with FATAL `state`; it is then let go.
async fn refuse(
    socket: &mut TcpStream,
    state: SqlState,
    message: String,
) -> io::Result<Option<BytesMut>> {
    tracing::debug!(%message, "a connection refused before start-up");
    let mut bytes = BytesMut::new();
    fatal_response(state, message)
        .encode(&mut bytes)
        .map_err(io::Error::other)?;
    socket.write_all(&bytes).await?;
    Ok(None)
}

/// Answers with FATAL `state` and closes the connection.
async fn close_with<S, T>(
    socket: &mut Framed<S, PgWireMessageServerCodec<T>>,
    state: SqlState,
    message: String,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    tracing::debug!(%message, "a connection closed for a protocol violation");
    socket.send(fatal_response(state, message)).await?;
    socket.close().await
}
