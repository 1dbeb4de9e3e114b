//! Clocks tests control.

use crate::model::EpochMillis;
use crate::ports::Clock;
use std::sync::atomic::{AtomicI64, Ordering};

/// A clock tests move by hand; it never moves by itself.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start: EpochMillis) -> Self {
        Self(AtomicI64::new(start.0))
    }
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> EpochMillis {
        EpochMillis(self.0.load(Ordering::SeqCst))
    }
}

/// A clock that follows tokio's time: under `tokio::time::pause()` it moves exactly as far as
/// the paused runtime auto-advances (every `sleep` the code under test takes) plus whatever the
/// test adds with [`advance_ms`](Self::advance_ms). The lock wait and the lease then agree on
/// what time it is.
#[derive(Debug)]
pub struct TokioClock {
    start: EpochMillis,
    origin: tokio::time::Instant,
    extra: AtomicI64,
}

impl TokioClock {
    pub fn new(start: EpochMillis) -> Self {
        Self {
            start,
            origin: tokio::time::Instant::now(),
            extra: AtomicI64::new(0),
        }
    }
    /// Jumps the epoch forward without sleeping (e.g. past a lease).
    pub fn advance_ms(&self, ms: i64) {
        self.extra.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for TokioClock {
    fn now(&self) -> EpochMillis {
        let elapsed = self.origin.elapsed().as_millis() as i64;
        self.start
            .plus_ms(elapsed + self.extra.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(EpochMillis(1000));
        assert_eq!(c.now(), EpochMillis(1000));
        c.advance_ms(500);
        assert_eq!(c.now(), EpochMillis(1500));
    }

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_paused_sleeps() {
        let c = TokioClock::new(EpochMillis(1000));
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        assert_eq!(c.now(), EpochMillis(1250));
        c.advance_ms(50);
        assert_eq!(c.now(), EpochMillis(1300));
    }
}
