//! The simulator driven over real HTTP, as a Salesforce sink drives Salesforce.

mod common;
mod control;
mod delete;
mod faults;
mod limits;
mod oauth;
mod query;
mod upsert;
