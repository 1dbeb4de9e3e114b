//! The stack's integration tests: one binary (one link) with a module per area, each run
//! against DynamoDB Local, moto and the Zuora simulator that `scripts/test.sh` starts.

mod auth;
mod bulk_export;
mod console;
mod entities;
mod event_search;
mod faults;
mod functions;
mod http;
mod large;
mod locks;
mod login;
mod manual;
mod notify;
mod on_demand;
mod realtime;
mod salesforce;
mod session_counts;
mod settings;
mod sync_api;
mod template;
mod worker;
mod zuora_client;
