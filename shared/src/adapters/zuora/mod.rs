//! The Zuora port over reqwest: OAuth, retries with backoff, the endpoints and their wire types.

mod client;
mod error_body;
mod wire;

pub use client::{ClientStats, RetryPolicy, ZuoraClient, ZuoraConfig};
