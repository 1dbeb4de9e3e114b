//! zuora-sync: mirrors Zuora billing accounts into DynamoDB.
//!
//! Everything the Lambda binaries do lives here, reachable without the Lambda runtime: the
//! domain ([`domain`]), the Zuora port and client ([`zuora`]), the DynamoDB store ([`store`]),
//! the queue ([`queue`]), the sync itself ([`sync`]) and the two handlers ([`api`],
//! [`worker`]).

pub mod api;
pub mod app;
pub mod auth;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod domain;
pub mod events;
pub mod login;
pub mod mirror;
pub mod notify;
pub mod queue;
pub mod realtime;
pub mod settings;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod worker;
pub mod zuora;
