//! A fault proxy of our own in front of DynamoDB Local, for the fault-injection suite
//! (`tests/stack/tests/faults`): it forwards every request unchanged, except that a rule can
//! strike the Nth request of one operation (optionally only those whose body contains a
//! marker): delay it, fail it unapplied, apply it and lose the answer, apply it and never
//! answer, or apply it and kill a process before answering. Loopback only.
//!
//! It can also emulate what DynamoDB Local does not: on DynamoDB, a transaction that touches an
//! item another transaction is still writing is cancelled with `TransactionConflict` instead
//! of waiting (DynamoDB Local serialises them). With [`FaultProxy::emulate_transaction_conflicts`]
//! each `TransactWriteItems` holds its items for a while, and one that meets a held item is
//! answered as DynamoDB answers it.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Response, StatusCode};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a rule does to the request it strikes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Forwarded after this long.
    Delay(Duration),
    /// Not forwarded: answered 500 (DynamoDB's InternalServerError), so nothing was applied.
    Fail,
    /// Forwarded and applied, then answered 500 after this long: the caller cannot know it was
    /// applied, and others may act on what it wrote before its retry arrives.
    LoseAnswer(Duration),
    /// Forwarded and applied, then never answered (the caller's invocation dies waiting).
    Hang,
    /// Forwarded and applied, then the process is killed (`kill -9`) before the answer.
    Kill(u32),
}

/// Strikes the `nth` (1-based) request of `operation` (the `X-Amz-Target` suffix, e.g.
/// `TransactWriteItems`) whose body contains `marker`, once.
#[derive(Debug, Clone)]
pub struct Rule {
    pub operation: &'static str,
    pub marker: Option<String>,
    pub nth: u32,
    pub action: Action,
}

#[derive(Debug)]
struct Armed {
    rule: Rule,
    seen: u32,
    fired: bool,
}

#[derive(Clone)]
struct Shared {
    upstream: String,
    client: reqwest::Client,
    rules: Arc<Mutex<Vec<Armed>>>,
    transactions: Arc<Transactions>,
}

/// The transaction conflict emulation: how long a transaction holds its items (none: off),
/// the items held, and how many transactions were cancelled.
#[derive(Default)]
struct Transactions {
    hold: Mutex<Option<Duration>>,
    held: Mutex<HashSet<String>>,
    conflicts: AtomicU64,
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    shared: Shared,
}

impl FaultProxy {
    /// A proxy in front of the DynamoDB Local that scripts/test.sh started.
    pub async fn to_dynamodb() -> Self {
        let upstream = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("scripts/test.sh sets it");
        Self::spawn(&upstream).await.expect("the proxy starts")
    }

    /// Listens on a free loopback port and forwards to `upstream` (a loopback URL).
    pub async fn spawn(upstream: &str) -> std::io::Result<Self> {
        let parsed = url::Url::parse(upstream).map_err(std::io::Error::other)?;
        let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if !loopback {
            return Err(std::io::Error::other(format!(
                "the fault proxy only forwards to loopback, not {upstream}"
            )));
        }
        let shared = Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: reqwest::Client::new(),
            rules: Arc::new(Mutex::new(Vec::new())),
            transactions: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, shared })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn arm(&self, rule: Rule) {
        self.shared.rules.lock().unwrap().push(Armed {
            rule,
            seen: 0,
            fired: false,
        });
    }

    /// From now on every `TransactWriteItems` holds its items for `hold` (DynamoDB's own
    /// transactions take a few milliseconds), and one touching an item held by another is
    /// cancelled with `TransactionConflict`, as DynamoDB does.
    pub fn emulate_transaction_conflicts(&self, hold: Duration) {
        *self.shared.transactions.hold.lock().unwrap() = Some(hold);
    }

    /// Transactions cancelled with `TransactionConflict` so far.
    pub fn transaction_conflicts(&self) -> u64 {
        self.shared.transactions.conflicts.load(Ordering::SeqCst)
    }

    /// How many armed rules have struck.
    pub fn fired(&self) -> usize {
        self.shared
            .rules
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.fired)
            .count()
    }
}

/// The action of the first armed rule this request is the Nth match of, if any.
fn strike(shared: &Shared, operation: &str, body: &[u8]) -> Option<Action> {
    let mut rules = shared.rules.lock().unwrap();
    for armed in rules.iter_mut().filter(|r| !r.fired) {
        let matches = armed.rule.operation == operation
            && armed
                .rule
                .marker
                .as_ref()
                .is_none_or(|m| String::from_utf8_lossy(body).contains(m.as_str()));
        if !matches {
            continue;
        }
        armed.seen += 1;
        if armed.seen == armed.rule.nth {
            armed.fired = true;
            return Some(armed.rule.action.clone());
        }
    }
    None
}

