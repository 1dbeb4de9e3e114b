//! A local HTTP simulator of the Zuora REST API endpoints zuora-sync calls.
//!
//! Start it in-process with [`spawn`] (tests) or as the `zuora-sim` binary (scripts). The JSON
//! it returns is documented, with sources, in `SHAPES.md`; the canonical fixture format in
//! the crate `README.md`.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let sim = zuora_sim::spawn(zuora_sim::SimConfig::demo(), "127.0.0.1:0".parse().unwrap()).await?;
//! println!("Zuora at {}", sim.base_url);
//! sim.add_fault(zuora_sim::Fault::new("v1_account", zuora_sim::FaultKind::Status { status: 500 }).times(1));
//! # Ok(()) }
//! ```

mod aqua;
mod control;
mod describe;
mod errors;
mod export;
mod faults;
mod generate;
mod query;
mod render;
mod server;
mod state;
mod store;
mod time;
mod zoql;

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use faults::{Fault, FaultKind};
pub use state::Stats;

use state::SimState;
use store::Store;

/// The stable route names used by [`Stats::requests`] and [`Fault::route`].
pub const ROUTE_NAMES: [&str; 15] = [
    "oauth_token",
    "object_query_account",
    "object_query_accounts",
    "object_query_list",
    "v1_account",
    "v1_account_subscriptions",
    "v1_subscription",
    "v1_payment_methods",
    "action_query",
    "action_query_more",
    "catalog_products",
    "aqua_submit",
    "aqua_job",
    "aqua_file",
    "v1_describe",
];

/// The demo data set (see `fixtures/demo.json`).
pub const DEMO_FIXTURES: &str = include_str!("../fixtures/demo.json");

/// How v1 endpoints answer "not found": Zuora sends HTTP 404 on newer API versions and HTTP 200
/// with `"success": false` on older ones. The body is the same.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NotFoundStyle {
    #[default]
    Http404,
    Http200SuccessFalse,
}

impl FromStr for NotFoundStyle {
    type Err = String;

    /// Accepts `404` or `200`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "404" => Ok(Self::Http404),
            "200" => Ok(Self::Http200SuccessFalse),
            other => Err(format!("not-found style must be 404 or 200, not {other:?}")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    /// `{"accounts": [...], "products": [...]}` in the canonical form of the crate `README.md`.
    pub fixtures: Value,
    /// Zuora requests allowed in flight at once (Zuora's default tenant limit is 40).
    pub concurrency_limit: usize,
    pub not_found_style: NotFoundStyle,
    /// Added to every Zuora call while it holds its concurrency slot.
    pub latency: Duration,
    pub client_id: String,
    pub client_secret: String,
    /// `expires_in` of issued tokens; Zuora's is 3599.
    pub token_ttl_secs: u64,
    /// Polls an AQuA job answers in each of `submitted` and `executing` before it moves on
    /// (at least 1): with 1, it is `executing` on the first poll and done on the second.
    pub aqua_polls_per_step: u32,
}

impl SimConfig {
    /// The embedded demo data, client `sim-client` / `sim-secret`.
    pub fn demo() -> Self {
        let fixtures = serde_json::from_str(DEMO_FIXTURES).unwrap_or_default();
        Self::with_fixtures(fixtures)
    }

    /// Default settings with other data.
    pub fn with_fixtures(fixtures: Value) -> Self {
        Self {
            fixtures,
            concurrency_limit: 40,
            not_found_style: NotFoundStyle::default(),
            latency: Duration::ZERO,
            client_id: "sim-client".into(),
            client_secret: "sim-secret".into(),
            token_ttl_secs: 3599,
            aqua_polls_per_step: 1,
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self::demo()
    }
}

/// Generated catalog product number `index` (what [`SimHandle::generate_products`] inserts), to
/// edit and upsert in tests: id 32 hex (deterministic), SKU `SIM-SKU-{index:06}`, name
/// `Generated Product {index:06}`, one Active monthly rate plan with one flat-fee recurring
/// charge priced `10 + index % 90` in USD and EUR.
pub fn generated_product(index: usize) -> Value {
    generate::product(index)
}

/// A running simulator. Dropping it stops the server.
pub struct SimHandle {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub base_url: String,
    pub addr: SocketAddr,
    state: Arc<SimState>,
    server: JoinHandle<()>,
}

/// Starts a simulator on `addr` (port 0 picks a free port). Fails if the fixtures are invalid
/// (`InvalidData`) or the address cannot be bound.
pub async fn spawn(config: SimConfig, addr: SocketAddr) -> std::io::Result<SimHandle> {
    let store = Store::from_fixtures(&config.fixtures)
        .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err))?;
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let host = if addr.ip().is_unspecified() {
        std::net::Ipv4Addr::LOCALHOST.into()
    } else {
        addr.ip()
    };
    let base_url = format!("http://{}", SocketAddr::new(host, addr.port()));
    let state = Arc::new(SimState::new(config, store, base_url.clone()));
    let app = server::router(Arc::clone(&state));
    let server = tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(%err, "zuora-sim server stopped");
        }
    });
    Ok(SimHandle {
        base_url,
        addr,
        state,
        server,
    })
}

/// Threads of a simulator started with [`spawn_isolated`] are named this.
pub const ISOLATED_THREAD_NAME: &str = "zuora-sim";

