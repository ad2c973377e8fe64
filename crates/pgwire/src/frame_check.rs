//! Checks every frontend message before the protocol crate decodes it.
//!
//! The `pgwire` crate's message decoders read a body with `Buf::get_*`, which panics when
//! the body is shorter than its fields, and read strings up to the next NUL even past
//! the end of the message. So weir hands it only messages whose layout is sound: a
//! [`FrameCheck`] stream buffers each message the client sends and releases it to the
//! decoder only once it is complete and its fields fit its length exactly. A message that
//! does not fit ends the connection with an `io::Error` that names the problem, which the
//! connection answers with PostgreSQL's FATAL 08P01 (see the `connection` module).
//!
//! Only the layout is checked here, with PostgreSQL's own error messages; what the fields
//! mean is for the handlers.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// PostgreSQL's limit for one message (`PQ_LARGE_MESSAGE_LIMIT`).
const MAX_MESSAGE_LENGTH: usize = (1 << 30) - 1;

/// How much is read from the socket at a time.
const READ_SIZE: usize = 8192;

/// A client's socket that releases only complete, well-formed typed messages (every
/// message after the startup message).
pub(crate) struct FrameCheck<S> {
    inner: S,
    /// Bytes read from the client; the first `checked` of them are whole messages that
    /// passed the check.
    input: BytesMut,
    checked: usize,
}

impl<S> FrameCheck<S> {
    /// `first` is an untyped message (the startup message) checked by the caller.
    pub fn new(inner: S, first: BytesMut) -> FrameCheck<S> {
        FrameCheck {
            inner,
            checked: first.len(),
            input: first,
        }
    }

    /// Checks the next message in `input` if all of it has arrived: `Some(length)`
    /// with the length of the message with its type byte, `None` if it is incomplete.
    fn check_next(&self) -> io::Result<Option<usize>> {
        if self.input.len() < 5 {
            return Ok(None);
        }
        let tag = self.input[0];
        let length = i32::from_be_bytes(self.input[1..5].try_into().expect("4 bytes"));
        let length = usize::try_from(length)
            .ok()
            .filter(|length| (4..=MAX_MESSAGE_LENGTH).contains(length))
            .ok_or_else(|| violation(format!("invalid message length {length}")))?;
        if self.input.len() < 1 + length {
            return Ok(None);
        }
        check_message(tag, &self.input[5..1 + length]).map_err(violation)?;
        Ok(Some(1 + length))
    }
}

fn violation(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

impl<S: AsyncRead + Unpin> AsyncRead for FrameCheck<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.checked > 0 {
                let n = this.checked.min(buf.remaining());
                buf.put_slice(&this.input[..n]);
                this.input.advance(n);
                this.checked -= n;
                return Poll::Ready(Ok(()));
            }
            if let Some(length) = this.check_next()? {
                this.checked = length;
                continue;
            }
            let mut chunk = [0u8; READ_SIZE];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                // The client is gone; a message it left unfinished is dropped with it.
                return Poll::Ready(Ok(()));
            }
            this.input.extend_from_slice(read.filled());
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FrameCheck<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Checks that the body of a message of type `tag` holds exactly its fields.
fn check_message(tag: u8, body: &[u8]) -> Result<(), String> {
    let mut fields = Fields(body);
    match tag {
        b'Q' | b'f' => fields.string()?,
        b'P' => {
            fields.string()?;
            fields.string()?;
            let types = fields.count()?;
            fields.skip(types * 4)?;
        }
        b'B' => {
            fields.string()?;
            fields.string()?;
            let formats = fields.count()?;
            fields.skip(formats * 2)?;
            for _ in 0..fields.count()? {
                match fields.int32()? {
                    -1 => {}
                    length => fields.skip(
                        usize::try_from(length)
                            .map_err(|_| format!("invalid parameter length {length}"))?,
                    )?,
                }
            }
            let formats = fields.count()?;
            fields.skip(formats * 2)?;
        }
        b'D' | b'C' => {
            fields.skip(1)?;
            fields.string()?;
        }
        b'E' => {
            fields.string()?;
            fields.int32()?;
        }
        b'S' | b'H' | b'X' | b'c' => {}
        // Copy data is opaque; password messages are checked by the start-up, which
        // knows which kind it expects.
        b'd' | b'p' => return Ok(()),
        other => return Err(format!("invalid frontend message type {other}")),
    }
    if fields.0.is_empty() {
        Ok(())
    } else {
        Err("invalid message format".to_owned())
    }
}

