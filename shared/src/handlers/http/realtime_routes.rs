//! The callout receiver (Zuora data change notifications) and the real-time status.
//!
//! Zuora's HTTP Basic is not preemptive: its first delivery carries no `Authorization` and
//! expects `401` with a `WWW-Authenticate: Basic` challenge before it sends credentials
//! (`zuora-api.md`). A callout is answered `200` once durably counted (duplicates too) and `503`
//! when it could not be recorded, so Zuora retries instead of losing the change.

use super::{Api, Call, error, json_response, percent_decode};
use crate::auth::CalloutAuth;
use crate::model::{AccountKey, CalloutFields, EntityId};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// `401` with, for Basic, the challenge Zuora waits for before it sends credentials.
fn challenge(auth: &CalloutAuth) -> Response<Body> {
    let mut r = error(
        401,
        "unauthorized",
        "callout credentials are missing or wrong",
    );
    if let CalloutAuth::Basic { .. } = auth {
        r.headers_mut().insert(
            "www-authenticate",
            http::HeaderValue::from_static("Basic realm=\"zuora-sync\", charset=\"UTF-8\""),
        );
    }
    r
}

/// Field names the receiver reads, in order of preference (callout templates and merge-field
/// parameters spell them differently).
const ACCOUNT_FIELDS: [&str; 6] = [
    "AccountNumber",
    "AccountId",
    "accountNumber",
    "accountId",
    "Account.Number",
    "Account.Id",
];
const EVENT_ID_FIELDS: [&str; 3] = ["EventId", "eventId", "Event.Id"];
const EVENT_DETAIL_FIELDS: [&str; 6] = [
    "EventType",
    "eventType",
    "EventCategory",
    "EventTime",
    "eventTime",
    "UpdatedDate",
];

fn first_text<'a>(body: &'a Value, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| body.get(*n).and_then(Value::as_str))
        .filter(|v| !v.is_empty())
}

/// The entity's configured name first, then the usual ones.
fn names<'a>(configured: &'a Option<String>, usual: &[&'a str]) -> Vec<&'a str> {
    configured
        .as_deref()
        .into_iter()
        .chain(usual.iter().copied())
        .collect()
}

/// What identifies one change, stable across Zuora's retries (its `Zuora-Request-Id` is new on
/// every retry, so it is never used): the event's own id, else its type and time with the
/// account, else the whole body.
fn dedupe_id(body: &Value, account: &str, fields: &CalloutFields) -> String {
    if let Some(id) = first_text(body, &names(&fields.event_id, &EVENT_ID_FIELDS)) {
        return format!("id:{id}");
    }
    let mut detail_names: Vec<&str> = Vec::new();
    detail_names.extend(fields.event_type.as_deref());
    detail_names.extend(fields.event_time.as_deref());
    detail_names.extend(EVENT_DETAIL_FIELDS);
    let mut details: Vec<&str> = Vec::new();
    for name in detail_names {
        if let Some(v) = body.get(name).and_then(Value::as_str)
            && !details.contains(&v)
        {
            details.push(v);
        }
    }
    if !details.is_empty() {
        return format!("event:{account}|{}", details.join("|"));
    }
    format!(
        "body:{}",
        hex::encode(Sha256::digest(body.to_string().as_bytes()))
    )
}

impl Api {
    pub(super) async fn callout(
        &self,
        req: &Request,
        matched: &super::routes::Matched<'_>,
    ) -> Response<Body> {
        let entity = match EntityId::parse(&percent_decode(matched.param("entity"))) {
            Ok(e) => e,
            Err(e) => return error(400, "invalid_entity", &e.to_string()),
        };
        let Some(auth) = self.callouts.get(&entity) else {
            return error(
                404,
                "callouts_not_configured",
                &format!("entity {entity} accepts no callouts"),
            );
        };
        if !auth.accepts(req.headers()) {
            return challenge(auth);
        }
        let body = match super::json_body(req) {
            Ok(b) => b,
            Err(r) => return *r,
        };
        let fields = match self.sync.entity_settings().get(&entity).await {
            Ok(v) => v.settings.callout_fields,
            Err(e) => {
                tracing::error!(entity = %entity, error = %e, "settings unreadable; callout not recorded");
                return error(
                    503,
                    "store_unavailable",
                    "the change could not be recorded; retry later",
                );
            }
        };
        let account_names = names(&fields.account, &ACCOUNT_FIELDS);
        let Some(raw_account) = first_text(&body, &account_names) else {
            return super::invalid_field(
                account_names[0],
                "the callout names no account",
                Some(json!(account_names)),
            );
        };
        let account = match AccountKey::parse(raw_account) {
            Ok(a) => a,
            Err(e) => return super::invalid_field("AccountNumber", &e.to_string(), None),
        };
        let dedupe = dedupe_id(&body, account.as_str(), &fields);
        let correlation = super::correlation_id(req);
        match self
            .realtime
            .callout(&entity, &dedupe, &account, &correlation)
            .await
        {
            Ok(outcome) => {
                tracing::info!(entity = %entity, account = %account, counted = outcome.counted, duplicate = outcome.duplicate, session = ?outcome.session_id, "callout");
                let mut answer = serde_json::to_value(&outcome).expect("outcome serialises");
                answer["success"] = json!(true);
                json_response(200, answer)
            }
            Err(e) => {
                tracing::error!(entity = %entity, error = %e, "callout not recorded; Zuora will retry it");
                json_response(
                    503,
                    json!({"success": false, "code": "store_unavailable",
                           "message": "the change could not be recorded; retry later"}),
                )
            }
        }
    }

    pub(super) async fn status(&self, call: &Call<'_>) -> Response<Body> {
        match self.realtime.status(&call.entity).await {
            Ok(status) => json_response(
                200,
                serde_json::to_value(status).expect("status serialises"),
            ),
            Err(e) => error(503, "store_unavailable", &e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupe_ignores_the_request_id_and_prefers_the_event_id() {
        let a = json!({"AccountNumber": "A1", "EventId": "e-1", "Zuora-Request-Id": "r1"});
        let b = json!({"AccountNumber": "A1", "EventId": "e-1", "Zuora-Request-Id": "r2"});
        let usual = CalloutFields::default();
        assert_eq!(dedupe_id(&a, "A1", &usual), dedupe_id(&b, "A1", &usual));
        let typed = json!({"AccountNumber": "A1", "EventType": "AccountUpdate", "EventTime": "t1"});
        assert_eq!(dedupe_id(&typed, "A1", &usual), "event:A1|AccountUpdate|t1");
        let custom = CalloutFields {
            event_id: Some("NotificationId".into()),
            ..CalloutFields::default()
        };
        let with_custom = json!({"AccountNumber": "A1", "NotificationId": "n-9"});
        assert_eq!(dedupe_id(&with_custom, "A1", &custom), "id:n-9");
    }
}
