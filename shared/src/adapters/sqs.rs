//! The job queue on SQS: batched sends, delays capped at SQS's 15 minutes.

use crate::model::{QueueDepth, SyncJob};
use crate::ports::{Cause, JobQueue, QueueError};
use std::time::Duration;

/// SQS refuses longer delays.
const MAX_DELAY: Duration = Duration::from_secs(900);
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

/// The SQS failure, with its service code and message, kept as the source.
fn sqs_error<E: std::error::Error + Send + Sync + 'static>(e: E) -> QueueError {
    let text = aws_sdk_sqs::error::DisplayErrorContext(&e).to_string();
    QueueError(Cause::with_source(text, e))
}

/// SQS takes at most 10 messages per batch.
const SQS_BATCH: usize = 10;

pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    /// The dead-letter queue, for its depth (the status shows it).
    dead_letter_url: Option<String>,
}

impl SqsQueue {
    /// One SendMessageBatch; answers the indexes it did not send.
    async fn send_batch(
        &self,
        indexes: Vec<usize>,
        entries: Vec<SendMessageBatchRequestEntry>,
    ) -> Vec<usize> {
        let sent = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await;
        match sent {
            Ok(out) => {
                let ok: Vec<usize> = out
                    .successful()
                    .iter()
                    .filter_map(|s| s.id().parse().ok())
                    .collect();
                indexes.into_iter().filter(|i| !ok.contains(i)).collect()
            }
            Err(e) => {
                tracing::error!(error = ?e, "a batch of jobs could not be queued");
                indexes
            }
        }
    }

    pub fn new(client: aws_sdk_sqs::Client, queue_url: String) -> Self {
        Self {
            client,
            queue_url,
            dead_letter_url: None,
        }
    }

    /// Knows the dead-letter queue too, to count it.
    pub fn with_dead_letter(mut self, url: Option<String>) -> Self {
        self.dead_letter_url = url;
        self
    }

    /// The queue's approximate message counts: visible, in flight, delayed.
    async fn counts(&self, url: &str) -> Result<[u64; 3], QueueError> {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let names = [
            A::ApproximateNumberOfMessages,
            A::ApproximateNumberOfMessagesNotVisible,
            A::ApproximateNumberOfMessagesDelayed,
        ];
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .set_attribute_names(Some(names.to_vec()))
            .send()
            .await
            .map_err(sqs_error)?;
        let attrs = out.attributes();
        Ok(names.map(|name| {
            attrs
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        }))
    }

    /// A cheap call that opens the connection during init.
    pub async fn warm_up(&self) -> Result<(), QueueError> {
        self.client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout)
            .send()
            .await
            .map(|_| ())
            .map_err(sqs_error)
    }
}

#[async_trait::async_trait]
impl JobQueue for SqsQueue {
    async fn depth(&self) -> Result<QueueDepth, QueueError> {
        let [waiting, in_flight, delayed] = self.counts(&self.queue_url).await?;
        let dead_letter = match &self.dead_letter_url {
            Some(url) => Some(self.counts(url).await?.iter().sum()),
            None => None,
        };
        Ok(QueueDepth {
            waiting,
            in_flight,
            delayed,
            dead_letter,
        })
    }

    async fn hand_back(&self, receipt: &str, after: Duration) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(after.as_secs().min(43_200) as i32)
            .send()
            .await
            .map(|_| ())
            .map_err(sqs_error)
    }

    /// Batches of 10 sent concurrently (a session can queue thousands of accounts).
    async fn send_many(&self, jobs: &[SyncJob]) -> Vec<usize> {
        use futures::StreamExt;
        let batches: Vec<(Vec<usize>, Vec<SendMessageBatchRequestEntry>)> = jobs
            .chunks(SQS_BATCH)
            .enumerate()
            .map(|(b, chunk)| {
                let first = b * SQS_BATCH;
                let indexes: Vec<usize> = (first..first + chunk.len()).collect();
                let entries = chunk
                    .iter()
                    .zip(&indexes)
                    .filter_map(|(job, i)| {
                        let body = body(job).ok()?;
                        SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(body)
                            .build()
                            .ok()
                    })
                    .collect();
                (indexes, entries)
            })
            .collect();
        let failed: Vec<Vec<usize>> = futures::stream::iter(
            batches
                .into_iter()
                .map(|(indexes, entries)| self.send_batch(indexes, entries)),
        )
        .buffer_unordered(8)
        .collect()
        .await;
        let mut failed: Vec<usize> = failed.into_iter().flatten().collect();
        failed.sort_unstable();
        failed
    }

    async fn send(&self, job: &SyncJob, delay: Option<Duration>) -> Result<(), QueueError> {
        let body = body(job)
            .map_err(|e| QueueError(Cause::with_source("the job does not serialise", e)))?;
        let delay = delay.map(|d| d.min(MAX_DELAY).as_secs() as i32);
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .set_delay_seconds(delay)
            .send()
            .await
            .map(|_| ())
            .map_err(sqs_error)
    }
}

/// A job's message body: its JSON, with the two characters SQS refuses in a message and
/// serde_json leaves as they are (U+FFFE, U+FFFF; a bulk job carries Zuora's text) written as
/// JSON escapes, which read back as the same characters.
fn body(job: &SyncJob) -> serde_json::Result<String> {
    let json = serde_json::to_string(job)?;
    if !json.contains(['\u{FFFE}', '\u{FFFF}']) {
        return Ok(json);
    }
    Ok(json
        .replace('\u{FFFE}', "\\ufffe")
        .replace('\u{FFFF}', "\\uffff"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EntityId, EpochMillis, JobTarget, Trigger};

    #[test]
    fn a_body_never_holds_the_characters_sqs_refuses_and_reads_back_the_same() {
        let job = SyncJob::new(
            EntityId::parse("default").unwrap(),
            JobTarget::Lookup {
                field: "Name__c".into(),
                value: "a\u{FFFE}b\u{FFFF}c".into(),
            },
            Trigger::Full,
            "c".into(),
            EpochMillis(0),
        );
        let sent = body(&job).unwrap();
        assert!(!sent.contains(['\u{FFFE}', '\u{FFFF}']), "{sent}");
        assert_eq!(SyncJob::parse(&sent).unwrap(), job);
    }
}
