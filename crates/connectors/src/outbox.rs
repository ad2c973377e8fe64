//! The hand-over between the barrier and a sink's writer thread.
//!
//! Each epoch that changes a sink's input stores the sink's messages for that epoch as
//! one numbered entry of the sink's outbox, in the epoch's own atomic write; the writer
//! then delivers entries in order and reports how far it got, and the delivered entries
//! are deleted. The outbox lives in weir's store (the frontend implements [`Outbox`]), so
//! nothing a committed epoch sends is lost by a crash.

use std::time::Duration;

use weir_common::{Result, WeirError};

use crate::sink_encoder::SinkMessage;

/// The messages of one epoch, numbered in the order the epochs committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    pub sequence: u64,
    pub messages: Vec<SinkMessage>,
}

/// A sink's stored entries, as its writer sees them.
pub trait Outbox: Send + Sync + 'static {
    /// The entries numbered after `after`, oldest first, stopping once about `max_bytes`
    /// are read (at least one entry if there is one).
    fn read(&self, after: u64, max_bytes: usize) -> Result<Vec<OutboxEntry>>;
    /// Records that the entries up to `sequence` are delivered and deletes them.
    fn delivered(&self, sequence: u64) -> Result<()>;
    /// The last delivery recorded by [`Outbox::delivered`] (0 if none).
    fn recorded(&self) -> Result<u64>;
    /// Returns once new entries may have been committed, or after `timeout`.
    fn wait(&self, timeout: Duration);
}

/// Frames messages for storage: per message, key then value, each as a little-endian
/// `u32` length (`u32::MAX` for none) followed by the bytes.
pub fn encode_messages(messages: &[SinkMessage]) -> Vec<u8> {
    let size: usize = messages
        .iter()
        .map(|m| 8 + m.key.as_ref().map_or(0, Vec::len) + m.value.as_ref().map_or(0, Vec::len))
        .sum();
    let mut out = Vec::with_capacity(size);
    for message in messages {
        for part in [&message.key, &message.value] {
            match part {
                Some(bytes) => {
                    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
                    out.extend_from_slice(bytes);
                }
                None => out.extend_from_slice(&u32::MAX.to_le_bytes()),
            }
        }
    }
    out
}

/// The messages [`encode_messages`] framed.
pub fn decode_messages(mut bytes: &[u8]) -> Result<Vec<SinkMessage>> {
    let corrupt = || WeirError::internal("a sink's stored messages are corrupt");
    let part = |bytes: &mut &[u8]| -> Result<Option<Vec<u8>>> {
        let (length, rest) = bytes.split_first_chunk::<4>().ok_or_else(corrupt)?;
        let length = u32::from_le_bytes(*length);
        if length == u32::MAX {
            *bytes = rest;
            return Ok(None);
        }
        let (value, rest) = rest.split_at_checked(length as usize).ok_or_else(corrupt)?;
        *bytes = rest;
        Ok(Some(value.to_vec()))
    };
    let mut messages = Vec::new();
    while !bytes.is_empty() {
        let key = part(&mut bytes)?;
        let value = part(&mut bytes)?;
        messages.push(SinkMessage { key, value });
    }
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let messages = vec![
            SinkMessage {
                key: None,
                value: Some(b"{}".to_vec()),
            },
            SinkMessage {
                key: Some(vec![]),
                value: None,
            },
        ];
        assert_eq!(
            decode_messages(&encode_messages(&messages)).unwrap(),
            messages
        );
        assert!(decode_messages(&[1, 0, 0]).is_err());
        assert!(decode_messages(&[9, 0, 0, 0, 1]).is_err());
    }
}
