//! The real clock: wall time, and ids that stay unique across restarts.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use stageline_engine::ports::Clock;
use stageline_engine::Millis;

/// Wall-clock time; ids are microsecond timestamps, bumped to stay unique
/// and increasing (below 2^53, so JavaScript reads them exactly). They never
/// go back: not within a run, and not below the store's highest id after a
/// restart (the engine passes it in), even if the wall clock stepped back.
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

impl SystemClock {
    /// The next id given the wall clock's `now`: `now` if it is above every
    /// id so far, else one more than the last.
    fn next_id(&self, now: i64) -> i64 {
        let mut last = self.last_id.load(Ordering::SeqCst);
        loop {
            let next = now.max(last + 1);
            match self
                .last_id
                .compare_exchange(last, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return next,
                Err(current) => last = current,
            }
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        micros_now() / 1000
    }

    fn new_id(&self) -> i64 {
        self.next_id(micros_now())
    }

    fn ids_above(&self, floor: i64) {
        self.last_id.fetch_max(floor, Ordering::SeqCst);
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

    #[test]
    fn ids_never_go_back_below_the_stores_highest_id() {
        // The store's highest id was minted an hour "later" than the wall
        // clock says now (the clock stepped back across the restart).
        let clock = SystemClock::default();
        let highest = micros_now() + 3_600_000_000;
        clock.ids_above(highest);
        let first = clock.new_id();
        assert_eq!(first, highest + 1);
        assert!(clock.new_id() > first);
        // A lower floor later changes nothing.
        clock.ids_above(5);
        assert!(clock.new_id() > first);
    }

    #[test]
    fn ids_stay_increasing_when_the_wall_clock_steps_back() {
        let clock = SystemClock::default();
        let before = clock.next_id(2_000_000);
        let after = clock.next_id(1_000_000);
        assert_eq!(after, before + 1);
        assert_eq!(clock.next_id(3_000_000), 3_000_000);
    }
}
