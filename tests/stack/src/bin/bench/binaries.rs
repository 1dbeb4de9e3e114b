//! Each function binary as Lambda runs it: its size (stripped), the time from its start to its
//! first poll of the runtime API's `/next` (the init phase), and its memory after one invoke
//! of its `events/` sample. The runtime API is served here (the same paths and headers as
//! Lambda's), so nothing else runs between the start and the poll.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use stack::app::TestApp;
use stack::token::{DEV_AUDIENCE, DEV_ISSUER, DEV_SECRET};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Starts per function: the init time is their median.
const STARTS: usize = 21;

/// (binary, its sample in `events/`).
const FUNCTIONS: [(&str, &str); 4] = [
    ("sync-api", "sync-api-subscription.json"),
    ("sync-worker", "sync-worker-sqs.json"),
    ("post-login", "post-login-cognito.json"),
    ("sync-sweep", "sync-sweep-schedule.json"),
];

const REQUEST_ID: &str = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";

/// One start of a function, as the runtime API saw it.
#[derive(Default)]
struct Seen {
    event: Vec<u8>,
    first_poll: Option<Instant>,
    answered: Option<(Instant, &'static str, Bytes)>,
    polls: u32,
}

#[derive(Clone)]
struct Runtime {
    seen: Arc<Mutex<Seen>>,
    answered: Arc<Notify>,
}

async fn next(State(rt): State<Runtime>) -> impl IntoResponse {
    let (first, event) = {
        let mut seen = rt.seen.lock().unwrap();
        seen.polls += 1;
        if seen.first_poll.is_none() {
            seen.first_poll = Some(Instant::now());
        }
        (seen.polls == 1, seen.event.clone())
    };
    if !first {
        // One invocation only: the process is measured and stopped while it waits here.
        std::future::pending::<()>().await;
    }
    let deadline = zuora_sync::adapters::clock::SystemClock;
    let deadline = zuora_sync::ports::Clock::now(&deadline).plus_ms(30_000).0;
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", REQUEST_ID.parse().unwrap());
    headers.insert("lambda-runtime-deadline-ms", deadline.into());
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:bench"
            .parse()
            .unwrap(),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"
            .parse()
            .unwrap(),
    );
    (StatusCode::OK, headers, event)
}

async fn respond(kind: &'static str, rt: &Runtime, body: Bytes) -> StatusCode {
    rt.seen.lock().unwrap().answered = Some((Instant::now(), kind, body));
    rt.answered.notify_one();
    StatusCode::ACCEPTED
}

fn runtime_api(rt: Runtime) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(
                |State(rt): State<Runtime>, Path(_): Path<String>, body: Bytes| async move {
                    respond("response", &rt, body).await
                },
            ),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            post(
                |State(rt): State<Runtime>, Path(_): Path<String>, body: Bytes| async move {
                    respond("error", &rt, body).await
                },
            ),
        )
        .route(
            "/2018-06-01/runtime/init/error",
            post(|State(rt): State<Runtime>, body: Bytes| async move {
                respond("init error", &rt, body).await
            }),
        )
        .with_state(rt)
}

/// What one start measured.
struct Start {
    init: Duration,
    invoke: Duration,
    rss_kb: u64,
    peak_kb: u64,
}

fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The environment a function reads, pointing at the bench's tables, queue and simulator.
fn function_env(app: &TestApp) -> Vec<(&'static str, String)> {
    let tables = app.tables();
    vec![
        ("MIRROR_TABLE", tables.mirror.clone()),
        ("LOCKS_TABLE", tables.locks.clone()),
        ("EVENTS_TABLE", tables.events.clone()),
        ("STATE_TABLE", tables.state.clone()),
        ("SYNC_QUEUE_URL", app.queue.queue_url.clone()),
        ("SYNC_DLQ_URL", app.queue.dlq_url.clone()),
        ("ZUORA_BASE_URL", app.sim.base_url.clone()),
        ("ZUORA_CLIENT_ID", "sim-client".into()),
        ("ZUORA_CLIENT_SECRET", "sim-secret".into()),
        ("ZUORA_ENTITY_ID", app.entity.to_string()),
        ("JWT_HS256_SECRET", DEV_SECRET.into()),
        ("JWT_ISSUER", DEV_ISSUER.into()),
        ("JWT_AUDIENCE", DEV_AUDIENCE.into()),
        ("CALLOUT_BASIC_USER", "zuora-callouts".into()),
        (
            "CALLOUT_BASIC_PASSWORD",
            "callout-password-for-tests".into(),
        ),
        ("OUTBOUND_ALLOW_LOOPBACK", "true".into()),
        ("RUST_LOG", "warn".into()),
        ("AWS_LAMBDA_FUNCTION_NAME", "bench".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench".into()),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench".into()),
    ]
}

