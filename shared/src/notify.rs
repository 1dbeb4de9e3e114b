//! Notifications (design §1.5): when a job ends and the entity's notification level calls for
//! it, a summary goes to the entity's channel — an email through Amazon SES, or an HTTPS POST
//! signed with HMAC-SHA256 (`X-Zuora-Sync-Signature: sha256=<hex>` over
//! `<timestamp>.<body>`, the timestamp in `X-Zuora-Sync-Timestamp`, so a receiver can reject
//! replays). Delivery is best effort: a failure is logged and recorded, never retried into a
//! second sync.

use crate::domain::EntityId;
use crate::zuora::Secret;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

/// Where an entity's notifications go (a setting).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Channel {
    Email { from: String, to: Vec<String> },
    Webhook { url: String },
}

/// What a notification says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub entity: String,
    /// `session`, `on_demand` or `manual`.
    pub kind: String,
    pub id: String,
    pub trigger: String,
    pub succeeded: u64,
    pub failed: u64,
    pub skipped: u64,
    pub written: u64,
    /// Failed accounts or subscriptions, each with its reason.
    pub failures: Vec<String>,
    pub finished_at: String,
}

impl Summary {
    fn subject(&self) -> String {
        let outcome = if self.failed > 0 {
            format!("{} failed", self.failed)
        } else {
            "all succeeded".to_string()
        };
        format!(
            "zuora-sync {} {} on {}: {outcome}, {} records written",
            self.kind, self.trigger, self.entity, self.written
        )
    }

    fn text(&self) -> String {
        let mut lines = vec![
            self.subject(),
            String::new(),
            format!("id: {}", self.id),
            format!("finished: {}", self.finished_at),
            format!(
                "succeeded {}, failed {}, skipped {}, records written {}",
                self.succeeded, self.failed, self.skipped, self.written
            ),
        ];
        if !self.failures.is_empty() {
            lines.push(String::new());
            lines.push("failed:".into());
            lines.extend(self.failures.iter().map(|f| format!("  - {f}")));
        }
        lines.join("\n")
    }
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The signature a receiver checks: HMAC-SHA256 of `<timestamp>.<body>`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

pub struct Notifier {
    ses: aws_sdk_sesv2::Client,
    http: reqwest::Client,
    /// Each entity's webhook signing secret (configuration, never a setting).
    webhook_secrets: HashMap<EntityId, Secret>,
}

impl Notifier {
    pub fn new(ses: aws_sdk_sesv2::Client, webhook_secrets: HashMap<EntityId, Secret>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a reqwest client with a timeout always builds");
        Self {
            ses,
            http,
            webhook_secrets,
        }
    }

    /// Sends the summary; answers a short delivery note for the record (`sent …` or why not).
    pub async fn send(
        &self,
        entity: &EntityId,
        channel: Option<&Channel>,
        summary: &Summary,
    ) -> String {
        let result = match channel {
            None => return "no channel configured".into(),
            Some(Channel::Email { from, to }) => self.email(from, to, summary).await,
            Some(Channel::Webhook { url }) => self.webhook(entity, url, summary).await,
        };
        match result {
            Ok(note) => note,
            Err(e) => {
                tracing::warn!(entity = %entity, id = %summary.id, error = %e, "notification not delivered");
                format!("failed: {e}")
            }
        }
    }

    async fn email(&self, from: &str, to: &[String], summary: &Summary) -> Result<String, String> {
        use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
        let content = |text: String| Content::builder().data(text).charset("UTF-8").build();
        let message = Message::builder()
            .subject(content(summary.subject()).map_err(|e| e.to_string())?)
            .body(
                Body::builder()
                    .text(content(summary.text()).map_err(|e| e.to_string())?)
                    .build(),
            )
            .build();
        let out = self
            .ses
            .send_email()
            .from_email_address(from)
            .destination(
                Destination::builder()
                    .set_to_addresses(Some(to.to_vec()))
                    .build(),
            )
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|e| {
                format!("SES: {:?}", e.into_service_error())
                    .chars()
                    .take(300)
                    .collect::<String>()
            })?;
        Ok(format!(
            "sent by email ({})",
            out.message_id().unwrap_or("no message id")
        ))
    }

    async fn webhook(
        &self,
        entity: &EntityId,
        url: &str,
        summary: &Summary,
    ) -> Result<String, String> {
        let secret = self
            .webhook_secrets
            .get(entity)
            .ok_or("no webhook secret is configured for the entity")?;
        let body = serde_json::to_string(summary).map_err(|e| e.to_string())?;
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("x-zuora-sync-timestamp", timestamp.to_string())
            .header(
                "x-zuora-sync-signature",
                signature(secret.expose(), timestamp, &body),
            )
            .body(body)
            .send()
            .await
            .map_err(|e| format!("webhook: {}", e.without_url()))?;
        if !response.status().is_success() {
            return Err(format!(
                "webhook answered HTTP {}",
                response.status().as_u16()
            ));
        }
        Ok(format!(
            "sent to the webhook (HTTP {})",
            response.status().as_u16()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_a_known_hmac() {
        // RFC 4231 test case 2 ("Jefe" / "what do ya want for nothing?"), split at the dot.
        let sig = signature("Jefe", 0, "");
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
        assert_ne!(signature("Jefe", 1, "x"), signature("Jefe", 2, "x"));
        let mut mac = HmacSha256::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
