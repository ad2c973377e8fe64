//! Transaction blocks, as weir gives them.
//!
//! `BEGIN`, `COMMIT` and `ROLLBACK` are accepted so that drivers and tools that wrap their
//! work in transactions run unchanged, but weir does not defer or undo writes: every
//! statement is atomic and durable on its own when it completes, inside a block or not.
//! `ROLLBACK` therefore does not undo the statements before it; weir says so with a
//! WARNING when the block wrote anything.
//!
//! What PostgreSQL does after an error inside a block is kept: the block is *failed*, and
//! every statement but `COMMIT`/`ROLLBACK` is refused with 25P02 until it ends; `COMMIT`
//! of a failed block reports `ROLLBACK`.

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TransactionState {
    /// Not in a block: each statement is its own transaction.
    #[default]
    Idle,
    /// Inside `BEGIN … COMMIT`; `wrote` is whether any statement in it changed data.
    InBlock { wrote: bool },
    /// Inside a block in which a statement failed.
    Failed,
}
