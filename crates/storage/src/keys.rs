//! The layout of weir's RocksDB key space (see the crate documentation).

/// The first byte of every key.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Space {
    Meta = 0x00,
    Catalog = 0x01,
    Table = 0x02,
    State = 0x03,
    ViewErrors = 0x04,
    Pending = 0x05,
    SourceOffsets = 0x06,
    DeadLetters = 0x07,
    Sinks = 0x08,
    ViewFailures = 0x09,
}

/// Key of a bookkeeping value in the `Meta` space.
pub fn meta(name: &str) -> Vec<u8> {
    let mut key = vec![Space::Meta as u8];
    key.extend_from_slice(name.as_bytes());
    key
}

/// Key of one catalog object.
pub fn catalog_entry(object_id: u32) -> Vec<u8> {
    let mut key = vec![Space::Catalog as u8];
    key.extend_from_slice(&object_id.to_be_bytes());
    key
}

/// The first key of the catalog space and the first key past it.
pub fn catalog_range() -> (Vec<u8>, Vec<u8>) {
    (vec![Space::Catalog as u8], vec![Space::Catalog as u8 + 1])
}

/// The prefix shared by every row key of a table.
pub fn table_prefix(table_id: u32) -> Vec<u8> {
    let mut key = Vec::with_capacity(5);
    key.push(Space::Table as u8);
    key.extend_from_slice(&table_id.to_be_bytes());
    key
}

/// The full key of one row.
pub fn table_row(table_id: u32, row_key: &[u8]) -> Vec<u8> {
    let mut key = table_prefix(table_id);
    key.extend_from_slice(row_key);
    key
}

/// The prefix of every key of one operator's state: the owning object (a materialized
/// view) and the operator's node id in the object's stream plan.
pub fn state_prefix(object_id: u32, node_id: u16) -> Vec<u8> {
    let mut key = Vec::with_capacity(7);
    key.push(Space::State as u8);
    key.extend_from_slice(&object_id.to_be_bytes());
    key.extend_from_slice(&node_id.to_be_bytes());
    key
}

/// The prefix of every state key of one object.
pub fn object_state_prefix(object_id: u32) -> Vec<u8> {
    let mut key = Vec::with_capacity(5);
    key.push(Space::State as u8);
    key.extend_from_slice(&object_id.to_be_bytes());
    key
}

/// The first key of the state space and the first key past it.
pub fn state_range() -> (Vec<u8>, Vec<u8>) {
    (vec![Space::State as u8], vec![Space::State as u8 + 1])
}

/// Key of the `sequence`th entry of a log kept in `space` (row errors of views, dead
/// letters of sources).
pub fn log_entry(space: Space, sequence: u64) -> Vec<u8> {
    let mut key = vec![space as u8];
    key.extend_from_slice(&sequence.to_be_bytes());
    key
}

/// The first key of a log's space and the first key past it.
pub fn log_range(space: Space) -> (Vec<u8>, Vec<u8>) {
    (vec![space as u8], vec![space as u8 + 1])
}

/// Key of the offset a source's reader continues from in one partition, committed with
/// the state it produced: the object that owns the reader (a materialized view), the
/// source, the partition.
pub fn source_offset(owner_id: u32, source_id: u32, partition: i32) -> Vec<u8> {
    let mut key = source_offsets_prefix(owner_id);
    key.extend_from_slice(&source_id.to_be_bytes());
    key.extend_from_slice(&(partition as u32).to_be_bytes());
    key
}

/// The prefix of every source offset an object owns.
pub fn source_offsets_prefix(owner_id: u32) -> Vec<u8> {
    let mut key = vec![Space::SourceOffsets as u8];
    key.extend_from_slice(&owner_id.to_be_bytes());
    key
}

/// Key of the failure of a materialized view or sink that stopped being maintained.
pub fn view_failure(object_id: u32) -> Vec<u8> {
    let mut key = vec![Space::ViewFailures as u8];
    key.extend_from_slice(&object_id.to_be_bytes());
    key
}

/// The prefix of every key of a sink: its bookkeeping and its outbox.
pub fn sink_prefix(sink_id: u32) -> Vec<u8> {
    let mut key = vec![Space::Sinks as u8];
    key.extend_from_slice(&sink_id.to_be_bytes());
    key
}

/// Key of a sink's bookkeeping (its unique id, how far it has delivered).
pub fn sink_meta(sink_id: u32) -> Vec<u8> {
    let mut key = sink_prefix(sink_id);
    key.push(0);
    key
}

/// The prefix of a sink's outbox entries.
pub fn sink_outbox_prefix(sink_id: u32) -> Vec<u8> {
    let mut key = sink_prefix(sink_id);
    key.push(1);
    key
}

/// Key of the sink's outbox entry `sequence`: the messages of one epoch.
pub fn sink_outbox_entry(sink_id: u32, sequence: u64) -> Vec<u8> {
    let mut key = sink_outbox_prefix(sink_id);
    key.extend_from_slice(&sequence.to_be_bytes());
    key
}

/// Key of a table change whose view maintenance was deferred: the epoch it committed in,
/// then the table, so that pending changes are read back in commit order.
pub fn pending_change(epoch: u64, table_id: u32) -> Vec<u8> {
    let mut key = vec![Space::Pending as u8];
    key.extend_from_slice(&epoch.to_be_bytes());
    key.extend_from_slice(&table_id.to_be_bytes());
    key
}

/// The first key of the pending-change space and the first key past it.
pub fn pending_range() -> (Vec<u8>, Vec<u8>) {
    (vec![Space::Pending as u8], vec![Space::Pending as u8 + 1])
}

/// The smallest key greater than every key that starts with `prefix`, or `None` when no
/// such key exists (the prefix is all `0xFF`).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_prefix() {
        assert_eq!(prefix_end(&[1, 2, 3]), Some(vec![1, 2, 4]));
        assert_eq!(prefix_end(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xFF, 0xFF]), None);
    }

    #[test]
    fn table_keys_sort_by_table_then_row() {
        assert!(table_row(1, &[9]) < table_row(2, &[0]));
        assert!(table_row(1, &[1]) < table_row(1, &[2]));
        assert!(catalog_entry(u32::MAX) < table_prefix(0));
    }
}
