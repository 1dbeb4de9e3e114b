//! The local stack: provisioning of the same tables and queues as `template.yaml`, local
//! stand-ins for API Gateway and the SQS event source, dev tokens, and the `spawn_app` test
//! helper used by the integration tests and the benchmark.

pub mod app;
pub mod aws_ops;
pub mod cli;
pub mod counter;
pub mod dev_idp;
pub mod fault_proxy;
pub mod idp;
pub mod local;
pub mod permissions;
pub mod salesforce;
pub mod schema;
pub mod token;
