//! One operator's state table: its keys under the operator's prefix in the `State` key
//! space, loaded whole at start-up and written back, changed keys only, with each epoch.

use weir_common::Result;
use weir_storage::{EpochWrite, ReadSnapshot, keys};

pub(crate) struct StateTable {
    prefix: Vec<u8>,
}

impl StateTable {
    pub fn new(object_id: u32, node_id: u16) -> Self {
        StateTable {
            prefix: keys::state_prefix(object_id, node_id),
        }
    }

    fn full_key(&self, key: &[u8]) -> Vec<u8> {
        let mut full = Vec::with_capacity(self.prefix.len() + key.len());
        full.extend_from_slice(&self.prefix);
        full.extend_from_slice(key);
        full
    }

    /// Calls `visit` with every stored key (without the prefix) and value.
    pub fn load(
        &self,
        snapshot: &ReadSnapshot,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<()>,
    ) -> Result<()> {
        let end = keys::prefix_end(&self.prefix);
        let mut failure = Ok(());
        snapshot.scan(&self.prefix, end.as_deref(), |key, value| {
            failure = visit(&key[self.prefix.len()..], value);
            failure.is_ok()
        })?;
        failure
    }

    pub fn put(&self, write: &mut EpochWrite, key: &[u8], value: &[u8]) {
        write.put(&self.full_key(key), value);
    }

    pub fn delete(&self, write: &mut EpochWrite, key: &[u8]) {
        write.delete(&self.full_key(key));
    }
}

/// Little-endian fixed-width numbers and length-prefixed bytes, for state values.
#[derive(Default)]
pub(crate) struct Encoder(pub Vec<u8>);

impl Encoder {
    pub fn i64(&mut self, value: i64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    pub fn i128(&mut self, value: i128) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    pub fn bytes(&mut self, value: &[u8]) {
        self.0
            .extend_from_slice(&(value.len() as u32).to_le_bytes());
        self.0.extend_from_slice(value);
    }
}

/// Reads what [`Encoder`] wrote, in the same order.
pub(crate) struct Decoder<'a>(pub &'a [u8]);

impl Decoder<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        if self.0.len() < N {
            return Err(weir_common::WeirError::internal(
                "operator state is truncated",
            ));
        }
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        Ok(head.try_into().expect("split at N"))
    }

    pub fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.take()?))
    }

    pub fn i128(&mut self) -> Result<i128> {
        Ok(i128::from_le_bytes(self.take()?))
    }

    pub fn bytes(&mut self) -> Result<Vec<u8>> {
        let len = u32::from_le_bytes(self.take()?) as usize;
        if self.0.len() < len {
            return Err(weir_common::WeirError::internal(
                "operator state is truncated",
            ));
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(head.to_vec())
    }
}