/// The sample with a fresh token where it carries a placeholder.
fn sample(name: &str, token: &str) -> Vec<u8> {
    let path = workspace().join("events").join(name);
    let mut event: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("the sample exists")).unwrap();
    if let Some(auth) = event.pointer_mut("/headers/authorization")
        && auth.as_str().is_some_and(|a| a.starts_with("Bearer "))
    {
        *auth = format!("Bearer {token}").into();
    }
    serde_json::to_vec(&event).unwrap()
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

async fn start_once(app: &TestApp, binary: &PathBuf, event: Vec<u8>) -> Start {
    let rt = Runtime {
        seen: Arc::new(Mutex::new(Seen {
            event,
            ..Seen::default()
        })),
        answered: Arc::new(Notify::new()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(axum::serve(listener, runtime_api(rt.clone())).into_future());
    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .envs(function_env(app))
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        // Its log lines (metrics included) would bury the table.
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the function binary starts");
    let pid = child.id().expect("a running child has a pid");
    tokio::time::timeout(Duration::from_secs(30), rt.answered.notified())
        .await
        .unwrap_or_else(|_| panic!("{} did not answer its invocation", binary.display()));
    let (rss_kb, peak_kb) = (status_kb(pid, "VmRSS:"), status_kb(pid, "VmHWM:"));
    child.kill().await.ok();
    server.abort();
    let seen = rt.seen.lock().unwrap();
    let first_poll = seen.first_poll.expect("polled before answering");
    let (answered, kind, body) = seen.answered.clone().expect("answered");
    assert_eq!(
        kind,
        "response",
        "{} answered with an {kind}: {}",
        binary.display(),
        String::from_utf8_lossy(&body)
    );
    Start {
        init: first_poll - started,
        invoke: answered - first_poll,
        rss_kb,
        peak_kb,
    }
}

fn stripped_size(binary: &PathBuf) -> u64 {
    let out = std::env::temp_dir().join(format!("zs-bench-strip-{}", std::process::id()));
    let status = std::process::Command::new("strip")
        .arg("-o")
        .arg(&out)
        .arg(binary)
        .status()
        .expect("strip runs");
    assert!(status.success(), "strip {}", binary.display());
    let size = std::fs::metadata(&out).unwrap().len();
    std::fs::remove_file(&out).ok();
    size
}

pub async fn binary_figures(app: &TestApp) {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace().join("target"), PathBuf::from)
        .join("release");
    let token = app.token();
    println!(
        "function binaries (release profile; {STARTS} starts each against a local runtime API; init = start to the first /next poll)"
    );
    println!(
        "  {:<12} {:>9} {:>9} {:>10} {:>10} {:>9} {:>9}",
        "function", "size MB", "stripped", "init p50", "init max", "RSS MB", "peak MB"
    );
    for (name, event) in FUNCTIONS {
        let binary = target.join(name);
        assert!(
            binary.exists(),
            "{} is missing: scripts/bench.sh builds it",
            binary.display()
        );
        let mut starts = Vec::new();
        for _ in 0..STARTS {
            starts.push(start_once(app, &binary, sample(event, &token)).await);
        }
        let mut inits: Vec<Duration> = starts.iter().map(|s| s.init).collect();
        inits.sort();
        let last = starts.last().expect("started");
        let mb = |bytes: u64| bytes as f64 / 1_048_576.0;
        println!(
            "  {:<12} {:>9.1} {:>9.1} {:>8.1}ms {:>8.1}ms {:>9.1} {:>9.1}   (invoke {:.1} ms)",
            name,
            mb(std::fs::metadata(&binary).unwrap().len()),
            mb(stripped_size(&binary)),
            inits[STARTS / 2].as_secs_f64() * 1e3,
            inits[STARTS - 1].as_secs_f64() * 1e3,
            last.rss_kb as f64 / 1024.0,
            last.peak_kb as f64 / 1024.0,
            last.invoke.as_secs_f64() * 1e3,
        );
    }
    println!("  goals: stripped <= 12 MB, init <= 30 ms, RSS after one invoke <= 40 MB");
}
