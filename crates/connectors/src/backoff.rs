//! Waiting between attempts to reach something outside weir (a Kafka broker, a schema
//! registry): from [`FIRST_BACKOFF`], doubling up to [`MAX_BACKOFF`], cut short when the
//! connector is stopped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The first wait before trying again.
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between attempts.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Waits `backoff`, unless `stop` is set meanwhile, and doubles it (up to
/// [`MAX_BACKOFF`]); whether the connector goes on.
pub(crate) fn back_off(stop: &AtomicBool, backoff: &mut Duration) -> bool {
    let until = Instant::now() + *backoff;
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
    while Instant::now() < until {
        if stop.load(Ordering::Acquire) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}
