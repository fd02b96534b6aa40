//! This desktop's clock against S3's. Leases expire by the holder's clock
//! and are judged by the taker's, so a desktop whose clock is far off must
//! not hold one (the engine's `clock_refusal`). Every answer of the team's
//! S3 carries a `Date` header; each one read tells how far this desktop's
//! clock is off, at no extra request.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use aws_sdk_s3::Client;
use stageline_engine::ids::Millis;

use crate::coordinator::WallClock;

/// Not measured yet.
const UNKNOWN: i64 = i64::MIN;

/// How far this desktop's clock is ahead of S3's, as its answers last said.
#[derive(Clone)]
pub struct ClockWatch {
    clock: WallClock,
    skew: Arc<AtomicI64>,
}

impl std::fmt::Debug for ClockWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClockWatch")
            .field("skew", &self.skew())
            .finish()
    }
}

impl ClockWatch {
    /// Watches `clock` (the one leases are judged by).
    pub fn new(clock: WallClock) -> Self {
        ClockWatch {
            clock,
            skew: Arc::new(AtomicI64::new(UNKNOWN)),
        }
    }

    /// Milliseconds this desktop's clock is ahead of S3's (negative:
    /// behind), from the last answer; `None` before any. S3's `Date` has
    /// whole seconds, so this is good to about a second.
    pub fn skew(&self) -> Option<Millis> {
        Some(self.skew.load(Ordering::SeqCst)).filter(|skew| *skew != UNKNOWN)
    }

    /// `client` with this watch reading the `Date` of each of its answers.
    pub fn watching(&self, client: &Client) -> Client {
        let config = client
            .config()
            .to_builder()
            .interceptor(self.clone())
            .build();
        Client::from_conf(config)
    }

    fn saw(&self, date: &str) {
        let Ok(s3_now) = DateTime::from_str(date, DateTimeFormat::HttpDate) else {
            return;
        };
        let Ok(s3_now) = s3_now.to_millis() else {
            return;
        };
        // S3 cut its time to the second: compare with the middle of it.
        let skew = (self.clock)() - (s3_now + 500);
        self.skew.store(skew, Ordering::SeqCst);
    }
}

impl Intercept for ClockWatch {
    fn name(&self) -> &'static str {
        "StagelineClockWatch"
    }

    fn read_after_transmit(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(date) = context.response().headers().get("date") {
            self.saw(date);
        }
        Ok(())
    }
}
