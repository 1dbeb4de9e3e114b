//! zuora-sync: mirrors Zuora billing accounts into DynamoDB.
//!
//! Layers point one way (docs/ARCHITECTURE.md): [`model`] (pure data) ← [`ports`] (traits) ←
//! [`core`] (services) ← [`handlers`] (one per trigger). [`adapters`] implement the ports;
//! [`auth`] verifies callers; only [`config`] and [`app`] (the composition root) know adapters.

pub mod adapters;
pub mod app;
pub mod auth;
pub mod config;
pub mod core;
pub mod handlers;
pub mod model;
pub mod ports;
pub mod telemetry;
