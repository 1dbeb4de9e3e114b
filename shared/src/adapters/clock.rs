//! The wall clock every deployed function runs on.

use crate::model::EpochMillis;
use crate::ports::Clock;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl SystemClock {
    /// Seconds since the epoch, for TTL attributes that only clean up.
    pub fn now_secs(&self) -> i64 {
        self.now().to_secs().0
    }
}

impl Clock for SystemClock {
    fn now(&self) -> EpochMillis {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        EpochMillis(ms)
    }
}
