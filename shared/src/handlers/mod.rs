//! One trigger adapter per way work arrives: the HTTP API, the SQS worker, the post-login
//! function (Cognito trigger and hook route) and the sweep's schedule. Handlers turn events
//! into core calls and answers; they never see an adapter.

pub mod http;
pub mod metrics;
pub mod post_login;
pub mod sqs_worker;
pub mod sweep;
