//! The barrier coordinator: every barrier interval, the changes whose view maintenance
//! was deferred (sessions with `implicit_flush` off) are applied to the views and
//! committed as one epoch. `FLUSH` runs a barrier at once.

use std::sync::Weak;
use std::time::Duration;

use crate::maintainer::Maintainer;

/// Runs a barrier every `interval` for as long as the maintainer lives.
pub(crate) fn spawn(maintainer: Weak<Maintainer>, interval: Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(maintainer) = maintainer.upgrade() else {
                return;
            };
            if let Err(error) = maintainer.flush().await {
                tracing::warn!(%error, "barrier failed; the deferred changes wait for the next one");
            }
        }
    });
}
