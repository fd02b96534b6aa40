//! The real clock: wall time, and ids that stay unique across restarts.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use stageline_engine::ports::Clock;
use stageline_engine::Millis;

/// Wall-clock time; ids are microsecond timestamps, bumped to stay unique
/// and increasing (below 2^53, so JavaScript reads them exactly).
#[derive(Default)]
pub struct SystemClock {
    last_id: AtomicI64,
}

fn micros_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        micros_now() / 1000
    }

    fn new_id(&self) -> i64 {
        let candidate = micros_now();
        let previous = self.last_id.fetch_max(candidate, Ordering::SeqCst);
        if candidate > previous {
            candidate
        } else {
            self.last_id.fetch_add(1, Ordering::SeqCst) + 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_increasing() {
        let clock = SystemClock::default();
        let ids: Vec<i64> = (0..10_000).map(|_| clock.new_id()).collect();
        assert!(ids.windows(2).all(|w| w[1] > w[0]));
        assert!(*ids.last().unwrap() < (1i64 << 53));
    }
}
