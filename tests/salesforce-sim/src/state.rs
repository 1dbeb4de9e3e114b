//! Shared mutable state of one simulator instance: the store, tokens, faults, API usage,
//! in-flight requests and counters.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use jsonwebtoken::DecodingKey;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::SimConfig;
use crate::faults::{Fault, FaultKind, RecordTarget, take_record_fault, take_request_fault};
use crate::ids;
use crate::schema;
use crate::store::Store;

/// Counters exposed by [`crate::SimHandle::stats`] and `GET /__sim__/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Requests received per route name (`oauth_token`, `upsert`, `delete`, `query`,
    /// `limits`), rejected ones included.
    pub calls: BTreeMap<String, u64>,
    /// API requests counted toward the daily allocation (what `Sforce-Limit-Info` reports).
    pub api_usage: u64,
    pub daily_api_limit: u64,
    /// The number of records of each upsert that was accepted (answered 200), in order.
    pub records_per_call: Vec<usize>,
    /// The most data requests in flight (admitted and not yet answered) at once since the
    /// last reset.
    pub max_concurrent: usize,
    /// Data requests in flight now (admitted past auth, faults and limits, not yet answered).
    pub in_flight: usize,
    /// Long requests (latency ≥ the threshold) in flight now.
    pub long_in_flight: usize,
    /// Access tokens issued by `/services/oauth2/token`.
    pub tokens_issued: u64,
}

impl Stats {
    /// Requests received on one route.
    pub fn calls(&self, route: &str) -> u64 {
        self.calls.get(route).copied().unwrap_or(0)
    }
}

#[derive(Default)]
struct Counters {
    calls: BTreeMap<String, u64>,
    records_per_call: Vec<usize>,
    tokens_issued: u64,
}

