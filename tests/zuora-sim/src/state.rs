//! Shared mutable state of one simulator instance.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::aqua::Aqua;
use crate::faults::{Fault, FaultKind, take_fault};
use crate::store::Store;
use crate::{NotFoundStyle, SimConfig};

/// Requests per minute the simulated tenant allows (production API tier) — only reported in
/// `RateLimit-*` headers; 429s come from faults.
pub const RATE_LIMIT_PER_MINUTE: u64 = 50_000;

/// Counters exposed by [`crate::SimHandle::stats`] and `GET /__sim/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Requests received per route name (including rejected ones).
    pub requests: BTreeMap<String, u64>,
    /// HTTP 429 responses sent (rate and concurrency limits, real or injected).
    pub responses_429: u64,
    /// The highest number of Zuora requests in flight at once since the last reset.
    pub max_in_flight: usize,
    /// Zuora requests in flight right now.
    pub in_flight: usize,
}

impl Stats {
    /// Requests received on one route.
    pub fn requests(&self, route: &str) -> u64 {
        self.requests.get(route).copied().unwrap_or(0)
    }
}

/// The remaining records of a ZOQL query, fetched with `queryMore`.
pub struct PendingQuery {
    pub records: Vec<Value>,
    pub batch_size: usize,
}

pub struct SimState {
    /// `http://host:port` the simulator listens on (used when a request has no `Host`).
    pub base_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub token_ttl: Duration,
    store: RwLock<Store>,
    not_found_style: Mutex<NotFoundStyle>,
    concurrency_limit: AtomicUsize,
    /// The largest object-query `pageSize` accepted (99 in Zuora's reference; its SDK says 50).
    object_query_max_page: AtomicUsize,
    latency: Mutex<Duration>,
    tokens: Mutex<HashMap<String, Instant>>,
    faults: Mutex<Vec<Fault>>,
    counters: Mutex<Stats>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    rate_window: Mutex<(Instant, u64)>,
    pending_queries: Mutex<HashMap<String, PendingQuery>>,
    aqua: Mutex<Aqua>,
    /// Polls an AQuA job answers in each of `submitted` and `executing` before moving on.
    aqua_polls_per_step: AtomicU32,
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it (a test panicking
/// must not take the simulator down for the other tests).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SimState {
    pub fn new(config: SimConfig, store: Store, base_url: String) -> Self {
        Self {
            base_url,
            client_id: config.client_id,
            client_secret: config.client_secret,
            token_ttl: Duration::from_secs(config.token_ttl_secs),
            store: RwLock::new(store),
            not_found_style: Mutex::new(config.not_found_style),
            concurrency_limit: AtomicUsize::new(config.concurrency_limit),
            object_query_max_page: AtomicUsize::new(99),
            latency: Mutex::new(config.latency),
            tokens: Mutex::new(HashMap::new()),
            faults: Mutex::new(Vec::new()),
            counters: Mutex::new(Stats::default()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            rate_window: Mutex::new((Instant::now(), 0)),
            pending_queries: Mutex::new(HashMap::new()),
            aqua: Mutex::new(Aqua::default()),
            aqua_polls_per_step: AtomicU32::new(config.aqua_polls_per_step.max(1)),
        }
    }

    pub fn store(&self) -> RwLockReadGuard<'_, Store> {
        self.store
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn store_mut(&self) -> RwLockWriteGuard<'_, Store> {
        self.store
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn not_found_style(&self) -> NotFoundStyle {
        *lock(&self.not_found_style)
    }

    pub fn set_not_found_style(&self, style: NotFoundStyle) {
        *lock(&self.not_found_style) = style;
    }

    pub fn concurrency_limit(&self) -> usize {
        self.concurrency_limit.load(Ordering::SeqCst)
    }

    pub fn object_query_max_page(&self) -> usize {
        self.object_query_max_page.load(Ordering::SeqCst)
    }

    pub fn set_object_query_max_page(&self, max: usize) {
        self.object_query_max_page.store(max, Ordering::SeqCst);
    }

    pub fn set_concurrency_limit(&self, limit: usize) {
        self.concurrency_limit.store(limit, Ordering::SeqCst);
    }

    pub fn latency(&self) -> Duration {
        *lock(&self.latency)
    }

    pub fn set_latency(&self, latency: Duration) {
        *lock(&self.latency) = latency;
    }

    // --- tokens ---------------------------------------------------------------------------

    /// Mints a random bearer token valid for the configured lifetime.
    pub fn issue_token(&self) -> String {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let expiry = Instant::now() + self.token_ttl;
        lock(&self.tokens).insert(token.clone(), expiry);
        token
    }

    pub fn token_is_valid(&self, token: &str) -> bool {
        lock(&self.tokens)
            .get(token)
            .is_some_and(|expiry| Instant::now() < *expiry)
    }

    /// Invalidates every token issued so far (clients must fetch a new one).
    pub fn expire_tokens(&self) {
        lock(&self.tokens).clear();
    }

    // --- faults ---------------------------------------------------------------------------

    pub fn add_fault(&self, fault: Fault) {
        lock(&self.faults).push(fault);
    }

    pub fn clear_faults(&self) {
        lock(&self.faults).clear();
    }

    /// The first fault matching `route` and the decoded request `path`, using it up once.
    pub fn take_fault(&self, route: &str, path: &str) -> Option<FaultKind> {
        take_fault(&mut lock(&self.faults), route, path)
    }

    // --- stats ----------------------------------------------------------------------------

    pub fn count_request(&self, route: &str) {
        *lock(&self.counters)
            .requests
            .entry(route.to_string())
            .or_default() += 1;
        let mut window = lock(&self.rate_window);
        if window.0.elapsed() >= Duration::from_secs(60) {
            *window = (Instant::now(), 0);
        }
        window.1 += 1;
    }

    pub fn count_429(&self) {
        lock(&self.counters).responses_429 += 1;
    }

    pub fn stats(&self) -> Stats {
        let mut stats = lock(&self.counters).clone();
        stats.max_in_flight = self.max_in_flight.load(Ordering::SeqCst);
        stats.in_flight = self.in_flight.load(Ordering::SeqCst);
        stats
    }

    pub fn reset_stats(&self) {
        *lock(&self.counters) = Stats::default();
        self.max_in_flight
            .store(self.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// `(remaining, seconds until reset)` of the current one-minute rate window.
    pub fn rate_window(&self) -> (u64, u64) {
        let window = lock(&self.rate_window);
        let remaining = RATE_LIMIT_PER_MINUTE.saturating_sub(window.1);
        let reset = 60u64.saturating_sub(window.0.elapsed().as_secs()).max(1);
        (remaining, reset)
    }

    // --- concurrency ----------------------------------------------------------------------

    /// Takes a concurrency slot, or `None` when the limit is reached. The slot is released
    /// when the guard is dropped, also when the client goes away mid-request.
    pub fn acquire_slot(self: &Arc<Self>) -> Option<SlotGuard> {
        let limit = self.concurrency_limit();
        let mut current = self.in_flight.load(Ordering::SeqCst);
        loop {
            if current >= limit {
                return None;
            }
            match self.in_flight.compare_exchange(
                current,
                current + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        self.max_in_flight.fetch_max(current + 1, Ordering::SeqCst);
        Some(SlotGuard(Arc::clone(self)))
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    // --- ZOQL cursors ---------------------------------------------------------------------

    /// Stores the rest of a query result and returns its `queryLocator`.
    pub fn park_query(&self, pending: PendingQuery, offset: usize) -> String {
        let locator = format!("{}-{offset}", uuid::Uuid::new_v4().simple());
        lock(&self.pending_queries).insert(locator.clone(), pending);
        locator
    }

    pub fn take_query(&self, locator: &str) -> Option<PendingQuery> {
        lock(&self.pending_queries).remove(locator)
    }

    // --- AQuA -----------------------------------------------------------------------------

    pub fn aqua(&self) -> MutexGuard<'_, Aqua> {
        lock(&self.aqua)
    }

    pub fn aqua_polls_per_step(&self) -> u32 {
        self.aqua_polls_per_step.load(Ordering::SeqCst)
    }

    /// At least 1: a job is never done before it has been polled.
    pub fn set_aqua_polls_per_step(&self, polls: u32) {
        self.aqua_polls_per_step
            .store(polls.max(1), Ordering::SeqCst);
    }
}

pub struct SlotGuard(Arc<SimState>);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}