/// [`spawn`] on a runtime of its own, on `threads` threads named [`ISOLATED_THREAD_NAME`], so
/// a benchmark can tell the simulator's CPU from its host process's (per thread, in
/// `/proc/self/task`). The runtime lives as long as the process: for benchmarks.
pub fn spawn_isolated(
    config: SimConfig,
    addr: SocketAddr,
    threads: usize,
) -> std::io::Result<SimHandle> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name(ISOLATED_THREAD_NAME)
        .enable_all()
        .build()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(ISOLATED_THREAD_NAME.into())
        .spawn(move || {
            let _ = tx.send(runtime.block_on(spawn(config, addr)));
            // Keeps the runtime (and the server on it) running.
            runtime.block_on(std::future::pending::<()>());
        })?;
    rx.recv()
        .map_err(|_| std::io::Error::other("the simulator's runtime thread died"))?
}

impl SimHandle {
    /// Latency added to every Zuora call (not `/__sim`).
    pub fn set_latency(&self, latency: Duration) {
        self.state.set_latency(latency);
    }

    /// The largest object-query `pageSize` accepted; above it, a 400 naming `pageSize` (as
    /// tenants that hold to the 50 of Zuora's SDK answer).
    pub fn set_object_query_max_page(&self, max: usize) {
        self.state.set_object_query_max_page(max);
    }

    /// Polls an AQuA job answers in each of `submitted` and `executing` (at least 1).
    pub fn set_aqua_polls_per_step(&self, polls: u32) {
        self.state.set_aqua_polls_per_step(polls);
    }

    pub fn set_concurrency_limit(&self, limit: usize) {
        self.state.set_concurrency_limit(limit);
    }

    pub fn set_not_found_style(&self, style: NotFoundStyle) {
        self.state.set_not_found_style(style);
    }

    /// Adds a fault; faults apply in the order they were added.
    pub fn add_fault(&self, fault: Fault) {
        self.state.add_fault(fault);
    }

    pub fn clear_faults(&self) {
        self.state.clear_faults();
    }

    pub fn stats(&self) -> Stats {
        self.state.stats()
    }

    pub fn reset_stats(&self) {
        self.state.reset_stats();
    }

    /// A valid bearer token, minted without an HTTP call (not counted in stats).
    pub fn token(&self) -> String {
        self.state.issue_token()
    }

    /// Invalidates every token issued so far, as if they had expired.
    pub fn expire_tokens(&self) {
        self.state.expire_tokens();
    }

    /// Inserts or replaces (by `id`) an account in canonical form.
    pub fn upsert_account(&self, account: Value) -> Result<(), String> {
        self.state.store_mut().upsert_account(account)
    }

    /// The canonical document of an account, by id or number.
    pub fn account(&self, key: &str) -> Option<Value> {
        self.state.store().account(key).cloned()
    }

    /// Sets a top-level account field (custom fields too) and bumps `updatedDate`.
    /// Returns false when the account does not exist.
    pub fn set_field(&self, account_key: &str, field: &str, value: Value) -> bool {
        self.state.store_mut().set_field(account_key, field, value)
    }

    /// Sets the status of a subscription's latest version and bumps its `updatedDate`.
    pub fn set_subscription_status(&self, number: &str, status: &str) -> bool {
        self.state
            .store_mut()
            .set_subscription_status(number, status)
    }

    /// Deletes a subscription (all versions): Zuora stops returning it.
    pub fn remove_subscription(&self, number: &str) -> bool {
        self.state.store_mut().remove_subscription(number)
    }

    /// Upserts `count` valid generated accounts and returns their ids (32 hex), in order.
    /// Account `i` (1-based) has number `{prefix}{i:08}`, name `Generated Customer {number}`,
    /// `LimioExternalId__c` `limio-{number}`, status Active, currency USD, one contact as bill-to
    /// and sold-to, one Visa card set as default, `updatedDate` 2025-01-01T00:00:00Z plus `i`
    /// minutes, and one Active subscription `{prefix}-S{i:08}` with one rate plan and one charge
    /// (`{prefix}-C{i:08}`) from the first catalog product that has an Active rate plan with a
    /// USD price (generated product 1 is added to the catalog when there is none). The same
    /// arguments give the same documents, so generating again replaces them. Fails, changing
    /// nothing, when a generated account or subscription number belongs to another account.
    pub fn generate_accounts(&self, count: usize, prefix: &str) -> Result<Vec<String>, String> {
        self.state.store_mut().generate_accounts(count, prefix)
    }

    /// The catalog, in the order `GET /v1/catalog/products` pages through it.
    pub fn products(&self) -> Vec<Value> {
        self.state.store().products().to_vec()
    }

    /// One catalog product by id.
    pub fn product(&self, id: &str) -> Option<Value> {
        self.state.store().product(id).cloned()
    }

    /// Inserts a product (v1 catalog shape, string `id` required) at the end of the catalog, or
    /// replaces the product with the same `id` in place.
    pub fn upsert_product(&self, product: Value) -> Result<(), String> {
        self.state.store_mut().upsert_product(product)
    }

    /// Deletes a product from the catalog; false when no product has that id.
    pub fn remove_product(&self, id: &str) -> bool {
        self.state.store_mut().remove_product(id)
    }

    /// Upserts the generated products `1..=count` ([`generated_product`]) and returns their ids.
    pub fn generate_products(&self, count: usize) -> Vec<String> {
        self.state.store_mut().generate_products(count)
    }

    /// Stops accepting connections. Equivalent to dropping the handle.
    pub fn shutdown(self) {}
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.server.abort();
    }
}
