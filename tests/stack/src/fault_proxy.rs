//! A fault proxy of our own in front of DynamoDB Local, for the fault-injection suite
//! (`tests/stack/tests/faults`): it forwards every request unchanged, except that a rule can
//! strike the Nth request of one operation (optionally only those whose body contains a
//! marker): delay it, fail it unapplied, apply it and lose the answer, apply it and never
//! answer, or apply it and kill a process before answering. Loopback only.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Response, StatusCode};
use std::net::SocketAddr;
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
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    shared: Shared,
}

impl FaultProxy {
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
