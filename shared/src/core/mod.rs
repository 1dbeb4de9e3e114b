//! The services: what the product does, on the ports only. Each trigger's handler calls one
//! entry point here; nothing here knows DynamoDB, SQS, SES or reqwest.

pub mod deadline;
pub mod login;
pub mod notify;
pub mod push;
pub mod realtime;
pub mod settings;
pub mod stats;
pub mod sync;
pub mod tenants;

/// The errors the core's entry points pass up from the ports, for handlers to answer.
pub use crate::ports::{StoreError, ZuoraError};
