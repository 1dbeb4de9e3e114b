//! A fake Zuora tenant: accounts, subscriptions and a catalog held in memory, answered through
//! the `ZuoraApi` port with Zuora's own error kinds; it counts calls, fails on request and
//! can take its time (on tokio's clock, so paused-time tests stay instant).

use super::faults::{FaultPlan, ZuoraFault, die};
use crate::model::{
    AccountKey, AccountPage, AccountRef, AccountSnapshot, CallContext, ChangeList, ChangePage,
    ChangeQuery, ChangedRecord, ExportFile, ExportPart, ExportState, Product, Subscription,
    SubscriptionKey,
};
use crate::ports::{ZuoraApi, ZuoraError};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Method names as [`FakeZuora::calls_to`] counts them.
pub const ACCOUNT_SNAPSHOT: &str = "account_snapshot";
pub const SUBSCRIPTION: &str = "subscription";
pub const CHANGES_PAGE: &str = "changes_page";
pub const ACCOUNTS_BY_ID: &str = "accounts_by_id";
pub const CATALOG: &str = "catalog";
pub const QUERY: &str = "query";
pub const SUBMIT_EXPORT: &str = "submit_export";
pub const EXPORT_STATE: &str = "export_state";
pub const EXPORT_SNAPSHOTS: &str = "export_snapshots";

/// A bulk export job: its snapshot is taken at its first poll (when Zuora would start
/// executing it, some time after the submit), and it is ready at a later poll.
#[derive(Debug, Default)]
struct FakeExport {
    polls: u32,
    snapshot: Option<Vec<AccountSnapshot>>,
}

#[derive(Debug, Clone)]
struct FakeAccount {
    snapshot: AccountSnapshot,
    /// `updatedDate` as the account list shows it (RFC 3339), if any.
    updated: Option<String>,
}

#[derive(Debug)]
struct ZState {
    /// By account id.
    accounts: BTreeMap<String, FakeAccount>,
    /// Subscriptions Zuora returns on their own, besides those inside account snapshots.
    subscriptions: Vec<Subscription>,
    catalog: Vec<Product>,
    page_size: usize,
    calls: BTreeMap<&'static str, u64>,
    failures: VecDeque<ZuoraError>,
    delay: Duration,
    plan: Option<Arc<dyn FaultPlan>>,
    /// Account answers still to come without their subscriptions.
    partial: usize,
    /// `updatedDate` of subscriptions, payment methods and contacts, by list and record id.
    touched: BTreeMap<(ChangeList, String), String>,
    /// Bulk export jobs by id.
    exports: BTreeMap<String, FakeExport>,
    /// Polls an export takes to finish (the first takes its snapshot).
    export_polls: u32,
    /// Why exports fail (`None`: they succeed); a tenant without AQuA refuses the submit.
    export_failure: Option<String>,
    aqua: bool,
}

/// Implements `ZuoraApi` over data a test sets up.
#[derive(Debug)]
pub struct FakeZuora {
    state: Mutex<ZState>,
}

impl Default for FakeZuora {
    fn default() -> Self {
        Self::new()
    }
}

/// An `updatedDate` as a number that orders like the time it names (nanoseconds since the
/// epoch); accounts without one list first.
fn order_time(raw: Option<&str>) -> Option<i128> {
    let raw = raw?;
    time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(time::OffsetDateTime::unix_timestamp_nanos)
}

fn rejected(reason: impl Into<String>) -> ZuoraError {
    ZuoraError::Rejected {
        status: 400,
        code: None,
        reason: reason.into(),
    }
}

fn not_found(what: &str, key: &str) -> ZuoraError {
    ZuoraError::NotFound {
        what: what.to_string(),
        reason: format!("no {what} {key}"),
    }
}

/// The body of a ZOQL string literal: `\\` and `\'` unescaped. `None` for a literal that is
/// not closed, or that a bare quote would end early.
fn unquote(literal: &str) -> Option<String> {
    let inner = literal.strip_prefix('\'')?.strip_suffix('\'')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                c @ ('\\' | '\'') => out.push(c),
                _ => return None,
            },
            '\'' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// (field, value) of the only query the product sends:
