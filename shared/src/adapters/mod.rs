//! Implementations of the ports: DynamoDB, SQS, Zuora over reqwest, SES and webhooks, the
//! system clock, and (feature `testing`) memory.

pub mod clock;
pub mod dynamo;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
pub mod notify;
pub mod outbound;
pub mod salesforce;
pub mod sqs;
pub mod tls;
pub mod zuora;
