//! Records read from a source, copied out of the client's buffers into one contiguous
//! allocation, in the order they were read.

/// A batch of records: each with its partition, offset, timestamp, key and value.
#[derive(Debug, Default)]
pub struct Records {
    values: Vec<u8>,
    /// End of each record's value in `values`; `None` for a record without a value.
    value_ends: Vec<Option<usize>>,
    pub keys: Vec<Option<Vec<u8>>>,
    pub partitions: Vec<i32>,
    pub offsets: Vec<i64>,
    /// Milliseconds since the Unix epoch, if the record has a timestamp.
    pub timestamps: Vec<Option<i64>>,
}

impl Records {
    pub fn push(
        &mut self,
        partition: i32,
        offset: i64,
        timestamp: Option<i64>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) {
        self.partitions.push(partition);
        self.offsets.push(offset);
        self.timestamps.push(timestamp);
        self.keys.push(key.map(<[u8]>::to_vec));
        self.value_ends.push(value.map(|value| {
            self.values.extend_from_slice(value);
            self.values.len()
        }));
    }

    pub fn len(&self) -> usize {
        self.partitions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty()
    }

    /// The value of record `index`, `None` for a tombstone.
    pub fn value(&self, index: usize) -> Option<&[u8]> {
        let end = self.value_ends[index]?;
        let start = self.value_ends[..index]
            .iter()
            .rev()
            .find_map(|end| *end)
            .unwrap_or(0);
        Some(&self.values[start..end])
    }

    /// Every record's value in order (see [`Records::value`]), without rescanning.
    pub fn values(&self) -> impl Iterator<Item = Option<&[u8]>> {
        let mut start = 0;
        self.value_ends.iter().map(move |end| {
            let end = (*end)?;
            let value = &self.values[start..end];
            start = end;
            Some(value)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_found_around_tombstones() {
        let mut records = Records::default();
        records.push(0, 10, None, None, Some(b"ab"));
        records.push(0, 11, None, Some(b"k"), None);
        records.push(1, 5, Some(7), None, Some(b"cde"));
        assert_eq!(records.value(0), Some(&b"ab"[..]));
        assert_eq!(records.value(1), None);
        assert_eq!(records.value(2), Some(&b"cde"[..]));
        let all: Vec<_> = records.values().collect();
        assert_eq!(all, vec![Some(&b"ab"[..]), None, Some(&b"cde"[..])]);
    }
}