/// `select Id, AccountNumber from Account where <Field> = '<literal>'`.
fn parse_lookup(zoql: &str) -> Option<(String, String)> {
    const PREFIX: &str = "select id, accountnumber from account where ";
    let zoql = zoql.trim();
    let head = zoql.get(..PREFIX.len())?;
    if !head.eq_ignore_ascii_case(PREFIX) {
        return None;
    }
    let (field, literal) = zoql[PREFIX.len()..].split_once(" = ")?;
    let field = field.trim();
    let identifier =
        !field.is_empty() && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !identifier {
        return None;
    }
    Some((field.to_string(), unquote(literal.trim())?))
}

impl ZState {
    fn find_account(&self, key: &str) -> Option<&FakeAccount> {
        self.accounts.get(key).or_else(|| {
            self.accounts
                .values()
                .find(|a| a.snapshot.account.account_number == key)
        })
    }

    /// Every subscription Zuora knows, each naming its account.
    fn all_subscriptions(&self) -> Vec<Subscription> {
        let mut out = self.subscriptions.clone();
        for a in self.accounts.values() {
            for sub in &a.snapshot.subscriptions {
                let mut sub = sub.clone();
                sub.account_id
                    .get_or_insert_with(|| a.snapshot.account.id.clone());
                sub.account_number
                    .get_or_insert_with(|| a.snapshot.account.account_number.clone());
                out.push(sub);
            }
        }
        out
    }

    fn subscription(&self, key: &str) -> Result<Subscription, ZuoraError> {
        let all = self.all_subscriptions();
        if let Some(sub) = all.iter().find(|s| s.id == key) {
            return Ok(sub.clone());
        }
        // A number names its latest version.
        all.into_iter()
            .filter(|s| s.number == key)
            .max_by_key(|s| s.version.unwrap_or(0))
            .ok_or_else(|| not_found("subscription", key))
    }

    /// Every account in id order after `after`, a page at a time.
    fn accounts_by_id(&self, after: Option<&str>) -> AccountPage {
        let mut rest = self
            .accounts
            .values()
            .filter(|a| after.is_none_or(|after| a.snapshot.account.id.as_str() > after));
        let page: Vec<&FakeAccount> = rest.by_ref().take(self.page_size.max(1)).collect();
        let more = rest.next().is_some();
        AccountPage {
            next: page
                .last()
                .filter(|_| more)
                .map(|a| a.snapshot.account.id.clone()),
            accounts: page
                .into_iter()
                .map(|a| AccountRef {
                    id: a.snapshot.account.id.clone(),
                    account_number: a.snapshot.account.account_number.clone(),
                    updated_date: a.updated.clone(),
                })
                .collect(),
        }
    }

    /// Every record of a change list: (update time, id, account id).
    fn list_records(&self, list: ChangeList) -> Vec<(Option<i128>, String, String)> {
        let touched = |id: &str| {
            order_time(
                self.touched
                    .get(&(list, id.to_string()))
                    .map(String::as_str),
            )
        };
        let mut out = Vec::new();
        for (account_id, a) in &self.accounts {
            let snapshot = &a.snapshot;
            match list {
                // Named by number, as the object query's list gives it.
                ChangeList::Accounts => out.push((
                    order_time(a.updated.as_deref()),
                    account_id.clone(),
                    snapshot.account.account_number.clone(),
                )),
                ChangeList::Subscriptions => out.extend(
                    snapshot
                        .subscriptions
                        .iter()
                        .map(|sub| (touched(&sub.id), sub.id.clone(), account_id.clone())),
                ),
                ChangeList::PaymentMethods => out.extend(
                    snapshot
                        .payment_methods
                        .iter()
                        .map(|pm| (touched(&pm.id), pm.id.clone(), account_id.clone())),
                ),
                ChangeList::Contacts => {
                    let mut contacts: Vec<&str> = [&snapshot.bill_to, &snapshot.sold_to]
                        .into_iter()
                        .flatten()
                        .map(|c| c.id.as_str())
                        .collect();
                    contacts.dedup();
                    out.extend(
                        contacts
                            .into_iter()
                            .map(|id| (touched(id), id.to_string(), account_id.clone())),
                    );
                }
            }
        }
        out
    }

