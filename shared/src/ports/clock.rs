//! The clock port: leases, TTLs and event times all read it, so tests control time.

use crate::model::EpochMillis;

pub trait Clock: Send + Sync {
    fn now(&self) -> EpochMillis;
}
