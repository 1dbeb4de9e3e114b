//! Local stand-ins for the Lambda plumbing: an HTTP server for the API's router, and an SQS
//! poller that feeds batches to the worker like the Lambda event source mapping does (deleting
//! only the messages the worker did not report as failed).

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use zuora_sync::handlers::http::{Api, Mount, router};
use zuora_sync::handlers::post_login::PostLogin;
use zuora_sync::handlers::sqs_worker::Worker;

/// Serves the API's routes on `addr` until `shutdown` turns true; with `login`, the post-login
/// hook route too (API Gateway sends it to the post-login function; here one router has both).
pub async fn serve_api(
    api: Arc<Api>,
    login: Option<Arc<PostLogin>>,
    addr: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    // The console's dev sign-in answers on the API's origin, in front of the API's routes.
    let app = crate::dev_idp::routes().merge(crate::aws_ops::attributed(router(Mount {
        base_path: api.base_path.clone(),
        api: Some(api),
        hook: login.map(|l| l.hook_route()),
    })));
    tokio::spawn(async move {
        let stop = async move {
            while !*shutdown.borrow() {
                if shutdown.changed().await.is_err() {
                    break;
                }
            }
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %e, "local API server stopped");
        }
    });
    Ok(bound)
}

/// Receives batches from the queue and hands them to the worker until `shutdown`.
pub async fn poll_queue(
    worker: Arc<Worker>,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    invocation_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    while !*shutdown.borrow() {
        tokio::select! {
            _ = shutdown.changed() => {}
            result = poll_once(&worker, &sqs, &queue_url, invocation_timeout) => {
                if let Err(e) = result {
                    tracing::warn!(error = %e, "queue poll failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
}

/// One receive → worker → delete round. Returns how many messages were received.
pub async fn poll_once(
    worker: &Worker,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    invocation_timeout: Duration,
) -> Result<usize, String> {
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let messages = received.messages();
    if messages.is_empty() {
        return Ok(0);
    }
    let records: Vec<SqsMessage> = messages.iter().map(to_event_record).collect();
    // On the services' clock (a test's may be ahead of the system's).
    let deadline = worker
        .sync
        .now()
        .plus_ms(invocation_timeout.as_millis() as i64);
    let mut event = SqsEvent::default();
    event.records = records;
    // The handler runs as sync-worker; the receive and delete around it are the platform's.
    let response = crate::aws_ops::as_function("sync-worker", worker.handle(event, deadline)).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    // Like Lambda's event source: the messages that succeeded are deleted (one batch call);
    // the failed ones become visible again after the visibility timeout.
    let done: Vec<aws_sdk_sqs::types::DeleteMessageBatchRequestEntry> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| !failed.contains(&m.message_id().unwrap_or("")))
        .filter_map(|(i, m)| {
            aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle()?)
                .build()
                .ok()
        })
        .collect();
    if !done.is_empty() {
        sqs.delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(done))
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
    }
    Ok(messages.len())
}

fn to_event_record(m: &aws_sdk_sqs::types::Message) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = m.message_id().map(str::to_string);
    record.receipt_handle = m.receipt_handle().map(str::to_string);
    record.body = m.body().map(str::to_string);
    record.md5_of_body = m.md5_of_body().map(str::to_string);
    record.event_source = Some("aws:sqs".into());
    if let Some(attrs) = m.attributes() {
        record.attributes = attrs
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.clone()))
            .collect();
    }
    record
}