    /// A change list as the object query lists it: filtered and sorted as `query` says, a page
    /// at a time (the cursor is the position after the last record returned).
    fn changes_page(
        &self,
        list: ChangeList,
        query: &ChangeQuery,
        cursor: Option<&str>,
    ) -> Result<ChangePage, ZuoraError> {
        let time = |raw: &str| {
            order_time(Some(raw))
                .ok_or_else(|| rejected(format!("updatedDate {raw:?} is not a time")))
        };
        let mut listed: Vec<(Option<i128>, String, String)> = match query {
            ChangeQuery::Ties { at, after_id } => {
                let at = time(at)?;
                let mut ties: Vec<_> = self
                    .list_records(list)
                    .into_iter()
                    .filter(|(t, id, _)| {
                        *t == Some(at) && after_id.as_ref().is_none_or(|after| id > after)
                    })
                    .collect();
                ties.sort_by(|a, b| a.1.cmp(&b.1));
                ties
            }
            ChangeQuery::After { at } => {
                let at = time(at)?;
                let mut after: Vec<_> = self
                    .list_records(list)
                    .into_iter()
                    .filter(|(t, _, _)| t.is_some_and(|t| t > at))
                    .collect();
                // Oldest first; Zuora promises no order among equal times: here the reverse of
                // the ids, so a scan that trusted it would miss some.
                after.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(&a.1)));
                after
            }
        };
        let skip = match cursor {
            Some(raw) => raw
                .parse::<usize>()
                .map_err(|_| rejected(format!("invalid cursor {raw:?}")))?,
            None => 0,
        };
        let size = self.page_size.max(1);
        let more = listed.len() > skip + size;
        listed = listed.into_iter().skip(skip).take(size).collect();
        let records = listed
            .into_iter()
            .map(|(_, id, account)| {
                let updated = match list {
                    ChangeList::Accounts => self.accounts.get(&id).and_then(|a| a.updated.clone()),
                    _ => self.touched.get(&(list, id.clone())).cloned(),
                };
                ChangedRecord {
                    id,
                    account: Some(account).filter(|a| !a.is_empty()),
                    updated,
                }
            })
            .collect();
        Ok(ChangePage {
            records,
            next: more.then(|| (skip + size).to_string()),
        })
    }

    fn submit_export(&mut self) -> Result<String, ZuoraError> {
        if !self.aqua {
            return Err(ZuoraError::Rejected {
                status: 403,
                code: None,
                reason: "AQuA is not enabled for this tenant".into(),
            });
        }
        let id = format!("{:032x}", self.exports.len() + 1);
        self.exports.insert(id.clone(), FakeExport::default());
        Ok(id)
    }

    fn export_state(&mut self, job: &str) -> Result<ExportState, ZuoraError> {
        let snapshot: Vec<AccountSnapshot> =
            self.accounts.values().map(|a| a.snapshot.clone()).collect();
        let (polls, failure) = (self.export_polls, self.export_failure.clone());
        let export = self
            .exports
            .get_mut(job)
            .ok_or_else(|| not_found("export job", job))?;
        export.polls += 1;
        export.snapshot.get_or_insert(snapshot);
        if export.polls < polls {
            return Ok(ExportState::Running);
        }
        if let Some(reason) = failure {
            return Ok(ExportState::Failed(reason));
        }
        Ok(ExportState::Ready(vec![ExportFile {
            object: "Account".into(),
            file_id: job.to_string(),
            records: export.snapshot.as_ref().map_or(0, |s| s.len() as u64),
        }]))
    }

    fn export_snapshots(
        &self,
        files: &[ExportFile],
        part: ExportPart,
    ) -> Result<Vec<AccountSnapshot>, ZuoraError> {
        let file = files
            .first()
            .ok_or_else(|| rejected("an export without files"))?;
        let snapshot = self
            .exports
            .get(&file.file_id)
            .and_then(|e| e.snapshot.as_ref())
            .ok_or_else(|| not_found("export file", &file.file_id))?;
        Ok(snapshot
            .iter()
            .filter(|s| part.holds(&s.account.id))
            .cloned()
            .collect())
    }

    fn query(&self, zoql: &str) -> Result<Vec<serde_json::Value>, ZuoraError> {
        let (field, value) =
            parse_lookup(zoql).ok_or_else(|| rejected(format!("unsupported query: {zoql}")))?;
        Ok(self
            .accounts
            .values()
            .filter(|a| {
                a.snapshot
                    .account
                    .custom_fields
                    .get(&field)
                    .is_some_and(|v| match v {
                        serde_json::Value::String(s) => *s == value,
                        serde_json::Value::Number(n) => value == n.to_string(),
                        serde_json::Value::Bool(b) => value == b.to_string(),
                        _ => false,
                    })
            })
            .map(|a| {
                serde_json::json!({
                    "Id": a.snapshot.account.id,
                    "AccountNumber": a.snapshot.account.account_number,
                })
            })
            .collect())
    }
}

