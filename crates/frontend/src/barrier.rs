//! The barrier coordinator: every barrier interval, the changes whose view maintenance
//! was deferred (sessions with `implicit_flush` off) are applied to the views and
//! committed as one epoch. `FLUSH` runs a barrier at once.

use std::sync::Weak;
use std::time::Duration;

use weir_common::Interrupt;

use crate::executor::QueryExecutor;
use crate::maintainer::Maintainer;

/// Runs a barrier every `interval`, on `executor`, for as long as the maintainer lives.
pub(crate) fn spawn(executor: &QueryExecutor, maintainer: Weak<Maintainer>, interval: Duration) {
    executor.spawn(async move {
        // No client waits for a barrier of the coordinator, so nobody interrupts it.
        let nobody_interrupts = Interrupt::new();
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(maintainer) = maintainer.upgrade() else {
                return;
            };
            if let Err(error) = maintainer.flush(&nobody_interrupts).await {
                tracing::warn!(%error, "barrier failed; the deferred changes wait for the next one");
            }
        }
    });
}
