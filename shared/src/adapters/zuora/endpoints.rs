//! The Zuora calls the sync makes: the account snapshot (one object query, or the v1 calls),
//! subscriptions, the account list, the catalog and ZOQL queries.

use super::client::{ACCOUNT_EXPANDS, CATALOG_PAGE_SIZE, V1_SUBSCRIPTION_PAGE_SIZE, ZuoraClient};
use super::wire::*;
use crate::model::{
    AccountKey, AccountPage, AccountRef, AccountSnapshot, CallContext, ChangeList, ChangePage,
    ChangeQuery, ChangedRecord, ExportFile, ExportPart, ExportState, Subscription, SubscriptionKey,
};
use crate::ports::{ZuoraApi, ZuoraError};
use reqwest::Method;
use serde::de::DeserializeOwned;
use url::Url;

impl ZuoraClient {
    /// One page of `GET /object-query/<list>`, and Zuora's cursor of the next. The query pairs
    /// are URL-encoded: a value cannot add another filter.
    async fn list_objects<T: DeserializeOwned>(
        &self,
        list: &str,
        sort: &str,
        filters: &[String],
        cursor: Option<&str>,
        ctx: &CallContext,
    ) -> Result<(Vec<T>, Option<String>), ZuoraError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Page<T> {
            #[serde(default = "Vec::new")]
            data: Vec<T>,
            next_page: Option<String>,
        }
        let url = |page_size: usize| {
            let mut url = self.url(&format!("/object-query/{list}"));
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("pageSize", &page_size.to_string());
                q.append_pair("sort[]", sort);
                for filter in filters {
                    q.append_pair("filter[]", filter);
                }
                if let Some(cursor) = cursor {
                    q.append_pair("cursor", cursor);
                }
            }
            url
        };
        let page: Page<T> = self.object_query(url, &format!("{list} list"), ctx).await?;
        Ok((page.data, page.next_page.filter(|c| !c.is_empty())))
    }

    /// An object query at the page size in use; once more at 50 if Zuora refuses it.
    async fn object_query<T: DeserializeOwned>(
        &self,
        url: impl Fn(usize) -> Url,
        what: &str,
        ctx: &CallContext,
    ) -> Result<T, ZuoraError> {
        match self
            .get_json(url(self.object_query_page_size()), what, ctx)
            .await
        {
            Err(e) if self.lower_page_size_after(&e) => {
                self.get_json(url(self.object_query_page_size()), what, ctx)
                    .await
            }
            other => other,
        }
    }

    /// The account via object query, with its subscriptions from the v1 list at the same time
    /// (their richest form: see `ACCOUNT_EXPANDS`); v1 also fills in payment methods an object
    /// query truncated at its page size.
    async fn snapshot_by_object_query(
        &self,
        key: &AccountKey,
        ctx: &CallContext,
    ) -> Result<AccountSnapshot, ZuoraError> {
        let url = |page_size: usize| {
            let mut url = self.url(&format!("/object-query/accounts/{}", key.as_str()));
            {
                let mut q = url.query_pairs_mut();
                for expand in ACCOUNT_EXPANDS {
                    q.append_pair("expand[]", expand);
                }
                q.append_pair("pageSize", &page_size.to_string());
            }
            url
        };
        let what = format!("account {key}");
        let (account, subscriptions) = tokio::try_join!(
            self.object_query::<OqAccount>(url, &what, ctx),
            self.all_subscriptions(key, ctx),
        )?;
        let truncated = account.payment_methods_truncated(self.object_query_page_size());
        let mut snapshot = account.into_snapshot(subscriptions);
        if truncated {
            let id = AccountKey::parse(&snapshot.account.id).map_err(bad_id)?;
            snapshot.payment_methods = self.payment_methods(&id, ctx).await?;
        }
        Ok(snapshot)
    }

    /// Three concurrent v1 calls: account, subscriptions (paginated), payment methods.
    async fn snapshot_by_v1(
        &self,
        key: &AccountKey,
        ctx: &CallContext,
    ) -> Result<AccountSnapshot, ZuoraError> {
        let account_url = self.url(&format!("/v1/accounts/{}", key.as_str()));
        let what = format!("account {key}");
        let (account, subscriptions, payment_methods) = tokio::try_join!(
            self.get_json::<V1Account>(account_url, &what, ctx),
            self.all_subscriptions(key, ctx),
            self.payment_methods(key, ctx),
        )?;
        Ok(v1_snapshot(account, subscriptions, payment_methods))
    }

    async fn all_subscriptions(
        &self,
        key: &AccountKey,
        ctx: &CallContext,
    ) -> Result<Vec<WireSubscription>, ZuoraError> {
        let mut url = self.url(&format!("/v1/subscriptions/accounts/{}", key.as_str()));
        url.query_pairs_mut()
            .append_pair("page", "1")
            .append_pair("pageSize", &V1_SUBSCRIPTION_PAGE_SIZE.to_string());
        self.follow_pages(
            url,
            &format!("account {key}"),
            ctx,
            |p: V1SubscriptionPage| (p.subscriptions, p.next_page),
        )
        .await
    }

    /// Reads every page of a v1 list, following `nextPage`. Bounded so a server that keeps
    /// answering with a nextPage cannot loop us forever.
    async fn follow_pages<P: DeserializeOwned, T>(
        &self,
        mut url: Url,
        what: &str,
        ctx: &CallContext,
        split_page: impl Fn(P) -> (Vec<T>, Option<String>),
    ) -> Result<Vec<T>, ZuoraError> {
        let mut all = Vec::new();
        for _ in 0..1000 {
            let (items, next) = split_page(self.get_json(url.clone(), what, ctx).await?);
            all.extend(items);
            match next {
                Some(next) => url = self.same_origin(&next)?,
                None => return Ok(all),
            }
        }
        Err(ZuoraError::BadResponse {
            detail: format!("pagination of {what} did not end after 1000 pages"),
            attempts: 1,
        })
    }

    /// `nextPage` is a full URL: only follow it to the configured Zuora host, so a bad answer
    /// can never send our bearer token elsewhere.
    fn same_origin(&self, next: &str) -> Result<Url, ZuoraError> {
        let url = self
            .config
            .base_url
            .join(next)
            .map_err(|e| ZuoraError::BadResponse {
                detail: format!("nextPage is not a URL: {e}"),
                attempts: 1,
            })?;
        if url.origin() != self.config.base_url.origin() {
            return Err(ZuoraError::BadResponse {
                detail: format!(
                    "nextPage points to another host: {}",
                    url.origin().ascii_serialization()
                ),
                attempts: 1,
            });
        }
        Ok(url)
    }

    async fn payment_methods(
        &self,
        key: &AccountKey,
        ctx: &CallContext,
    ) -> Result<Vec<crate::model::PaymentMethod>, ZuoraError> {
        let url = self.url(&format!("/v1/accounts/{}/payment-methods", key.as_str()));
        let groups: V1PaymentMethods = self.get_json(url, &format!("account {key}"), ctx).await?;
        groups.into_domain().map_err(|e| ZuoraError::BadResponse {
            detail: format!("payment method: {e}"),
            attempts: 1,
        })
    }
}

