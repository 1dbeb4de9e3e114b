//! The core's tests on the in-memory adapters (docs/ARCHITECTURE.md, "Testing"): the services
//! are built as `app.rs` builds them, from `adapters::memory`, and run on tokio's paused time
//! with a `TokioClock`, so lock waits and leases take no real time.

mod support;

mod bulk;
mod console;
mod deadline;
mod full_sync;
mod locks;
mod lookup;
mod mirror;
mod notify;
mod push;
mod queued;
mod reconcile;
mod sessions;
mod settings;
mod sim;
mod snapshot_order;
mod worker;
