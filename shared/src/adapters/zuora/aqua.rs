//! Zuora's bulk export, AQuA (docs/ARCHITECTURE.md, "Bulk full sync"): one job with one
//! `zoqlexport` query per object, which Zuora runs on one consistent snapshot; the job is
//! polled until its files are ready, then each account's snapshot is assembled from the files
//! (`bulk.rs`).

use super::bulk::{Assembly, OBJECTS};
use super::client::ZuoraClient;
use crate::model::{AccountSnapshot, CallContext, ExportFile, ExportPart, ExportState};
use crate::ports::ZuoraError;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use url::Url;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireJob {
    id: String,
    status: String,
    #[serde(default)]
    batches: Vec<WireBatch>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireBatch {
    name: String,
    status: String,
    #[serde(default)]
    file_id: Option<String>,
    #[serde(default)]
    record_count: Option<u64>,
    #[serde(default)]
    message: Option<String>,
}

/// Job and file ids go into a URL path: only what Zuora issues (hex, dashes) is accepted.
fn checked_id(id: &str) -> Result<&str, ZuoraError> {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if valid {
        Ok(id)
    } else {
        Err(ZuoraError::BadResponse {
            detail: format!("not a Zuora job or file id: {id:?}"),
            attempts: 1,
        })
    }
}

impl ZuoraClient {
    /// Submits the export of every account with its contacts, payment methods, subscriptions,
    /// rate plans, charges and prices; answers the job id. `custom_fields` are the account's
    /// custom fields to read (`Name__c`).
    pub async fn submit_aqua_export(
        &self,
        custom_fields: &[String],
        ctx: &CallContext,
    ) -> Result<String, ZuoraError> {
        let queries: Vec<serde_json::Value> = OBJECTS
            .iter()
            .map(|object| {
                json!({
                    "name": object.name,
                    "query": object.query(custom_fields),
                    "type": "zoqlexport",
                })
            })
            .collect();
        let body = json!({
            "format": "csv",
            "version": "1.1",
            "name": "zuora-sync full export",
            "encrypted": "none",
            "useQueryLabels": "false",
            "dateTimeUtc": "true",
            "queries": queries,
        });
        let url = self.url("/v1/batch-query/");
        let job: WireJob = self
            .send_json(Method::POST, url, Some(&body), "bulk export", ctx)
            .await?;
        Ok(checked_id(&job.id)?.to_string())
    }

    /// Polls a job: running, ready with its files, or failed with Zuora's reason.
    pub async fn aqua_export_state(
        &self,
        job_id: &str,
        ctx: &CallContext,
    ) -> Result<ExportState, ZuoraError> {
        let url = self.path_url(&["v1", "batch-query", "jobs", checked_id(job_id)?]);
        let job: WireJob = self.get_json(url, "bulk export job", ctx).await?;
        Ok(state_of(job))
    }

    /// Streams the files in, parents first, keeping the rows of `part`'s accounts, and
    /// assembles their snapshots.
    pub async fn aqua_export_snapshots(
        &self,
        files: &[ExportFile],
        part: ExportPart,
        ctx: &CallContext,
    ) -> Result<Vec<AccountSnapshot>, ZuoraError> {
        let bad = |detail| ZuoraError::BadResponse {
            detail,
            attempts: 1,
        };
        let mut assembly = Assembly::new(part);
        for file in Assembly::in_order(files) {
            let url = self.path_url(&["v1", "file", checked_id(&file.file_id)?]);
            let mut reader = assembly.reader(&file.object).map_err(bad)?;
            self.stream_file(
                url,
                &format!("{} export file", file.object),
                ctx,
                &mut reader,
            )
            .await?;
            let read = reader.done();
            assembly.add(read);
        }
        assembly.finish().map_err(bad)
    }

    /// The base URL with these path segments, each percent-encoded.
    fn path_url(&self, segments: &[&str]) -> Url {
        let mut url = self.url("/");
        url.path_segments_mut()
            .expect("an http(s) base URL has a path")
            .pop_if_empty()
            .extend(segments);
        url
    }
}

fn state_of(job: WireJob) -> ExportState {
    match job.status.as_str() {
        "submitted" | "executing" | "pending" => ExportState::Running,
        "completed" => {
            let mut files = Vec::new();
            for batch in job.batches {
                match (batch.status.as_str(), batch.file_id) {
                    ("completed", Some(file_id)) => files.push(ExportFile {
                        object: batch.name,
                        file_id,
                        records: batch.record_count.unwrap_or(0),
                    }),
                    (status, _) => {
                        return ExportState::Failed(format!(
                            "the {} query ended {status} without a file{}",
                            batch.name,
                            batch.message.map(|m| format!(": {m}")).unwrap_or_default()
                        ));
                    }
                }
            }
            ExportState::Ready(files)
        }
        other => {
            let reasons: Vec<String> = job
                .batches
                .into_iter()
                .filter_map(|b| {
                    b.message
                        .filter(|m| !m.is_empty())
                        .map(|m| format!("{}: {m}", b.name))
                })
                .collect();
            ExportState::Failed(format!(
                "the export job ended {other}: {}",
                reasons.join("; ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(status: &str, batches: serde_json::Value) -> WireJob {
        serde_json::from_value(json!({"id": "j1", "status": status, "batches": batches})).unwrap()
    }

    #[test]
    fn a_job_is_running_until_completed_and_fails_with_its_batches_reasons() {
        assert_eq!(state_of(job("submitted", json!([]))), ExportState::Running);
        assert_eq!(state_of(job("executing", json!([]))), ExportState::Running);
        let done = job(
            "completed",
            json!([{"name": "Account", "status": "completed", "fileId": "f1", "recordCount": 3}]),
        );
        assert_eq!(
            state_of(done),
            ExportState::Ready(vec![ExportFile {
                object: "Account".into(),
                file_id: "f1".into(),
                records: 3
            }])
        );
        let failed = job(
            "error",
            json!([{"name": "Contact", "status": "aborted", "message": "invalid field for query: Contact.Nope"}]),
        );
        let ExportState::Failed(reason) = state_of(failed) else {
            panic!("an error job failed");
        };
        assert!(reason.contains("Contact.Nope"), "{reason}");
    }

    #[test]
    fn ids_that_could_change_the_path_are_refused() {
        assert!(checked_id("2c92c0f9-6a1b").is_ok());
        for bad in ["", "../v1/accounts", "a/b", "a?b", "a%2Fb"] {
            assert!(checked_id(bad).is_err(), "{bad}");
        }
    }
}
