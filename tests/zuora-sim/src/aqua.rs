//! AQuA (Aggregate Query API): `POST /v1/batch-query/` submits a job of export queries,
//! `GET /v1/batch-query/jobs/{id}` polls it, `GET /v1/file/{id}` downloads a batch's CSV.
//!
//! A job moves `submitted` → `executing` → `completed` (or `error`) as it is polled, one step
//! every `polls_per_step` polls, so clients must poll as they do against Zuora. All queries of
//! a job run on one snapshot of the data, taken when it starts executing: later edits never
//! reach its files.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::errors::ApiError;
use crate::export::{self, ExportFile, Options};
use crate::state::SimState;
use crate::store::Store;
use crate::time::now_iso;
use crate::zoql;

/// Queries allowed in one job (Zuora error 90004 above it).
pub const MAX_QUERIES: usize = 50;
/// Jobs of a tenant allowed in `submitted` or `executing` at once.
pub const MAX_ACTIVE_JOBS: usize = 50;
/// The WSDL version a batch runs with when the query does not name one.
const API_VERSION: &str = "91.0";
/// Optional job settings Zuora echoes back in the job.
const ECHOED: [&str; 6] = [
    "partner",
    "project",
    "incrementalTime",
    "sourceData",
    "notifyUrl",
    "nullReplacement",
];

type ApiResult = Result<Response, ApiError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobStatus {
    Submitted,
    Executing,
    Completed,
    Error,
    Cancelled,
}

impl JobStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::Executing => "executing",
            Self::Completed => "completed",
            Self::Error => "error",
            Self::Cancelled => "cancelled",
        }
    }

    fn is_active(self) -> bool {
        matches!(self, Self::Submitted | Self::Executing)
    }
}

struct Batch {
    id: String,
    name: String,
    text: String,
    query: zoql::Query,
    batch_type: String,
    api_version: String,
    /// Set when the job starts executing: the file, or why the batch was aborted.
    result: Option<Result<ExportFile, String>>,
    file_id: Option<String>,
}

struct Job {
    id: String,
    status: JobStatus,
    /// Polls seen in the current status.
    polls: u32,
    /// The submitted settings, echoed back.
    settings: Map<String, Value>,
    options: Options,
    start_time: String,
    batches: Vec<Batch>,
}

/// The jobs and files of one simulator.
#[derive(Default)]
pub struct Aqua {
    jobs: HashMap<String, Job>,
    files: HashMap<String, String>,
}

impl Aqua {
    fn active_jobs(&self) -> usize {
        self.jobs
            .values()
            .filter(|job| job.status.is_active())
            .count()
    }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::zuora(StatusCode::BAD_REQUEST, 20, message)
}

// ---------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------

/// `POST /v1/batch-query/`.
pub async fn submit(State(state): State<Arc<SimState>>, body: Bytes) -> ApiResult {
    let body: Value =
        serde_json::from_slice(&body).map_err(|_| bad_request("Malformed JSON request body"))?;
    let mut job = parse_job(&body)?;
    let mut aqua = state.aqua();
    if aqua.active_jobs() >= MAX_ACTIVE_JOBS {
        return Err(ApiError::zuora(
            StatusCode::TOO_MANY_REQUESTS,
            70,
            format!(
                "The number of concurrent AQuA jobs exceeded the limit of {MAX_ACTIVE_JOBS}. Please resubmit after running jobs complete."
            ),
        ));
    }
    job.id = new_id();
    let body = render_job(&job);
    aqua.jobs.insert(job.id.clone(), job);
    Ok(Json(body).into_response())
}

/// `GET /v1/batch-query/jobs/{id}`: the job, one poll further.
pub async fn job(State(state): State<Arc<SimState>>, Path(id): Path<String>) -> ApiResult {
    let polls_per_step = state.aqua_polls_per_step();
    let mut aqua = state.aqua();
    let Aqua { jobs, files } = &mut *aqua;
    let job = jobs.get_mut(&id).ok_or_else(|| invalid_job(&id))?;
    job.polls += 1;
    if job.status.is_active() && job.polls >= polls_per_step {
        job.polls = 0;
        match job.status {
            JobStatus::Submitted => execute(job, &state.store()),
            _ => complete(job, files),
        }
    }
    Ok(Json(render_job(job)).into_response())
}

/// `DELETE /v1/batch-query/jobs/{id}`: cancels a job that has not finished.
pub async fn cancel(State(state): State<Arc<SimState>>, Path(id): Path<String>) -> ApiResult {
    let mut aqua = state.aqua();
    let job = aqua.jobs.get_mut(&id).ok_or_else(|| invalid_job(&id))?;
    if !job.status.is_active() {
        return Err(bad_request("Invalid Job Id for job cancellation."));
    }
    job.status = JobStatus::Cancelled;
    Ok(Json(render_job(job)).into_response())
}

/// `GET /v1/file/{id}`: a completed batch's CSV.
pub async fn file(State(state): State<Arc<SimState>>, Path(id): Path<String>) -> ApiResult {
    let aqua = state.aqua();
    let csv = aqua
        .files
        .get(&id)
        .ok_or_else(|| ApiError::not_found(&id, StatusCode::NOT_FOUND))?;
    let headers = [(header::CONTENT_TYPE, "text/csv; charset=utf-8")];
    Ok((headers, csv.clone()).into_response())
}

fn invalid_job(id: &str) -> ApiError {
    ApiError::zuora(StatusCode::NOT_FOUND, 40, format!("Invalid Job Id: {id}."))
}

// ---------------------------------------------------------------------------------------------
// Jobs
// ---------------------------------------------------------------------------------------------

