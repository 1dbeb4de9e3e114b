//! Zuora: the port the sync depends on, and its reqwest adapter.

mod client;
mod error;
mod wire;

pub use client::{ClientStats, RetryPolicy, Secret, ZuoraClient, ZuoraConfig};
pub use error::ZuoraError;

use crate::domain::{AccountKey, AccountSnapshot, EntityId, Subscription, SubscriptionKey};
use std::collections::BTreeMap;
use std::sync::Arc;

/// An account as a list names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountRef {
    pub id: String,
    pub account_number: String,
    #[serde(default)]
    pub updated_date: Option<String>,
}

/// One page of an account list and the cursor of the next.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountPage {
    pub accounts: Vec<AccountRef>,
    pub next: Option<String>,
}

/// The Zuora connection of every configured entity. Each entity has its own client, so its
/// token, and its cap on concurrent requests, are its own (design §2.4, per entity).
#[derive(Clone, Default)]
pub struct ZuoraTenants {
    clients: BTreeMap<EntityId, Arc<dyn ZuoraApi>>,
}

impl ZuoraTenants {
    pub fn new(clients: impl IntoIterator<Item = (EntityId, Arc<dyn ZuoraApi>)>) -> Self {
        Self {
            clients: clients.into_iter().collect(),
        }
    }

    pub fn get(&self, entity: &EntityId) -> Option<&Arc<dyn ZuoraApi>> {
        self.clients.get(entity)
    }

    pub fn contains(&self, entity: &EntityId) -> bool {
        self.clients.contains_key(entity)
    }

    pub fn entities(&self) -> impl Iterator<Item = &EntityId> {
        self.clients.keys()
    }
}

/// Per-call context: the correlation id travels to Zuora as `Zuora-Track-Id`.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    pub correlation_id: String,
}

impl CallContext {
    pub fn new(correlation_id: impl Into<String>) -> Self {
        Self {
            correlation_id: correlation_id.into(),
        }
    }

    /// Zuora accepts at most 64 US-ASCII characters without `: ; " '`; anything else is dropped
    /// rather than sent.
    pub fn track_id(&self) -> Option<&str> {
        let id = self.correlation_id.as_str();
        let ok = !id.is_empty()
            && id.len() <= 64
            && id
                .chars()
                .all(|c| c.is_ascii_graphic() && !matches!(c, ':' | ';' | '"' | '\''));
        ok.then_some(id)
    }
}

/// What the sync needs from Zuora.
#[async_trait::async_trait]
pub trait ZuoraApi: Send + Sync {
    /// The account with contacts, payment methods and subscriptions (rate plans and charges).
    async fn account_snapshot(
        &self,
        key: &AccountKey,
        ctx: &CallContext,
    ) -> Result<AccountSnapshot, ZuoraError>;

    /// One subscription by number or id (its latest version for a number).
    async fn subscription(
        &self,
        key: &SubscriptionKey,
        ctx: &CallContext,
    ) -> Result<Subscription, ZuoraError>;

    /// One page of accounts through the object query list (`GET /object-query/accounts`),
    /// oldest update first; with `updated_after`, only accounts updated after that time.
    async fn accounts_page(
        &self,
        updated_after: Option<&str>,
        cursor: Option<&str>,
        ctx: &CallContext,
    ) -> Result<AccountPage, ZuoraError>;

    /// The whole product catalog, every page (`GET /v1/catalog/products`).
    async fn catalog(&self, ctx: &CallContext) -> Result<Vec<crate::catalog::Product>, ZuoraError>;

    /// A ZOQL query (`POST /v1/action/query`). Callers must escape literals with
    /// [`zoql_literal`].
    async fn query(
        &self,
        zoql: &str,
        ctx: &CallContext,
    ) -> Result<Vec<serde_json::Value>, ZuoraError>;
}

/// A ZOQL string literal: single-quoted, with `\` and `'` escaped, so a value can never end
/// the literal and change the query.
pub fn zoql_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoql_literals_cannot_escape_their_quotes() {
        assert_eq!(zoql_literal("abc"), "'abc'");
        assert_eq!(zoql_literal("' or 1=1"), r"'\' or 1=1'");
        assert_eq!(zoql_literal(r"a\'b"), r"'a\\\'b'");
    }

    #[test]
    fn track_id_is_only_sent_when_zuora_accepts_it() {
        assert_eq!(CallContext::new("abc-123").track_id(), Some("abc-123"));
        assert_eq!(CallContext::new("a:b").track_id(), None);
        assert_eq!(CallContext::new("x".repeat(65)).track_id(), None);
    }
}