impl FakeZuora {
    /// An empty tenant listing 100 accounts a page.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(ZState {
                accounts: BTreeMap::new(),
                subscriptions: Vec::new(),
                catalog: Vec::new(),
                page_size: 100,
                calls: BTreeMap::new(),
                failures: VecDeque::new(),
                delay: Duration::ZERO,
                plan: None,
                partial: 0,
                touched: BTreeMap::new(),
                exports: BTreeMap::new(),
                export_polls: 2,
                export_failure: None,
                aqua: true,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ZState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds or replaces an account (found by its id and by its number); its subscriptions
    /// answer `subscription` too. A replaced account keeps its `updatedDate`.
    pub fn put_account(&self, snapshot: AccountSnapshot) {
        let mut s = self.state();
        let id = snapshot.account.id.clone();
        let updated = s.accounts.get(&id).and_then(|a| a.updated.clone());
        s.accounts.insert(id, FakeAccount { snapshot, updated });
    }

    /// Changes a stored account in place; `false` if there is none with that id.
    pub fn update_account(&self, id: &str, change: impl FnOnce(&mut AccountSnapshot)) -> bool {
        match self.state().accounts.get_mut(id) {
            Some(a) => {
                change(&mut a.snapshot);
                true
            }
            None => false,
        }
    }

    /// Sets the `updatedDate` the account list shows (RFC 3339), which orders the list.
    pub fn set_updated(&self, id: &str, updated: &str) -> bool {
        match self.state().accounts.get_mut(id) {
            Some(a) => {
                a.updated = Some(updated.to_string());
                true
            }
            None => false,
        }
    }

    /// Sets the `updatedDate` of a subscription, payment method or contact (RFC 3339), as
    /// Zuora does on its own edit: the account's is left as it was.
    pub fn touch(&self, list: ChangeList, record_id: &str, updated: &str) {
        self.state()
            .touched
            .insert((list, record_id.to_string()), updated.to_string());
    }

    pub fn remove_account(&self, id: &str) -> Option<AccountSnapshot> {
        self.state().accounts.remove(id).map(|a| a.snapshot)
    }

    pub fn account(&self, id: &str) -> Option<AccountSnapshot> {
        self.state().accounts.get(id).map(|a| a.snapshot.clone())
    }

    /// A subscription answered on its own (not inside any account snapshot).
    pub fn put_subscription(&self, sub: Subscription) {
        self.state().subscriptions.push(sub);
    }

    pub fn set_catalog(&self, products: Vec<Product>) {
        self.state().catalog = products;
    }

    /// Records per page of `accounts_by_id` and `changes_page`.
    pub fn set_page_size(&self, n: usize) {
        self.state().page_size = n;
    }

    /// The next `n` calls, whichever method, fail with `error`.
    pub fn fail_next(&self, n: usize, error: ZuoraError) {
        let mut s = self.state();
        s.failures.extend(std::iter::repeat_n(error, n));
    }

    /// Every call answers only after `delay` on tokio's clock. The answer reflects the data
    /// when the call was made (as if Zuora read it, then the response took its time).
    pub fn set_delay(&self, delay: Duration) {
        self.state().delay = delay;
    }

    /// The next `n` account answers come without their subscriptions, as a `200` from a Zuora
    /// user who lost a permission, or with a misrouted entity header, would.
    pub fn answer_without_subscriptions(&self, n: usize) {
        self.state().partial = n;
    }

    /// Every later call first asks `plan` what becomes of it (after `fail_next`'s failures).
    pub fn set_fault_plan(&self, plan: Arc<dyn FaultPlan>) {
        self.state().plan = Some(plan);
    }

    /// Polls a bulk export takes to be ready (at least 1); its first poll takes its snapshot.
    pub fn set_export_polls(&self, polls: u32) {
        self.state().export_polls = polls.max(1);
    }

