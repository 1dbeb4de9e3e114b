//! Which AWS operations each Lambda function performs, as IAM sees them: an SDK interceptor on
//! every client of the local stack records each request's IAM action and resource under the
//! function whose entry point is running (the test harness runs sync-api's router, the
//! post-login handler, the worker and the sweep inside [`as_function`]). `scripts/test.sh`
//! collects what every test process recorded (`ZS_AWS_OPS_DIR`) and `check-permissions`
//! compares it with each function's role in `template.yaml` (see [`crate::permissions`]).
//!
//! Requests made outside any entry point (a test's own setup and inspection, the local SQS
//! poller that plays Lambda's event source mapping) are not attributed to a function.

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use serde_json::Value;
use std::collections::BTreeSet;
use std::future::Future;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

/// The four Lambda functions, by their binary names (as `template.yaml`'s `BuildProperties`).
pub const FUNCTIONS: [&str; 4] = ["sync-api", "sync-worker", "post-login", "sync-sweep"];

tokio::task_local! {
    /// The function whose entry point this task is running.
    static FUNCTION: &'static str;
}

/// Runs `fut` as `function` (one of [`FUNCTIONS`]): its AWS requests are recorded under it.
pub async fn as_function<F: Future>(function: &'static str, fut: F) -> F::Output {
    assert!(FUNCTIONS.contains(&function), "unknown function {function}");
    FUNCTION.scope(function, fut).await
}

/// A router whose requests run as the function API Gateway sends them to: the post-login hook
/// route to post-login, everything else to sync-api.
pub fn attributed(router: axum::Router) -> axum::Router {
    router.layer(axum::middleware::from_fn(
        |request: axum::extract::Request, next: axum::middleware::Next| async move {
            let path = request.uri().path().trim_end_matches('/');
            let function = if path.ends_with("/hooks/post-login") {
                "post-login"
            } else {
                "sync-api"
            };
            as_function(function, next.run(request)).await
        },
    ))
}

/// One IAM permission a request needs: `dynamodb:GetItem` on `MirrorTable`, on
/// `EventsTable/index/by_account`, `sqs:SendMessage` on `SyncQueue`, `ses:SendEmail` on
/// `identity/example.com`. Resources are named by the template's logical ids.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    pub action: String,
    pub resource: String,
}

impl Permission {
    pub fn new(action: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            action: action.into(),
            resource: resource.into(),
        }
    }
}

/// What this process recorded: (function, permission).
pub fn recorded() -> BTreeSet<(String, Permission)> {
    seen().lock().expect("recorder lock").clone()
}

fn seen() -> &'static Mutex<BTreeSet<(String, Permission)>> {
    static SEEN: OnceLock<Mutex<BTreeSet<(String, Permission)>>> = OnceLock::new();
    SEEN.get_or_init(Default::default)
}

/// Adds what `function` needed; the first sighting of each is appended to this process's
/// file under `ZS_AWS_OPS_DIR`, so a test process that exits (or is killed) has written it.
fn record(function: &str, permissions: Vec<Permission>) {
    let mut seen = seen().lock().expect("recorder lock");
    let new: Vec<Permission> = permissions
        .into_iter()
        .filter(|p| seen.insert((function.to_string(), p.clone())))
        .collect();
    if new.is_empty() {
        return;
    }
    let Some(dir) = std::env::var_os("ZS_AWS_OPS_DIR") else {
        return;
    };
    let path = std::path::Path::new(&dir).join(format!("{}.tsv", std::process::id()));
    let lines: String = new
        .iter()
        .map(|p| format!("{function}\t{}\t{}\n", p.action, p.resource))
        .collect();
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?
            .write_all(lines.as_bytes())
    });
    if let Err(e) = written {
        panic!("cannot record AWS operations in {}: {e}", path.display());
    }
}

/// The interceptor: put it on every AWS client of the local stack.
#[derive(Debug, Default, Clone)]
pub struct AwsOpRecorder;

