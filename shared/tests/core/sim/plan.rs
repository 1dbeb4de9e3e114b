//! The seeded fault plan: one random generator decides every fault, so a seed replays the same
//! run. Faults strike only inside an invocation (a task the simulation started as a Lambda
//! invocation or a callout delivery); the harness's own reads and the oracle see none.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use zuora_sync::adapters::memory::{Fault, FaultPlan, SalesforceFault, ZuoraFault};
use zuora_sync::ports::{SalesforceError, ZuoraError};

tokio::task_local! {
    /// The invocation a task belongs to.
    pub static INVOCATION: u64;
}

/// Per-call probabilities of one run, drawn from its seed.
#[derive(Debug, Clone)]
pub struct Rates {
    pub store_fail: f64,
    pub store_delay: f64,
    pub crash: f64,
    pub queue_fail: f64,
    pub zuora_fail: f64,
    pub zuora_delay: f64,
    /// A callout's writes stalling for seconds (a starved or frozen process).
    pub stall: f64,
    /// Crashes in one run at most, so runs still make progress.
    pub max_crashes: u32,
    pub salesforce: SalesforceRates,
}

/// Salesforce's faults, drawn from their own generator so that runs without a Salesforce
/// connection draw the same as before it existed.
#[derive(Debug, Clone, Default)]
pub struct SalesforceRates {
    /// A call failing whole: an outage, an expired session, the daily or concurrency limit.
    pub fail: f64,
    pub delay: f64,
    /// Every record of a call refused with `UNABLE_TO_LOCK_ROW`.
    pub lock_rows: f64,
}

impl SalesforceRates {
    pub fn draw(seed: u64) -> Self {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x5a1e_5f0c);
        Self {
            fail: rng.random_range(0.0..0.12),
            delay: rng.random_range(0.0..0.06),
            lock_rows: rng.random_range(0.0..0.12),
        }
    }
}

impl Rates {
    pub fn draw(rng: &mut Xoshiro256PlusPlus) -> Self {
        Self {
            store_fail: rng.random_range(0.0..0.04),
            store_delay: rng.random_range(0.0..0.06),
            crash: rng.random_range(0.0..0.02),
            queue_fail: rng.random_range(0.0..0.08),
            zuora_fail: rng.random_range(0.0..0.12),
            zuora_delay: rng.random_range(0.0..0.08),
            stall: rng.random_range(0.0..0.05),
            max_crashes: rng.random_range(0..=4),
            salesforce: SalesforceRates::default(),
        }
    }
}

#[derive(Debug)]
struct PlanState {
    rng: Xoshiro256PlusPlus,
    crashes: u32,
    /// Invocations that died by a crash fault (not by their deadline).
    crashed: BTreeSet<u64>,
    faults: u64,
}

#[derive(Debug)]
pub struct SeededPlan {
    rates: Rates,
    on: AtomicBool,
    state: Mutex<PlanState>,
}

impl SeededPlan {
    pub fn new(seed: u64, rates: Rates) -> Self {
        Self {
            rates,
            on: AtomicBool::new(true),
            state: Mutex::new(PlanState {
                rng: Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x5eed_fa17),
                crashes: 0,
                crashed: BTreeSet::new(),
                faults: 0,
            }),
        }
    }

    /// Quiescing: no more faults.
    pub fn stop(&self) {
        self.on.store(false, Ordering::SeqCst);
    }

    pub fn crashed(&self, invocation: u64) -> bool {
        self.state().crashed.contains(&invocation)
    }

    /// Faults injected so far.
    pub fn faults(&self) -> u64 {
        self.state().faults
    }

    /// Invocations crashed so far.
    pub fn crashes(&self) -> u32 {
        self.state().crashes
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PlanState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current invocation, when faults apply to this call.
    fn target(&self) -> Option<u64> {
        if !self.on.load(Ordering::SeqCst) {
            return None;
        }
        INVOCATION.try_with(|id| *id).ok()
    }

    /// Decides a crash for `invocation`, within the run's budget.
    fn crash(&self, s: &mut PlanState, invocation: u64) -> bool {
        if s.crashes >= self.rates.max_crashes || !s.rng.random_bool(self.rates.crash) {
            return false;
        }
        s.crashes += 1;
        s.crashed.insert(invocation);
        true
    }
}

