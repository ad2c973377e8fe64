//! How much memory queries may hold: a budget for all running statements together
//! (`--query-memory`) and a share of it for each one (`--statement-memory`).
//!
//! Every statement plans and runs with its own DataFusion memory pool, a
//! [`StatementMemory`], drawn from the server's [`QueryMemory`]. The operators that hold
//! rows (hash tables of joins and aggregates, sort buffers, the buffered side of a
//! nested-loop or cross join, repartition queues) reserve what they hold before they hold
//! it. A sort or an aggregate that cannot reserve more spills to disk and goes on; one
//! that cannot spill fails its statement with 53200 "out of memory", as PostgreSQL fails a
//! statement whose allocation fails, and what the statement held is returned to the
//! budget. So one statement can neither take the machine nor take all of the budget from
//! the others.
//!
//! What a pool counts is what DataFusion's operators reserve: the rows a statement scans
//! and hands on batch by batch are not counted, nor is the state of materialized views,
//! which lives in their dataflows.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::memory_pool::{MemoryLimit, MemoryPool, MemoryReservation};

/// The memory all running statements may hold together, and each one alone.
#[derive(Debug)]
pub struct QueryMemory {
    total: usize,
    per_statement: usize,
    used: AtomicUsize,
}

impl QueryMemory {
    /// A budget of `total` bytes, of which one statement may hold `per_statement`.
    pub fn new(total: usize, per_statement: usize) -> Arc<QueryMemory> {
        Arc::new(QueryMemory {
            total,
            per_statement: per_statement.min(total),
            used: AtomicUsize::new(0),
        })
    }

    /// A pool for one statement, drawing on this budget.
    pub(crate) fn statement_pool(self: &Arc<Self>) -> Arc<StatementMemory> {
        Arc::new(StatementMemory {
            budget: self.clone(),
            used: AtomicUsize::new(0),
        })
    }

    /// The bytes all statements hold now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

/// One statement's memory pool: what its operators hold, at most the budget's
/// per-statement share and at most what the budget has left.
#[derive(Debug)]
pub(crate) struct StatementMemory {
    budget: Arc<QueryMemory>,
    used: AtomicUsize,
}

impl StatementMemory {
    fn out_of_memory(&self, reservation: &MemoryReservation, additional: usize) -> DataFusionError {
        DataFusionError::ResourcesExhausted(format!(
            "Failed on request of size {additional} by {} holding {}; the statement holds {} \
             of its {} (--statement-memory), all statements {} of {} (--query-memory)",
            reservation.consumer().name(),
            reservation.size(),
            self.used.load(Ordering::Relaxed),
            self.budget.per_statement,
            self.budget.used(),
            self.budget.total,
        ))
    }
}

impl MemoryPool for StatementMemory {
    fn name(&self) -> &str {
        "statement"
    }

    fn grow(&self, _reservation: &MemoryReservation, additional: usize) {
        self.used.fetch_add(additional, Ordering::Relaxed);
        self.budget.used.fetch_add(additional, Ordering::Relaxed);
    }

    fn shrink(&self, _reservation: &MemoryReservation, shrink: usize) {
        self.used.fetch_sub(shrink, Ordering::Relaxed);
        self.budget.used.fetch_sub(shrink, Ordering::Relaxed);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        let within = |limit: usize| {
            move |used: usize| used.checked_add(additional).filter(|&sum| sum <= limit)
        };
        self.used
            .fetch_update(
                Ordering::Relaxed,
                Ordering::Relaxed,
                within(self.budget.per_statement),
            )
            .map_err(|_| self.out_of_memory(reservation, additional))?;
        let taken = self.budget.used.fetch_update(
            Ordering::Relaxed,
            Ordering::Relaxed,
            within(self.budget.total),
        );
        if taken.is_err() {
            self.used.fetch_sub(additional, Ordering::Relaxed);
            return Err(self.out_of_memory(reservation, additional));
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.budget.per_statement)
    }
}

impl fmt::Display for StatementMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "statement memory ({} of {} bytes)",
            self.used.load(Ordering::Relaxed),
            self.budget.per_statement
        )
    }
}

#[cfg(test)]
mod tests {
    use datafusion::execution::memory_pool::MemoryConsumer;

    use super::*;

    fn reservation(pool: &Arc<StatementMemory>) -> MemoryReservation {
        let pool: Arc<dyn MemoryPool> = pool.clone();
        MemoryConsumer::new("test").register(&pool)
    }

    #[test]
    fn a_statement_holds_at_most_its_share() {
        let budget = QueryMemory::new(1000, 400);
        let pool = budget.statement_pool();
        let held = reservation(&pool);
        held.try_grow(400).unwrap();
        let error = held.try_grow(1).unwrap_err();
        assert!(
            matches!(error, DataFusionError::ResourcesExhausted(_)),
            "{error}"
        );
        assert_eq!(budget.used(), 400);
        drop(held);
        assert_eq!(
            budget.used(),
            0,
            "a statement's memory returns to the budget"
        );
    }

    #[test]
    fn statements_together_hold_at_most_the_budget() {
        let budget = QueryMemory::new(1000, 600);
        let (first, second) = (budget.statement_pool(), budget.statement_pool());
        let first_held = reservation(&first);
        let second_held = reservation(&second);
        first_held.try_grow(600).unwrap();
        assert!(second_held.try_grow(500).is_err());
        assert_eq!(second.reserved(), 0, "a refused request holds nothing");
        second_held.try_grow(400).unwrap();
        assert_eq!(budget.used(), 1000);
    }
}
