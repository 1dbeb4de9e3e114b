//! Time as the sync sees it. Leases, TTLs and event timestamps all read this clock, so tests can
//! move time forward instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (lease ends, event times).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EpochMillis(pub i64);

/// Seconds since the Unix epoch: only for DynamoDB TTL attributes, which clean up but never
/// decide correctness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EpochSecs(pub i64);

impl EpochMillis {
    pub fn plus_ms(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }
    pub fn to_secs(self) -> EpochSecs {
        EpochSecs(self.0.div_euclid(1000))
    }
    /// RFC 3339 in UTC with milliseconds, for humans and JSON answers.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default()
    }
}

pub trait Clock: Send + Sync {
    fn now(&self) -> EpochMillis;
}

impl SystemClock {
    /// Seconds since the epoch, for TTL attributes that only clean up.
    pub fn now_secs(&self) -> i64 {
        self.now().to_secs().0
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> EpochMillis {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        EpochMillis(ms)
    }
}

/// A clock tests move by hand.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_and_secs_do_not_mix() {
        let t = EpochMillis(1_700_000_123_456);
        assert_eq!(t.to_secs(), EpochSecs(1_700_000_123));
        assert_eq!(t.to_rfc3339(), "2023-11-14T22:15:23.456Z");
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(EpochMillis(1000));
        assert_eq!(c.now(), EpochMillis(1000));
        c.advance_ms(500);
        assert_eq!(c.now(), EpochMillis(1500));
    }
}
