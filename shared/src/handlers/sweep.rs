//! The EventBridge schedule (every minute) → one sweep per configured entity.

use crate::core::realtime::Realtime;
use crate::model::{EntityId, EpochMillis};

/// Sweeps every entity; answers one line per entity for the invocation's log.
pub async fn sweep_event(
    realtime: &Realtime,
    entities: &[EntityId],
    event: &serde_json::Value,
    deadline: EpochMillis,
) -> serde_json::Value {
    let correlation = event
        .get("id")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("sweep")
        .to_string();
    let mut report = Vec::new();
    for entity in entities {
        let outcome = match realtime.sweep(entity, &correlation, deadline).await {
            Ok(Some(session)) => {
                serde_json::json!({"entity": entity, "session": session.id, "accounts": session.total})
            }
            Ok(None) => serde_json::json!({"entity": entity, "session": null}),
            Err(e) => {
                tracing::error!(entity = %entity, error = %e, "sweep failed for this entity");
                serde_json::json!({"entity": entity, "error": e.to_string()})
            }
        };
        report.push(outcome);
    }
    serde_json::json!({ "entities": report })
}