/// The fields of a message body not read yet.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn skip(&mut self, n: usize) -> Result<(), String> {
        if self.0.len() < n {
            return Err("insufficient data left in message".to_owned());
        }
        self.0 = &self.0[n..];
        Ok(())
    }

    fn int32(&mut self) -> Result<i32, String> {
        let bytes = self.0.get(..4).ok_or("insufficient data left in message")?;
        let value = i32::from_be_bytes(bytes.try_into().expect("4 bytes"));
        self.0 = &self.0[4..];
        Ok(value)
    }

    /// A count of elements (an Int16, never negative).
    fn count(&mut self) -> Result<usize, String> {
        let bytes = self.0.get(..2).ok_or("insufficient data left in message")?;
        let count = i16::from_be_bytes(bytes.try_into().expect("2 bytes"));
        self.0 = &self.0[2..];
        usize::try_from(count).map_err(|_| format!("invalid count {count}"))
    }

    /// A NUL-terminated string.
    fn string(&mut self) -> Result<(), String> {
        let end = self
            .0
            .iter()
            .position(|byte| *byte == 0)
            .ok_or("invalid string in message")?;
        self.0 = &self.0[end + 1..];
        Ok(())
    }
}

/// Checks a startup message's parameters (the bytes after its length and protocol
/// version): name and value strings, ended by an empty name.
pub(crate) fn check_startup_parameters(body: &[u8]) -> Result<(), String> {
    let expected = "invalid startup packet layout: expected terminator as last byte";
    let Some((&0, strings)) = body.split_last() else {
        return Err(expected.to_owned());
    };
    if strings.is_empty() {
        return Ok(());
    }
    let Some((&0, strings)) = strings.split_last() else {
        return Err(expected.to_owned());
    };
    if strings.split(|byte| *byte == 0).count() % 2 != 0 {
        return Err("invalid startup packet layout: a parameter has no value".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    fn message(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut bytes = vec![tag];
        bytes.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        bytes.extend_from_slice(body);
        bytes
    }

    #[test]
    fn well_formed_messages_pass() {
        assert_eq!(check_message(b'Q', b"SELECT 1\0"), Ok(()));
        assert_eq!(
            check_message(b'P', b"s\0SELECT $1\0\0\x01\0\0\0\x17"),
            Ok(())
        );
        let bind = b"\0s\0\0\x01\0\x01\0\x02\0\0\0\x01x\xff\xff\xff\xff\0\0";
        assert_eq!(check_message(b'B', bind), Ok(()));
        assert_eq!(check_message(b'E', b"\0\0\0\0\0"), Ok(()));
        assert_eq!(check_message(b'D', b"Ss\0"), Ok(()));
        assert_eq!(check_message(b'S', b""), Ok(()));
        assert_eq!(check_message(b'd', b"anything"), Ok(()));
    }

    #[test]
    fn short_long_and_unterminated_bodies_are_named() {
        let insufficient = "insufficient data left in message";
        let cases: [(u8, &[u8], &str); 7] = [
            (b'E', b"\0", insufficient),
            (b'P', b"s\0q\0\0\x02\0\0\0\x17", insufficient),
            (b'B', b"\0s\0\0\0\0\x01\0\0\0\x09ab", insufficient),
            (b'Q', b"SELECT 1", "invalid string in message"),
            (b'S', b"x", "invalid message format"),
            (b'B', b"\0s\0\xff\xff", "invalid count -1"),
            (b'Z', b"", "invalid frontend message type 90"),
        ];
        for (tag, body, expected) in cases {
            assert_eq!(
                check_message(tag, body),
                Err(expected.to_owned()),
                "{body:?}"
            );
        }
    }

    #[test]
    fn startup_parameters_end_with_a_terminator() {
        assert_eq!(check_startup_parameters(b"user\0weir\0\0"), Ok(()));
        assert_eq!(check_startup_parameters(b"\0"), Ok(()));
        assert!(check_startup_parameters(b"user\0weir\0").is_err());
        assert!(check_startup_parameters(b"user\0\0").is_err());
        assert!(check_startup_parameters(b"").is_err());
    }

    #[tokio::test]
    async fn only_complete_checked_messages_are_released() {
        let mut sent = message(b'Q', b"SELECT 1\0");
        sent.extend(message(b'E', b"\0"));
        let (mut client, server) = tokio::io::duplex(64);
        let mut stream = FrameCheck::new(server, BytesMut::from(&b"startup"[..]));
        tokio::io::AsyncWriteExt::write_all(&mut client, &sent)
            .await
            .unwrap();
        let mut released = vec![0; 7 + 14];
        stream.read_exact(&mut released).await.unwrap();
        assert_eq!(&released[..7], b"startup");
        assert_eq!(&released[7..], &message(b'Q', b"SELECT 1\0")[..]);
        let error = stream.read_u8().await.unwrap_err();
        assert_eq!(error.to_string(), "insufficient data left in message");
    }

    #[tokio::test]
    async fn lengths_out_of_range_end_the_stream() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut stream = FrameCheck::new(server, BytesMut::new());
        tokio::io::AsyncWriteExt::write_all(&mut client, b"Q\0\0\0\x02")
            .await
            .unwrap();
        let error = stream.read_u8().await.unwrap_err();
        assert_eq!(error.to_string(), "invalid message length 2");
    }
}