impl Intercept for AwsOpRecorder {
    fn name(&self) -> &'static str {
        "AwsOpRecorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(function) = FUNCTION.try_with(|f| *f) else {
            return Ok(());
        };
        let request = context.request();
        let target = request.headers().get("x-amz-target");
        let body = request.body().bytes().unwrap_or_default();
        record(
            function,
            permissions_of(target, request.method(), request.uri(), body),
        );
        Ok(())
    }
}

/// The IAM permissions one request needs. DynamoDB and SQS speak JSON with an `X-Amz-Target`
/// header; SES v2 is REST. A request this does not know is recorded as `unknown:…`, which
/// the check then refuses.
pub fn permissions_of(
    target: Option<&str>,
    method: &str,
    uri: &str,
    body: &[u8],
) -> Vec<Permission> {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if let Some(op) = target.and_then(|t| t.strip_prefix("DynamoDB_20120810.")) {
        return dynamodb(op, &json);
    }
    if let Some(op) = target.and_then(|t| t.strip_prefix("AmazonSQS.")) {
        return vec![Permission::new(sqs_action(op), queue(&json["QueueUrl"]))];
    }
    if let Some(op) = target.and_then(|t| t.strip_prefix("secretsmanager.")) {
        return vec![Permission::new(
            format!("secretsmanager:{op}"),
            secret(json["SecretId"].as_str().unwrap_or("?")),
        )];
    }
    let path = uri.split('?').next().unwrap_or(uri);
    if method == "POST" && path.ends_with("/v2/email/outbound-emails") {
        let from = json["FromEmailAddress"].as_str().unwrap_or("");
        return vec![Permission::new("ses:SendEmail", ses_identity(from))];
    }
    vec![Permission::new(
        format!("unknown:{}", target.unwrap_or(method)),
        path.to_string(),
    )]
}

/// Transactions and batches are authorised per contained action and table.
fn dynamodb(op: &str, body: &Value) -> Vec<Permission> {
    let each = |items: &Value, f: &dyn Fn(&str, &Value) -> Option<Permission>| {
        items
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| {
                item.as_object()
                    .and_then(|o| o.iter().next())
                    .and_then(|(k, v)| f(k, v))
            })
            .collect::<Vec<_>>()
    };
    match op {
        "TransactWriteItems" => each(&body["TransactItems"], &|kind, v| {
            let action = match kind {
                "Put" => "PutItem",
                "Update" => "UpdateItem",
                "Delete" => "DeleteItem",
                "ConditionCheck" => "ConditionCheckItem",
                _ => return None,
            };
            Some(Permission::new(
                format!("dynamodb:{action}"),
                table(&v["TableName"]),
            ))
        }),
        "TransactGetItems" => each(&body["TransactItems"], &|_, v| {
            Some(Permission::new("dynamodb:GetItem", table(&v["TableName"])))
        }),
        "BatchGetItem" | "BatchWriteItem" => body["RequestItems"]
            .as_object()
            .into_iter()
            .flat_map(|items| items.keys())
            .map(|name| Permission::new(format!("dynamodb:{op}"), table_name(name)))
            .collect(),
        _ => {
            let mut resource = table(&body["TableName"]);
            if let Some(index) = body["IndexName"].as_str() {
                resource = format!("{resource}/index/{index}");
            }
            vec![Permission::new(format!("dynamodb:{op}"), resource)]
        }
    }
}

/// The batch forms are authorised as their single forms (IAM has no `…Batch` actions).
fn sqs_action(op: &str) -> String {
    let single = op.strip_suffix("Batch").unwrap_or(op);
    format!("sqs:{single}")
}

fn table(name: &Value) -> String {
    table_name(name.as_str().unwrap_or("?"))
}

/// The template's logical id of a table the local stack named `{prefix}-{suffix}`.
fn table_name(name: &str) -> String {
    crate::schema::logical_table(name)
        .unwrap_or(name)
        .to_string()
}

fn queue(url: &Value) -> String {
    let url = url.as_str().unwrap_or("?");
    let name = url.rsplit('/').next().unwrap_or(url);
    crate::schema::logical_queue(name)
        .unwrap_or(name)
        .to_string()
}

