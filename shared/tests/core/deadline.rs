//! H7: every entry point answers, with its event recorded, inside its invocation's deadline,
//! however long Zuora takes (docs/ARCHITECTURE.md, "Deadlines").

use crate::support::*;
use std::time::Duration;
use zuora_sync::core::deadline::STORE_RESERVE;
use zuora_sync::model::{EventStatus, SubscriptionKey, Trigger};
use zuora_sync::ports::EventStore;

/// The public route's invocation (API Gateway gives up at 30 s).
const API_TIMEOUT_MS: i64 = 29_000;

/// Measured before the fix: a hanging Zuora made the public route answer after 40.4 s, so in
/// AWS the caller got API Gateway's 503 and no event was recorded.
#[tokio::test(start_paused = true)]
async fn a_hanging_zuora_fails_the_public_route_in_time_with_its_event() {
    let env = Env::new();
    env.zuora.put_account(account(1));
    env.zuora.set_delay(Duration::from_secs(600));
    let started = tokio::time::Instant::now();
    let mut req = env.req(Trigger::Api);
    req.deadline = env.now().plus_ms(API_TIMEOUT_MS);
    let key = SubscriptionKey::parse(&subscription_number(1)).unwrap();
    let failure = env
        .sync
        .sync_subscription(&req, &key)
        .await
        .expect_err("Zuora never answers");
    let took = started.elapsed();
    assert_eq!(failure.error.code(), "zuora_timeout");
    assert!(
        took <= Duration::from_millis(API_TIMEOUT_MS as u64) - STORE_RESERVE,
        "answered after {took:?}"
    );
    let event = env
        .store
        .get_event(&env.entity, &failure.event_id)
        .await
        .unwrap()
        .expect("the failure's event");
    assert_eq!(event.status, EventStatus::Failed);
    assert_eq!(event.code.as_deref(), Some("zuora_timeout"));
}