    /// Exports end `Failed` with `reason` (`None`: they succeed again).
    pub fn fail_exports(&self, reason: Option<&str>) {
        self.state().export_failure = reason.map(str::to_string);
    }

    /// A tenant without AQuA: the submit is refused (403).
    pub fn disable_aqua(&self) {
        self.state().aqua = false;
    }

    /// Calls made so far, every method.
    pub fn calls(&self) -> u64 {
        self.state().calls.values().sum()
    }

    /// Calls made so far to one method (e.g. [`ACCOUNT_SNAPSHOT`]).
    pub fn calls_to(&self, method: &str) -> u64 {
        self.state().calls.get(method).copied().unwrap_or(0)
    }

    /// Counts the call, decides its answer now, then takes the delay.
    async fn answer<T: Send>(
        &self,
        method: &'static str,
        f: impl FnOnce(&mut ZState) -> Result<T, ZuoraError> + Send,
    ) -> Result<T, ZuoraError> {
        let (result, mut delay, plan) = {
            let mut s = self.state();
            *s.calls.entry(method).or_default() += 1;
            let result = match s.failures.pop_front() {
                Some(e) => Err(e),
                None => f(&mut s),
            };
            (result, s.delay, s.plan.clone())
        };
        let result = match plan.map_or(ZuoraFault::Pass, |p| p.zuora_call(method)) {
            ZuoraFault::Pass => result,
            ZuoraFault::Delay(d) => {
                delay += d;
                result
            }
            ZuoraFault::Fail(e) => Err(e),
            ZuoraFault::Crash => die().await,
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        result
    }
}

#[async_trait::async_trait]
impl ZuoraApi for FakeZuora {
    async fn account_snapshot(
        &self,
        key: &AccountKey,
        _ctx: &CallContext,
    ) -> Result<AccountSnapshot, ZuoraError> {
        let partial = {
            let mut s = self.state();
            let partial = s.partial > 0;
            s.partial = s.partial.saturating_sub(1);
            partial
        };
        self.answer(ACCOUNT_SNAPSHOT, |s| {
            let mut snapshot = s
                .find_account(key.as_str())
                .map(|a| a.snapshot.clone())
                .ok_or_else(|| not_found("account", key.as_str()))?;
            if partial {
                snapshot.subscriptions.clear();
            }
            Ok(snapshot)
        })
        .await
    }

    async fn subscription(
        &self,
        key: &SubscriptionKey,
        _ctx: &CallContext,
    ) -> Result<Subscription, ZuoraError> {
        self.answer(SUBSCRIPTION, |s| s.subscription(key.as_str()))
            .await
    }

    async fn changes_page(
        &self,
        list: ChangeList,
        query: &ChangeQuery,
        cursor: Option<&str>,
        _ctx: &CallContext,
    ) -> Result<ChangePage, ZuoraError> {
        self.answer(CHANGES_PAGE, |s| s.changes_page(list, query, cursor))
            .await
    }

    async fn accounts_by_id(
        &self,
        after: Option<&str>,
        _ctx: &CallContext,
    ) -> Result<AccountPage, ZuoraError> {
        self.answer(ACCOUNTS_BY_ID, |s| Ok(s.accounts_by_id(after)))
            .await
    }

    async fn catalog(&self, _ctx: &CallContext) -> Result<Vec<Product>, ZuoraError> {
        self.answer(CATALOG, |s| Ok(s.catalog.clone())).await
    }

    async fn query(
        &self,
        zoql: &str,
        _ctx: &CallContext,
    ) -> Result<Vec<serde_json::Value>, ZuoraError> {
        self.answer(QUERY, |s| s.query(zoql)).await
    }

    async fn submit_export(&self, _ctx: &CallContext) -> Result<String, ZuoraError> {
        self.answer(SUBMIT_EXPORT, ZState::submit_export).await
    }

    async fn export_state(&self, job: &str, _ctx: &CallContext) -> Result<ExportState, ZuoraError> {
        self.answer(EXPORT_STATE, |s| s.export_state(job)).await
    }

    async fn export_snapshots(
        &self,
        files: &[ExportFile],
        part: ExportPart,
        _ctx: &CallContext,
    ) -> Result<Vec<AccountSnapshot>, ZuoraError> {
        self.answer(EXPORT_SNAPSHOTS, |s| s.export_snapshots(files, part))
            .await
    }
}

#[cfg(test)]
mod tests;
