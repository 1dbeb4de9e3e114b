//! A local HTTP simulator of the Salesforce REST API endpoints a Zuora-360-compatible sync
//! sink calls: OAuth (client credentials, JWT bearer), sObject Collections upsert by External
//! ID and delete, a SOQL subset, `/limits`, with Salesforce's paths, bodies, error shapes and
//! limits. What it answers, and what it does not model, is in the crate `README.md`.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use salesforce_sim::{Fault, FaultKind, SimConfig};
//! let sim = salesforce_sim::spawn(SimConfig::zuora360(), "127.0.0.1:0".parse().unwrap()).await?;
//! println!("Salesforce at {}", sim.base_url);
//! sim.add_fault(Fault::new("upsert", FaultKind::Status { status: 503 }).times(1));
//! # Ok(()) }
//! ```

mod control;
mod delete;
mod errors;
mod faults;
mod ids;
mod oauth;
mod schema;
mod server;
mod soql;
mod state;
mod store;
mod upsert;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use faults::{Fault, FaultKind};
pub use schema::{AccountIds, ObjectSpec, Relationship, zuora360_objects};
pub use state::Stats;
pub use store::SfRecord;

use state::SimState;

/// The stable route names used by [`Stats::calls`] and [`Fault::route`].
pub const ROUTE_NAMES: [&str; 5] = ["oauth_token", "upsert", "delete", "query", "limits"];

#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The connected app's consumer key (also the JWT `iss`).
    pub client_id: String,
    pub client_secret: String,
    /// The integration user (the JWT `sub`).
    pub username: String,
    /// PEM public key (`BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`) that verifies RS256
    /// JWT-bearer assertions; without it every assertion is an `invalid_grant`.
    pub jwt_public_key_pem: Option<String>,
    /// The org's daily API allocation (Salesforce's base is 100,000).
    pub daily_api_limit: u64,
    /// Added to every data call (not `/services/oauth2/token` or `/__sim__`).
    pub latency: Duration,
    /// A request whose latency is at least this long is a long-running request (Salesforce:
    /// 20 s).
    pub long_request_threshold: Duration,
    /// Long-running requests allowed at once (Salesforce: 25 in production, 5 in Developer
    /// Edition).
    pub concurrent_long_limit: usize,
    pub objects: Vec<ObjectSpec>,
    pub accounts: AccountIds,
}

impl SimConfig {
    /// The Zuora 360 objects, client `zuora-sync-local` / `salesforce-secret-for-tests`, user
    /// `integration@zuora-sync.local`, Salesforce's default limits, no latency, no JWT key.
    pub fn zuora360() -> Self {
        Self {
            client_id: "zuora-sync-local".into(),
            client_secret: "salesforce-secret-for-tests".into(),
            username: "integration@zuora-sync.local".into(),
            jwt_public_key_pem: None,
            daily_api_limit: 100_000,
            latency: Duration::ZERO,
            long_request_threshold: Duration::from_secs(20),
            concurrent_long_limit: 25,
            objects: zuora360_objects(),
            accounts: AccountIds::default(),
        }
    }
}

impl SimConfig {
    /// An org without the Zuora 360 package: the same objects and fields as custom ones,
    /// without the package's `Zuora__` namespace (`CustomerAccount__c`, `External_Id__c`, …).
    pub fn unpackaged() -> Self {
        let bare = |name: &str| name.strip_prefix("Zuora__").unwrap_or(name).to_string();
        let mut config = Self::zuora360();
        for object in &mut config.objects {
            object.name = bare(&object.name);
            object.external_ids = object.external_ids.iter().map(|f| bare(f)).collect();
            object.account_lookups = object.account_lookups.iter().map(|f| bare(f)).collect();
            for rel in &mut object.relationships {
                rel.name = bare(&rel.name);
                rel.field = bare(&rel.field);
                rel.target = bare(&rel.target);
            }
        }
        config
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self::zuora360()
    }
}

/// A running simulator. Dropping it stops the server.
pub struct SimHandle {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub base_url: String,
    pub addr: SocketAddr,
    state: Arc<SimState>,
    server: JoinHandle<()>,
}

/// Starts a simulator on `addr` (port 0 picks a free port). Fails with `InvalidData` when the
/// object model or the JWT public key is invalid, or when the address cannot be bound.
pub async fn spawn(config: SimConfig, addr: SocketAddr) -> std::io::Result<SimHandle> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let host = if addr.ip().is_unspecified() {
        std::net::Ipv4Addr::LOCALHOST.into()
    } else {
        addr.ip()
    };
    let base_url = format!("http://{}", SocketAddr::new(host, addr.port()));
    let state = SimState::new(config, base_url.clone())
        .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err))?;
    let state = Arc::new(state);
    let app = server::router(Arc::clone(&state));
    let server = tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(%err, "salesforce-sim server stopped");
        }
    });
    Ok(SimHandle {
        base_url,
        addr,
        state,
        server,
    })
}

impl SimHandle {
    /// Adds a fault; faults apply in the order they were added.
    pub fn add_fault(&self, fault: Fault) {
        self.state.add_fault(fault);
    }

    pub fn clear_faults(&self) {
        self.state.clear_faults();
    }

    /// The records of one object, in creation order (empty for an unknown object).
    pub fn records(&self, object: &str) -> Vec<SfRecord> {
        self.state.store().records(object)
    }

    /// The `object` record whose External ID `field` has `value`, or, when `field` is not an
    /// External ID, the first record whose `field` has that (string or number) value.
    pub fn find(&self, object: &str, field: &str, value: &str) -> Option<SfRecord> {
        let store = self.state.store();
        if let Some(id) = store.lookup(object, field, value) {
            return store.get(id).cloned();
        }
        store
            .records(object)
            .into_iter()
            .find(|record| record.key(field).as_deref() == Some(value))
    }

    /// A record by id (15 or 18 characters).
    pub fn record(&self, id: &str) -> Option<SfRecord> {
        let id = ids::normalize(id)?;
        self.state.store().get(&id).cloned()
    }

    pub fn stats(&self) -> Stats {
        self.state.stats()
    }

    /// API calls used so far today (what `Sforce-Limit-Info` reports).
    pub fn api_usage(&self) -> u64 {
        self.state.api_usage()
    }

    pub fn set_api_usage(&self, used: u64) {
        self.state.set_api_usage(used);
    }

    pub fn set_daily_api_limit(&self, limit: u64) {
        self.state.set_daily_limit(limit);
    }

    /// Latency added to every data call from now on.
    pub fn set_latency(&self, latency: Duration) {
        self.state.set_latency(latency);
    }

    /// From now on the integration user may not see this Account: lookups to it fail with
    /// `INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY`.
    pub fn deny_account(&self, id: &str) {
        self.state.store().accounts.deny(id);
    }

    /// Invalidates every access token issued so far.
    pub fn expire_sessions(&self) {
        self.state.expire_sessions();
    }

    /// A valid access token minted without an HTTP call (not counted in stats).
    pub fn token(&self) -> String {
        self.state.issue_token()
    }

    /// Clears records, faults and counters; API usage, limit, latency and denied Accounts go
    /// back to the configuration. Issued tokens stay valid.
    pub fn reset(&self) {
        self.state.reset();
    }

    /// Resolves once at least `count` admitted data requests are in flight (to line up concurrent
    /// requests in tests without sleeping).
    pub async fn wait_in_flight(&self, count: usize) {
        self.state.wait_in_flight(count).await;
    }

    /// Stops accepting connections. Equivalent to dropping the handle.
    pub fn shutdown(self) {}
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.server.abort();
    }
}
