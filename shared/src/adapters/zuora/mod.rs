//! The Zuora port over reqwest: OAuth, retries with backoff, the endpoints and their wire types.

mod aqua;
mod bulk;
mod client;
mod describe;
mod endpoints;
mod error_body;
mod retry;
mod wire;

pub use client::{ClientStats, ZuoraClient, ZuoraConfig, http_client};
pub use retry::RetryPolicy;
