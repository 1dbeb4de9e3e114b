//! The DynamoDB tables and SQS queues, as the local stack and the tests create them. They must
//! match `template.yaml` exactly; `tests/template.rs` checks that.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use std::collections::HashMap;
use zuora_sync::adapters::dynamo::Tables;

pub struct GsiSpec {
    pub name: &'static str,
    pub hash: &'static str,
    pub range: Option<&'static str>,
}

pub struct TableSpec {
    /// The resource's logical id in `template.yaml`.
    pub logical_id: &'static str,
    pub hash: &'static str,
    pub range: Option<&'static str>,
    pub indexes: &'static [GsiSpec],
    pub ttl: Option<&'static str>,
}

pub const MIRROR: TableSpec = TableSpec {
    logical_id: "MirrorTable",
    hash: "pk",
    range: Some("sk"),
    indexes: &[GsiSpec {
        name: "by_local_id",
        hash: "local_id",
        range: None,
    }],
    ttl: None,
};

pub const LOCKS: TableSpec = TableSpec {
    logical_id: "LocksTable",
    hash: "pk",
    range: None,
    indexes: &[],
    ttl: Some("expires_at"),
};

/// Every event index sorts by `created_sk`, so search is newest-first and time-bounded.
const fn by(name: &'static str, hash: &'static str) -> GsiSpec {
    GsiSpec {
        name,
        hash,
        range: Some("created_sk"),
    }
}

pub const EVENTS: TableSpec = TableSpec {
    logical_id: "EventsTable",
    hash: "pk",
    range: None,
    indexes: &[
        by("by_account", "account_pk"),
        by("by_subscription", "subscription_pk"),
        by("by_customer", "customer_pk"),
        by("by_status", "status_pk"),
        by("by_trigger", "trigger_pk"),
        by("by_entity", "entity_pk"),
    ],
    ttl: Some("expires_at"),
};

pub const STATE: TableSpec = TableSpec {
    logical_id: "StateTable",
    hash: "pk",
    range: None,
    indexes: &[],
    ttl: Some("expires_at"),
};

pub const ALL_TABLES: [&TableSpec; 4] = [&MIRROR, &LOCKS, &EVENTS, &STATE];

/// Queue settings shared with the template: visibility 6× the worker timeout, DLQ after 5.
pub const MAX_RECEIVE_COUNT: u32 = 5;

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .expect("name and type are set")
}

fn keys(hash: &str, range: Option<&str>) -> Vec<KeySchemaElement> {
    let mut out = vec![key(hash, KeyType::Hash)];
    out.extend(range.map(|r| key(r, KeyType::Range)));
    out
}

pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    spec: &TableSpec,
) -> Result<(), String> {
    let mut attrs: Vec<&str> = vec![spec.hash];
    attrs.extend(spec.range);
    for gsi in spec.indexes {
        attrs.push(gsi.hash);
        attrs.extend(gsi.range);
    }
    attrs.sort();
    attrs.dedup();
    let definitions = attrs
        .iter()
        .map(|a| {
            AttributeDefinition::builder()
                .attribute_name(*a)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("name and type are set")
        })
        .collect();
    let indexes: Vec<GlobalSecondaryIndex> = spec
        .indexes
        .iter()
        .map(|g| {
            GlobalSecondaryIndex::builder()
                .index_name(g.name)
                .set_key_schema(Some(keys(g.hash, g.range)))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .expect("index fields are set")
        })
        .collect();
    client
        .create_table()
        .table_name(name)
        .set_attribute_definitions(Some(definitions))
        .set_key_schema(Some(keys(spec.hash, spec.range)))
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map_err(|e| format!("create table {name}: {e:?}"))?;
    if let Some(attr) = spec.ttl {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attr)
                    .enabled(true)
                    .build()
                    .expect("ttl fields are set"),
            )
            .send()
            .await
            .map_err(|e| format!("enable TTL on {name}: {e:?}"))?;
    }
    Ok(())
}

/// A table is named `{prefix}-{suffix}`, the suffix being its logical id's first word.
fn table_suffix(spec: &TableSpec) -> String {
    spec.logical_id
        .trim_end_matches("Table")
        .to_ascii_lowercase()
}

const QUEUE_SUFFIX: &str = "-sync";
const DLQ_SUFFIX: &str = "-sync-dlq";

/// The template's logical id of a table [`provision`] created.
pub fn logical_table(name: &str) -> Option<&'static str> {
    ALL_TABLES
        .iter()
        .find(|spec| name.ends_with(&format!("-{}", table_suffix(spec))))
        .map(|spec| spec.logical_id)
}

/// The template's logical id of a queue [`provision`] created.
pub fn logical_queue(name: &str) -> Option<&'static str> {
    if name.ends_with(DLQ_SUFFIX) {
        Some("SyncDeadLetterQueue")
    } else if name.ends_with(QUEUE_SUFFIX) {
        Some("SyncQueue")
    } else {
        None
    }
}

pub struct Provisioned {
    pub tables: Tables,
    pub queue_url: String,
    pub dlq_url: String,
}

/// Creates the four tables and the queue pair, named with `prefix`.
pub async fn provision(
    dynamodb: &aws_sdk_dynamodb::Client,
    sqs: &aws_sdk_sqs::Client,
    prefix: &str,
    visibility_timeout_secs: u32,
) -> Result<Provisioned, String> {
    let name = |spec: &TableSpec| format!("{prefix}-{}", table_suffix(spec));
    let tables = Tables {
        mirror: name(&MIRROR),
        locks: name(&LOCKS),
        events: name(&EVENTS),
        state: name(&STATE),
    };
    for (name, spec) in [
        (&tables.mirror, &MIRROR),
        (&tables.locks, &LOCKS),
        (&tables.events, &EVENTS),
        (&tables.state, &STATE),
    ] {
        create_table(dynamodb, name, spec).await?;
    }
    let (queue_url, dlq_url) = create_queues(sqs, prefix, visibility_timeout_secs).await?;
    Ok(Provisioned {
        tables,
        queue_url,
        dlq_url,
    })
}

async fn create_queues(
    sqs: &aws_sdk_sqs::Client,
    prefix: &str,
    visibility_timeout_secs: u32,
) -> Result<(String, String), String> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let dlq = sqs
        .create_queue()
        .queue_name(format!("{prefix}{DLQ_SUFFIX}"))
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .map_err(|e| format!("create DLQ: {e:?}"))?;
    let dlq_url = dlq.queue_url().unwrap_or_default().to_string();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| format!("DLQ arn: {e:?}"))?;
    let arn = attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or("DLQ has no ARN")?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": arn,
        "maxReceiveCount": MAX_RECEIVE_COUNT.to_string(),
    });
    let queue = sqs
        .create_queue()
        .queue_name(format!("{prefix}{QUEUE_SUFFIX}"))
        .set_attributes(Some(HashMap::from([
            (QueueAttributeName::RedrivePolicy, redrive.to_string()),
            (
                QueueAttributeName::VisibilityTimeout,
                visibility_timeout_secs.to_string(),
            ),
        ])))
        .send()
        .await
        .map_err(|e| format!("create queue: {e:?}"))?;
    Ok((queue.queue_url().unwrap_or_default().to_string(), dlq_url))
}