impl FaultPlan for SeededPlan {
    fn store_call(&self, op: &'static str) -> Fault {
        let Some(invocation) = self.target() else {
            return Fault::Pass;
        };
        let mut s = self.state();
        let fault = if self.crash(&mut s, invocation) {
            Fault::Crash {
                applied: s.rng.random_bool(0.5),
            }
        } else if s.rng.random_bool(self.rates.store_fail) {
            Fault::Fail
        } else if op == "record_change" && s.rng.random_bool(self.rates.stall) {
            // Longer than a session waits for a number's change (H2).
            Fault::Delay(Duration::from_millis(s.rng.random_range(3_000..8_000)))
        } else if s.rng.random_bool(self.rates.store_delay) {
            // A slow request, up to the SDK's operation timeout (app::AWS_OPERATION_TIMEOUT);
            // a slower one is a failure.
            Fault::Delay(Duration::from_millis(s.rng.random_range(50..2_000)))
        } else {
            Fault::Pass
        };
        if fault != Fault::Pass {
            s.faults += 1;
        }
        fault
    }

    fn queue_send(&self) -> Fault {
        let Some(invocation) = self.target() else {
            return Fault::Pass;
        };
        let mut s = self.state();
        let fault = if self.crash(&mut s, invocation) {
            Fault::Crash {
                applied: s.rng.random_bool(0.5),
            }
        } else if s.rng.random_bool(self.rates.queue_fail) {
            Fault::Fail
        } else {
            Fault::Pass
        };
        if fault != Fault::Pass {
            s.faults += 1;
        }
        fault
    }

    fn zuora_call(&self, _method: &'static str) -> ZuoraFault {
        let Some(invocation) = self.target() else {
            return ZuoraFault::Pass;
        };
        let mut s = self.state();
        let fault = if self.crash(&mut s, invocation) {
            ZuoraFault::Crash
        } else if s.rng.random_bool(self.rates.zuora_fail) {
            ZuoraFault::Fail(match s.rng.random_range(0..5) {
                // Zuora's concurrency 429, as the client reports it: wait 120 s.
                0 => ZuoraError::Busy {
                    retry_after_secs: 120,
                    reason: "The total number of concurrent requests has exceeded the limit".into(),
                },
                1 => ZuoraError::Unavailable {
                    status: 503,
                    reason: "Service Unavailable".into(),
                    attempts: 4,
                },
                2 => ZuoraError::Timeout { attempts: 4 },
                3 => ZuoraError::Auth {
                    reason: "invalid client credentials".into(),
                },
                _ => ZuoraError::Rejected {
                    status: 403,
                    code: None,
                    reason: "forbidden".into(),
                },
            })
        } else if s.rng.random_bool(self.rates.zuora_delay) {
            // Up to a call that hangs past any invocation's deadline.
            ZuoraFault::Delay(Duration::from_millis(s.rng.random_range(500..70_000)))
        } else {
            ZuoraFault::Pass
        };
        if fault != ZuoraFault::Pass {
            s.faults += 1;
        }
        fault
    }

    fn salesforce_call(&self, _method: &'static str) -> SalesforceFault {
        let Some(invocation) = self.target() else {
            return SalesforceFault::Pass;
        };
        let rates = &self.rates.salesforce;
        let mut s = self.state();
        let fault = if self.crash(&mut s, invocation) {
            SalesforceFault::Crash {
                applied: s.rng.random_bool(0.5),
            }
        } else if s.rng.random_bool(rates.fail) {
            SalesforceFault::Fail(match s.rng.random_range(0..6) {
                // The daily allocation: pushes pause for 15 minutes.
                0 => SalesforceError::LimitExceeded {
                    daily: true,
                    message: "TotalRequests Limit exceeded.".into(),
                },
                1 => SalesforceError::LimitExceeded {
                    daily: false,
                    message: "ConcurrentPerOrgLongTxn Limit exceeded.".into(),
                },
                2 => {
                    SalesforceError::AuthFailed("INVALID_SESSION_ID after re-authentication".into())
                }
                _ => SalesforceError::Unavailable("503 SERVER_UNAVAILABLE".into()),
            })
        } else if s.rng.random_bool(rates.fail / 3.0) {
            SalesforceFault::LostAnswer
        } else if s.rng.random_bool(rates.lock_rows) {
            SalesforceFault::LockRows
        } else if s.rng.random_bool(rates.delay) {
            // Up to a call that hangs past the worker's deadline.
            SalesforceFault::Delay(Duration::from_millis(s.rng.random_range(200..70_000)))
        } else {
            SalesforceFault::Pass
        };
        if !matches!(fault, SalesforceFault::Pass) {
            s.faults += 1;
        }
        fault
    }
}