/// The template parameter holding a secret's ARN: the local stack names its secrets
/// `{prefix}-zuora` (Zuora and webhook secrets) and `{prefix}-callouts`; an ARN ends with
/// the name and a 6-character suffix.
fn secret(id: &str) -> String {
    let name = match id.split_once(":secret:") {
        Some((_, rest)) => rest.rsplit_once('-').map_or(rest, |(name, _)| name),
        None => id,
    };
    if name.ends_with(ZUORA_SECRET_SUFFIX) {
        "ZuoraSecretArn".into()
    } else if name.ends_with(CALLOUT_SECRET_SUFFIX) {
        "CalloutSecretArn".into()
    } else {
        name.to_string()
    }
}

/// Name suffixes of the local stack's secrets (see [`secret`]).
pub const ZUORA_SECRET_SUFFIX: &str = "-zuora";
pub const CALLOUT_SECRET_SUFFIX: &str = "-callouts";

/// SES authorises a send on the verified identity; the product sends only from addresses of
/// the one configured domain, so that domain is the resource.
fn ses_identity(from: &str) -> String {
    let address = from
        .rsplit('<')
        .next()
        .unwrap_or(from)
        .trim_end_matches('>');
    let domain = address.rsplit('@').next().unwrap_or(address);
    format!("identity/{}", domain.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(target: &str, body: Value) -> Vec<Permission> {
        permissions_of(Some(target), "POST", "/", body.to_string().as_bytes())
    }

    #[test]
    fn a_transaction_needs_each_contained_action_on_each_table() {
        let got = one(
            "DynamoDB_20120810.TransactWriteItems",
            serde_json::json!({"TransactItems": [
                {"Put": {"TableName": "t1-mirror"}},
                {"ConditionCheck": {"TableName": "t1-locks"}},
                {"Delete": {"TableName": "t1-mirror"}},
                {"Update": {"TableName": "t1-events"}},
            ]}),
        );
        assert_eq!(
            got,
            vec![
                Permission::new("dynamodb:PutItem", "MirrorTable"),
                Permission::new("dynamodb:ConditionCheckItem", "LocksTable"),
                Permission::new("dynamodb:DeleteItem", "MirrorTable"),
                Permission::new("dynamodb:UpdateItem", "EventsTable"),
            ]
        );
    }

    #[test]
    fn queries_name_their_index_and_batches_each_table() {
        assert_eq!(
            one(
                "DynamoDB_20120810.Query",
                serde_json::json!({"TableName": "t1-events", "IndexName": "by_account"})
            ),
            vec![Permission::new(
                "dynamodb:Query",
                "EventsTable/index/by_account"
            )]
        );
        assert_eq!(
            one(
                "DynamoDB_20120810.BatchGetItem",
                serde_json::json!({"RequestItems": {"t1-state": {}}})
            ),
            vec![Permission::new("dynamodb:BatchGetItem", "StateTable")]
        );
    }

    #[test]
    fn sqs_batches_are_their_single_actions_and_ses_is_the_sender_domain() {
        assert_eq!(
            one(
                "AmazonSQS.SendMessageBatch",
                serde_json::json!({"QueueUrl": "http://localhost:1/123/t1-sync"})
            ),
            vec![Permission::new("sqs:SendMessage", "SyncQueue")]
        );
        let body = serde_json::json!({"FromEmailAddress": "Sync <sync@Example.com>"});
        assert_eq!(
            permissions_of(
                None,
                "POST",
                "https://email.us-east-1.amazonaws.com/v2/email/outbound-emails",
                body.to_string().as_bytes()
            ),
            vec![Permission::new("ses:SendEmail", "identity/example.com")]
        );
    }

    #[test]
    fn secrets_are_named_by_their_template_parameter() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:t1-zuora-AbC123";
        assert_eq!(
            one(
                "secretsmanager.GetSecretValue",
                serde_json::json!({"SecretId": arn})
            ),
            vec![Permission::new(
                "secretsmanager:GetSecretValue",
                "ZuoraSecretArn"
            )]
        );
    }

    #[test]
    fn an_unknown_request_is_recorded_as_unknown() {
        let got = one("AWSCognito.AdminGetUser", serde_json::json!({}));
        assert!(got[0].action.starts_with("unknown:"), "{got:?}");
    }
}
