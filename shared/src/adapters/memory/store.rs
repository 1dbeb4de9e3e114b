//! One in-memory store behind every storage port, like `DynamoStore`: one `Arc<MemoryStore>`
//! is the mirror, the locks, the event log, the sessions and the settings at once.
//!
//! All state sits behind one `std::sync::Mutex`, taken only inside a synchronous closure, so
//! each port call is one atomic step (as each DynamoDB conditional write or transaction is)
//! and no guard is ever held across an `.await`.

use super::events::EventTable;
use super::faults::{Fault, FaultPlan, die, op_name};
use super::locks::LockTable;
use super::mirror::MirrorTable;
use super::push::PushTable;
use super::sessions::RealtimeTable;
use super::settings::SettingsTable;
use crate::ports::StoreError;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// Every table, each kept by its own area's file.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) locks: LockTable,
    pub(super) mirror: MirrorTable,
    pub(super) events: EventTable,
    pub(super) realtime: RealtimeTable,
    pub(super) settings: SettingsTable,
    pub(super) push: PushTable,
}

/// The in-memory store: implements `LockStore`, `MirrorStore`, `EventStore`, `RealtimeStore`
/// and `SettingsStore` with the conditions of the DynamoDB adapter.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    /// Port calls still to fail with `StoreError::Unavailable` (a simulated outage).
    failures: AtomicU32,
    /// Yield to the runtime before each call, so concurrent callers interleave at every
    /// store call instead of running one after the other.
    interleave: AtomicBool,
    /// The simulation's faults, asked before every call.
    plan: Mutex<Option<Arc<dyn FaultPlan>>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `n` port calls fail with `StoreError::Unavailable` and change nothing.
    pub fn fail_next(&self, n: u32) {
        self.failures.store(n, Ordering::SeqCst);
    }

    /// With `true`, every port call first yields to the runtime: futures run together (e.g.
    /// with `tokio::join!`) then read and write in lockstep, which is how races show.
    pub fn set_interleave(&self, on: bool) {
        self.interleave.store(on, Ordering::SeqCst);
    }

    /// Every later call first asks `plan` what becomes of it.
    pub fn set_fault_plan(&self, plan: Arc<dyn FaultPlan>) {
        *self.plan.lock().unwrap_or_else(|e| e.into_inner()) = Some(plan);
    }

    /// Runs one port call as one atomic step on the state.
    pub(super) async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut State) -> Result<T, StoreError> + Send,
        T: Send,
    {
        if self.interleave.load(Ordering::SeqCst) {
            tokio::task::yield_now().await;
        }
        let plan = self.plan.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match plan.map_or(Fault::Pass, |p| p.store_call(op_name::<F>())) {
            Fault::Pass => {}
            Fault::Delay(d) => tokio::time::sleep(d).await,
            Fault::Fail => {
                return Err(StoreError::Unavailable(
                    "simulated DynamoDB error (fault plan)".into(),
                ));
            }
            Fault::Crash { applied } => {
                if applied {
                    let _ = f(&mut self.with_state());
                }
                die().await
            }
        }
        let failing = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(StoreError::Unavailable(
                "simulated outage of the memory store".into(),
            ));
        }
        f(&mut self.with_state())
    }

    /// The state, for the synchronous inspection helpers tests use.
    pub(super) fn with_state(&self) -> std::sync::MutexGuard<'_, State> {
        // A test that panicked while holding it leaves nothing half-written worth guarding.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