/// Validates a submitted job; queries with a syntax error are refused here, unknown objects
/// and fields only abort their batch when the job runs (as Zuora does).
fn parse_job(body: &Value) -> Result<Job, ApiError> {
    let text = |key: &str, default: &str| {
        body.get(key)
            .and_then(Value::as_str)
            .unwrap_or(default)
            .to_string()
    };
    let format = text("format", "csv");
    if !format.eq_ignore_ascii_case("csv") {
        return Err(bad_request(format!("Unsupported format: {format}")));
    }
    let version = text("version", "1.1");
    if version != "1.0" && version != "1.1" {
        return Err(bad_request(format!("Unsupported version: {version}")));
    }
    let queries = body.get("queries").and_then(Value::as_array);
    let queries = queries
        .filter(|list| !list.is_empty())
        .ok_or_else(|| bad_request("There are no queries included in the AQuA request."))?;
    if queries.len() > MAX_QUERIES {
        return Err(bad_request(format!(
            "Invalid number of queries allowed. A maximum of {MAX_QUERIES} queries are supported in an AQuA request."
        )));
    }
    let flag = |key: &str| text(key, "false").eq_ignore_ascii_case("true");
    let mut settings = Map::new();
    settings.insert("name".into(), Value::String(text("name", "")));
    settings.insert("format".into(), Value::String(format.to_ascii_uppercase()));
    settings.insert("version".into(), Value::String(version));
    settings.insert("encrypted".into(), Value::String(text("encrypted", "none")));
    settings.insert(
        "useQueryLabels".into(),
        Value::String(flag("useQueryLabels").to_string()),
    );
    settings.insert(
        "dateTimeUtc".into(),
        Value::String(flag("dateTimeUtc").to_string()),
    );
    for key in ECHOED {
        if let Some(value) = body.get(key) {
            settings.insert(key.into(), value.clone());
        }
    }
    let options = Options {
        qualified: true,
        query_labels: flag("useQueryLabels"),
        utc: flag("dateTimeUtc"),
        null_replacement: text("nullReplacement", ""),
    };
    Ok(Job {
        id: String::new(),
        status: JobStatus::Submitted,
        polls: 0,
        settings,
        options,
        start_time: now_iso(),
        batches: queries.iter().map(parse_batch).collect::<Result<_, _>>()?,
    })
}

fn parse_batch(query: &Value) -> Result<Batch, ApiError> {
    let field = |key: &str| query.get(key).and_then(Value::as_str);
    let text = field("query").ok_or_else(|| bad_request("Each query needs a \"query\"."))?;
    let batch_type = field("type").unwrap_or("zoqlexport");
    if batch_type != "zoql" && batch_type != "zoqlexport" {
        return Err(bad_request(format!("Invalid query type: {batch_type}")));
    }
    let parsed = zoql::parse_export(text).map_err(|_| {
        bad_request("There is a syntax error in one of the queries in the AQuA input.")
    })?;
    Ok(Batch {
        id: new_id(),
        name: field("name").unwrap_or_default().to_string(),
        text: text.to_string(),
        query: parsed,
        batch_type: batch_type.to_string(),
        api_version: field("apiVersion").unwrap_or(API_VERSION).to_string(),
        result: None,
        file_id: None,
    })
}

/// Starts executing: every batch runs now, on this one read of the store.
fn execute(job: &mut Job, store: &Store) {
    for batch in &mut job.batches {
        let options = Options {
            qualified: batch.batch_type == "zoqlexport",
            ..job.options.clone()
        };
        batch.result = Some(export::run(&batch.query, store, &options));
    }
    job.status = JobStatus::Executing;
}

/// Publishes the files of the batches that ran; an aborted batch makes the job `error`.
fn complete(job: &mut Job, files: &mut HashMap<String, String>) {
    let mut failed = false;
    for batch in &mut job.batches {
        match &batch.result {
            Some(Ok(file)) => {
                let id = new_id();
                files.insert(id.clone(), file.csv.clone());
                batch.file_id = Some(id);
            }
            _ => failed = true,
        }
    }
    job.status = if failed {
        JobStatus::Error
    } else {
        JobStatus::Completed
    };
}

fn render_job(job: &Job) -> Value {
    let mut out = job.settings.clone();
    out.insert("id".into(), Value::String(job.id.clone()));
    out.insert("status".into(), Value::String(job.status.as_str().into()));
    out.insert("startTime".into(), Value::String(job.start_time.clone()));
    let batches = job
        .batches
        .iter()
        .map(|batch| render_batch(job, batch))
        .collect();
    out.insert("batches".into(), Value::Array(batches));
    Value::Object(out)
}

fn render_batch(job: &Job, batch: &Batch) -> Value {
    let status = match (job.status, &batch.result) {
        (JobStatus::Submitted, _) => "pending",
        (JobStatus::Executing, _) => "executing",
        (JobStatus::Cancelled, _) => "cancelled",
        (_, Some(Ok(_))) => "completed",
        _ => "aborted",
    };
    let mut out = json!({
        "batchId": batch.id,
        "name": batch.name,
        "query": batch.text,
        "status": status,
        "localizedStatus": status,
        "batchType": batch.batch_type,
        "apiVersion": batch.api_version,
        "full": true,
        "message": "",
    });
    match (&batch.result, &batch.file_id) {
        (Some(Ok(file)), Some(file_id)) => {
            out["recordCount"] = json!(file.record_count);
            out["fileId"] = json!(file_id);
        }
        (Some(Err(message)), _) if status == "aborted" => {
            out["recordCount"] = json!(0);
            out["message"] = json!(message);
        }
        _ => {}
    }
    out
}