pub struct SimState {
    /// `http://host:port` the simulator listens on.
    pub base_url: String,
    pub config: SimConfig,
    pub jwt_key: Option<DecodingKey>,
    /// The simulated org's and integration user's ids (for the token's `id` URL).
    pub org_id: String,
    pub user_id: String,
    store: Mutex<Store>,
    tokens: Mutex<HashSet<String>>,
    faults: Mutex<Vec<Fault>>,
    counters: Mutex<Counters>,
    api_usage: AtomicU64,
    daily_limit: AtomicU64,
    latency: Mutex<Duration>,
    in_flight: watch::Sender<usize>,
    max_concurrent: AtomicUsize,
    long_in_flight: AtomicUsize,
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it (a test panicking must
/// not take the simulator down for the other tests).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SimState {
    /// Fails when the object model or the JWT public key is invalid.
    pub fn new(config: SimConfig, base_url: String) -> Result<Self, String> {
        schema::validate(&config.objects)?;
        let jwt_key = match &config.jwt_public_key_pem {
            Some(pem) => Some(
                DecodingKey::from_rsa_pem(pem.as_bytes())
                    .map_err(|err| format!("jwt_public_key_pem: {err}"))?,
            ),
            None => None,
        };
        let store = Store::new(config.objects.clone(), config.accounts.clone());
        Ok(Self {
            base_url,
            jwt_key,
            org_id: ids::mint("00D", 1),
            user_id: ids::mint("005", 1),
            store: Mutex::new(store),
            tokens: Mutex::new(HashSet::new()),
            faults: Mutex::new(Vec::new()),
            counters: Mutex::new(Counters::default()),
            api_usage: AtomicU64::new(0),
            daily_limit: AtomicU64::new(config.daily_api_limit),
            latency: Mutex::new(config.latency),
            in_flight: watch::Sender::new(0),
            max_concurrent: AtomicUsize::new(0),
            long_in_flight: AtomicUsize::new(0),
            config,
        })
    }

    pub fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    pub fn latency(&self) -> Duration {
        *lock(&self.latency)
    }

    pub fn set_latency(&self, latency: Duration) {
        *lock(&self.latency) = latency;
    }

    // --- tokens ---------------------------------------------------------------------------

    /// A random opaque access token, shaped like Salesforce's (`<org id>!<random>`).
    pub fn issue_token(&self) -> String {
        let random = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let token = format!("{}!{random}", &self.org_id[..15]);
        lock(&self.tokens).insert(token.clone());
        token
    }

    pub fn count_token_issued(&self) {
        lock(&self.counters).tokens_issued += 1;
    }

    pub fn token_is_valid(&self, token: &str) -> bool {
        lock(&self.tokens).contains(token)
    }

    /// Invalidates every token issued so far.
    pub fn expire_sessions(&self) {
        lock(&self.tokens).clear();
    }

    // --- faults ---------------------------------------------------------------------------

    pub fn add_fault(&self, fault: Fault) {
        lock(&self.faults).push(fault);
    }

    pub fn clear_faults(&self) {
        lock(&self.faults).clear();
    }

    pub fn faults(&self) -> Vec<Fault> {
        lock(&self.faults).clone()
    }

    pub fn take_request_fault(&self, route: &str, target: &str) -> Option<FaultKind> {
        take_request_fault(&mut lock(&self.faults), route, target)
    }

    pub fn take_record_fault(
        &self,
        record: &RecordTarget,
        target: &str,
    ) -> Option<(String, Option<String>)> {
        take_record_fault(&mut lock(&self.faults), record, target)
    }

    // --- API usage ------------------------------------------------------------------------

    pub fn api_usage(&self) -> u64 {
        self.api_usage.load(Ordering::SeqCst)
    }

    pub fn set_api_usage(&self, used: u64) {
        self.api_usage.store(used, Ordering::SeqCst);
    }

    pub fn daily_limit(&self) -> u64 {
        self.daily_limit.load(Ordering::SeqCst)
    }

    pub fn set_daily_limit(&self, limit: u64) {
        self.daily_limit.store(limit, Ordering::SeqCst);
    }

    /// Counts one API call unless the daily allocation is used up (atomically, so concurrent
    /// calls cannot overshoot the limit).
    pub fn try_count_api_call(&self) -> bool {
        let limit = self.daily_limit();
        self.api_usage
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                (used < limit).then_some(used + 1)
            })
            .is_ok()
    }

    // --- counters -------------------------------------------------------------------------

    pub fn count_call(&self, route: &str) {
        *lock(&self.counters)
            .calls
            .entry(route.to_string())
            .or_default() += 1;
    }

    pub fn count_upsert_records(&self, records: usize) {
        lock(&self.counters).records_per_call.push(records);
    }

    pub fn stats(&self) -> Stats {
        let counters = lock(&self.counters);
        Stats {
            calls: counters.calls.clone(),
            api_usage: self.api_usage(),
            daily_api_limit: self.daily_limit(),
            records_per_call: counters.records_per_call.clone(),
            max_concurrent: self.max_concurrent.load(Ordering::SeqCst),
            in_flight: *self.in_flight.borrow(),
            long_in_flight: self.long_in_flight.load(Ordering::SeqCst),
            tokens_issued: counters.tokens_issued,
        }
    }

    /// Clears counters, faults and data and puts usage, limit, latency and denied Accounts back
    /// to the configuration. Issued tokens stay valid.
    pub fn reset(&self) {
        *lock(&self.counters) = Counters::default();
        self.max_concurrent
            .store(*self.in_flight.borrow(), Ordering::SeqCst);
        self.clear_faults();
        self.store().clear(self.config.accounts.clone());
        self.set_api_usage(0);
        self.set_daily_limit(self.config.daily_api_limit);
        self.set_latency(self.config.latency);
    }

    // --- concurrency ----------------------------------------------------------------------

    /// Marks an admitted data request in flight until the guard is dropped (also when the client
    /// goes away mid-request).
    pub fn enter_flight(&self) -> FlightGuard<'_> {
        let mut now = 0;
        self.in_flight.send_modify(|count| {
            *count += 1;
            now = *count;
        });
        self.max_concurrent.fetch_max(now, Ordering::SeqCst);
        FlightGuard(self)
    }

    /// Waits until at least `count` data requests are in flight.
    pub async fn wait_in_flight(&self, count: usize) {
        let mut receiver = self.in_flight.subscribe();
        // The sender lives as long as `self`, so this cannot fail while we borrow it.
        let _ = receiver.wait_for(|now| *now >= count).await;
    }

    /// Admits a request under the concurrent long-request limit: refused (`Err`) while the
    /// limit's worth of long requests run; a long request takes a slot until the guard drops.
    pub fn admit_long(&self, is_long: bool) -> Result<Option<LongGuard<'_>>, ()> {
        let limit = self.config.concurrent_long_limit;
        if !is_long {
            let running = self.long_in_flight.load(Ordering::SeqCst);
            return if running >= limit { Err(()) } else { Ok(None) };
        }
        self.long_in_flight
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |running| {
                (running < limit).then_some(running + 1)
            })
            .map_err(|_| ())?;
        Ok(Some(LongGuard(self)))
    }
}

pub struct FlightGuard<'a>(&'a SimState);

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        self.0.in_flight.send_modify(|count| *count -= 1);
    }
}

pub struct LongGuard<'a>(&'a SimState);

impl Drop for LongGuard<'_> {
    fn drop(&mut self) {
        self.0.long_in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}