#[async_trait::async_trait]
impl ZuoraApi for ZuoraClient {
    async fn account_snapshot(
        &self,
        key: &AccountKey,
        ctx: &CallContext,
    ) -> Result<AccountSnapshot, ZuoraError> {
        if self.config.use_object_query {
            self.snapshot_by_object_query(key, ctx).await
        } else {
            self.snapshot_by_v1(key, ctx).await
        }
    }

    async fn subscription(
        &self,
        key: &SubscriptionKey,
        ctx: &CallContext,
    ) -> Result<Subscription, ZuoraError> {
        let url = self.url(&format!("/v1/subscriptions/{}", key.as_str()));
        let sub: WireSubscription = self
            .get_json(url, &format!("subscription {key}"), ctx)
            .await?;
        Ok(sub.into())
    }

    async fn changes_page(
        &self,
        list: ChangeList,
        query: &ChangeQuery,
        cursor: Option<&str>,
        ctx: &CallContext,
    ) -> Result<ChangePage, ZuoraError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Row {
            id: String,
            account_id: Option<String>,
            account_number: Option<String>,
            updated_date: Option<String>,
        }
        let (sort, filters) = match query {
            ChangeQuery::Ties { at, after_id } => {
                let mut filters = vec![format!("updatedDate.EQ:{at}")];
                filters.extend(after_id.iter().map(|id| format!("id.GT:{id}")));
                ("id.ASC", filters)
            }
            ChangeQuery::After { at } => ("updatedDate.ASC", vec![format!("updatedDate.GT:{at}")]),
        };
        let path = match list {
            ChangeList::Accounts => "accounts",
            ChangeList::Subscriptions => "subscriptions",
            ChangeList::PaymentMethods => "payment-methods",
            ChangeList::Contacts => "contacts",
        };
        let (rows, next) = self
            .list_objects::<Row>(path, sort, &filters, cursor, ctx)
            .await?;
        let records = rows
            .into_iter()
            .map(|row| {
                // An account is named by its number when the list gives one.
                let account = match list {
                    ChangeList::Accounts => Some(
                        row.account_number
                            .filter(|n| !n.is_empty())
                            .unwrap_or_else(|| row.id.clone()),
                    ),
                    _ => row.account_id.filter(|id| !id.is_empty()),
                };
                ChangedRecord {
                    id: row.id,
                    account,
                    updated: row.updated_date,
                }
            })
            .collect();
        Ok(ChangePage { records, next })
    }

    async fn accounts_by_id(
        &self,
        after: Option<&str>,
        ctx: &CallContext,
    ) -> Result<AccountPage, ZuoraError> {
        // Ids are validated keys: one cannot add another filter either.
        let filters: Vec<String> = after
            .map(|after| format!("id.GT:{after}"))
            .into_iter()
            .collect();
        let (accounts, more): (Vec<AccountRef>, _) = self
            .list_objects("accounts", "id.ASC", &filters, None, ctx)
            .await?;
        // Zuora's own cursor is not used: the next page is the next query by id.
        let next = accounts
            .last()
            .filter(|_| more.is_some())
            .map(|last| last.id.clone());
        Ok(AccountPage { accounts, next })
    }

    async fn catalog(&self, ctx: &CallContext) -> Result<Vec<crate::model::Product>, ZuoraError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Page {
            #[serde(default)]
            products: Vec<crate::model::Product>,
            next_page: Option<String>,
        }
        // No Zuora-Version header is sent, so rate plans come inline rather than as a URL.
        let mut url = self.url("/v1/catalog/products");
        url.query_pairs_mut()
            .append_pair("page", "1")
            .append_pair("pageSize", &CATALOG_PAGE_SIZE.to_string());
        self.follow_pages(url, "product catalog", ctx, |p: Page| {
            (p.products, p.next_page)
        })
        .await
    }

    async fn query(
        &self,
        zoql: &str,
        ctx: &CallContext,
    ) -> Result<Vec<serde_json::Value>, ZuoraError> {
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(default)]
            records: Vec<serde_json::Value>,
        }
        let body = serde_json::json!({ "queryString": zoql });
        let answer: Answer = self
            .send_json(
                Method::POST,
                self.url("/v1/action/query"),
                Some(&body),
                "query result",
                ctx,
            )
            .await?;
        Ok(answer.records)
    }

    async fn submit_export(&self, ctx: &CallContext) -> Result<String, ZuoraError> {
        // The account's custom fields are the tenant's own: Describe names them.
        let custom_fields = self.account_export_fields(ctx).await?;
        self.submit_aqua_export(&custom_fields, ctx).await
    }

    async fn export_state(&self, job: &str, ctx: &CallContext) -> Result<ExportState, ZuoraError> {
        self.aqua_export_state(job, ctx).await
    }

    async fn export_snapshots(
        &self,
        files: &[ExportFile],
        part: ExportPart,
        ctx: &CallContext,
    ) -> Result<Vec<AccountSnapshot>, ZuoraError> {
        self.aqua_export_snapshots(files, part, ctx).await
    }
}

fn bad_id(e: crate::model::InvalidId) -> ZuoraError {
    ZuoraError::BadResponse {
        detail: e.to_string(),
        attempts: 1,
    }
}