/// The items a `TransactWriteItems` body writes or checks, as `table/pk`, in request order.
fn transaction_items(body: &[u8]) -> Vec<String> {
    let Ok(request) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let items = request["TransactItems"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    items
        .iter()
        .filter_map(|item| {
            let (_, action) = item.as_object()?.iter().next()?;
            let key = action.get("Key").or_else(|| action.get("Item"))?;
            let pk = key["pk"]["S"].as_str()?;
            Some(format!("{}/{pk}", action["TableName"].as_str()?))
        })
        .collect()
}

/// DynamoDB's answer to a transaction that met another one's items: cancelled, with a reason
/// per item (`TransactionConflict` for the held ones).
fn transaction_conflict(items: &[String], held: &HashSet<String>) -> Response<Body> {
    let reasons: Vec<serde_json::Value> = items
        .iter()
        .map(|i| {
            if held.contains(i) {
                serde_json::json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"})
            } else {
                serde_json::json!({"Code": "None"})
            }
        })
        .collect();
    let codes: Vec<&str> = reasons
        .iter()
        .map(|r| r["Code"].as_str().unwrap())
        .collect();
    let body = serde_json::json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "message": format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", codes.join(", ")),
        "CancellationReasons": reasons,
    });
    Response::builder()
        .status(StatusCode::BAD_REQUEST)
        .header("content-type", "application/x-amz-json-1.0")
        .body(Body::from(body.to_string()))
        .expect("a static response")
}

/// Releases a transaction's items when its time is up (or its request is dropped).
struct Holding {
    transactions: Arc<Transactions>,
    items: Vec<String>,
}

impl Drop for Holding {
    fn drop(&mut self) {
        let mut held = self.transactions.held.lock().unwrap();
        for item in &self.items {
            held.remove(item);
        }
    }
}

/// Holds a transaction's items for the emulated time, or answers the conflict DynamoDB would.
async fn hold_items(transactions: &Arc<Transactions>, body: &[u8]) -> Result<(), Response<Body>> {
    let Some(hold) = *transactions.hold.lock().unwrap() else {
        return Ok(());
    };
    let items = transaction_items(body);
    {
        let mut held = transactions.held.lock().unwrap();
        if items.iter().any(|i| held.contains(i)) {
            transactions.conflicts.fetch_add(1, Ordering::SeqCst);
            return Err(transaction_conflict(&items, &held));
        }
        held.extend(items.iter().cloned());
    }
    let _holding = Holding {
        transactions: transactions.clone(),
        items,
    };
    tokio::time::sleep(hold).await;
    Ok(())
}

fn internal_error() -> Response<Body> {
    Response::builder()
        .status(StatusCode::INTERNAL_SERVER_ERROR)
        .header("content-type", "application/x-amz-json-1.0")
        .body(Body::from(
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"fault proxy"}"#,
        ))
        .expect("a static response")
}

async fn forward(
    State(shared): State<Shared>,
    method: Method,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Bytes,
) -> Response<Body> {
    let operation = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or("")
        .to_string();
    let action = strike(&shared, &operation, &body);
    // The items are held for the emulated transaction's time only, not while DynamoDB Local
    // (which runs one transaction at a time) works through the queue behind it.
    if operation == "TransactWriteItems"
        && let Err(conflict) = hold_items(&shared.transactions, &body).await
    {
        return conflict;
    }
    match &action {
        Some(Action::Delay(d)) => tokio::time::sleep(*d).await,
        Some(Action::Fail) => return internal_error(),
        _ => {}
    }
    let mut request = shared
        .client
        .request(method, format!("{}{}", shared.upstream, uri))
        .body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(_) => return internal_error(),
    };
    let status = answer.status();
    let answer_headers = answer.headers().clone();
    let bytes = answer.bytes().await.unwrap_or_default();
    match action {
        Some(Action::LoseAnswer(after)) => {
            tokio::time::sleep(after).await;
            return internal_error();
        }
        Some(Action::Hang) => std::future::pending::<()>().await,
        Some(Action::Kill(pid)) => {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
            std::future::pending::<()>().await;
        }
        _ => {}
    }
    let mut response = Response::builder().status(status.as_u16());
    for (name, value) in &answer_headers {
        if name != "content-length" && name != "transfer-encoding" {
            response = response.header(name.as_str(), value.as_bytes());
        }
    }
    response
        .body(Body::from(bytes))
        .unwrap_or_else(|_| internal_error())
}
