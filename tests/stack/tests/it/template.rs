//! `template.yaml` declares the same tables (keys, indexes, TTL) as the local stack creates,
//! and wires the worker's SQS event source for partial batch failures.

use serde_norway::Value;
use stack::schema::{ALL_TABLES, TableSpec};

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn key_schema(keys: &Value) -> (String, Option<String>) {
    let mut hash = None;
    let mut range = None;
    for k in keys.as_sequence().unwrap() {
        let name = k["AttributeName"].as_str().unwrap().to_string();
        match k["KeyType"].as_str().unwrap() {
            "HASH" => hash = Some(name),
            "RANGE" => range = Some(name),
            other => panic!("unknown key type {other}"),
        }
    }
    (hash.unwrap(), range)
}

fn check_table(resources: &Value, spec: &TableSpec) {
    let props = &resources[spec.logical_id]["Properties"];
    assert!(props.is_mapping(), "{} is in the template", spec.logical_id);
    assert_eq!(
        key_schema(&props["KeySchema"]),
        (spec.hash.to_string(), spec.range.map(str::to_string)),
        "{} keys",
        spec.logical_id
    );
    let indexes = props["GlobalSecondaryIndexes"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        indexes.len(),
        spec.indexes.len(),
        "{} index count",
        spec.logical_id
    );
    for gsi in spec.indexes {
        let found = indexes
            .iter()
            .find(|i| i["IndexName"].as_str() == Some(gsi.name))
            .unwrap_or_else(|| panic!("{} has index {}", spec.logical_id, gsi.name));
        assert_eq!(
            key_schema(&found["KeySchema"]),
            (gsi.hash.to_string(), gsi.range.map(str::to_string))
        );
        assert_eq!(found["Projection"]["ProjectionType"].as_str(), Some("ALL"));
    }
    let ttl = &props["TimeToLiveSpecification"];
    match spec.ttl {
        Some(attr) => {
            assert_eq!(
                ttl["AttributeName"].as_str(),
                Some(attr),
                "{} TTL",
                spec.logical_id
            );
            assert_eq!(ttl["Enabled"].as_bool(), Some(true));
        }
        None => assert!(ttl.is_null(), "{} has no TTL", spec.logical_id),
    }
}

#[test]
fn tables_match_the_local_stack() {
    let t = template();
    for spec in ALL_TABLES {
        check_table(&t["Resources"], spec);
    }
}

#[test]
fn worker_reports_partial_batch_failures_and_the_queue_dead_letters() {
    let t = template();
    let events = &t["Resources"]["SyncWorkerFunction"]["Properties"]["Events"];
    let sqs = events
        .as_mapping()
        .unwrap()
        .values()
        .find(|e| e["Type"].as_str() == Some("SQS"))
        .expect("an SQS event source");
    let types = sqs["Properties"]["FunctionResponseTypes"]
        .as_sequence()
        .unwrap();
    assert!(
        types
            .iter()
            .any(|v| v.as_str() == Some("ReportBatchItemFailures"))
    );
    let redrive = &t["Resources"]["SyncQueue"]["Properties"]["RedrivePolicy"];
    assert_eq!(
        redrive["maxReceiveCount"].as_u64(),
        Some(u64::from(stack::schema::MAX_RECEIVE_COUNT))
    );
}

/// H7: AWS's guidance for an SQS event source is a visibility timeout of at least six times the
/// function's timeout, so a batch still retrying inside one invocation is not redelivered to
/// another; the worker's own cut-off for starting a message must fit inside its timeout.
#[test]
fn the_queue_outlasts_six_worker_timeouts() {
    let t = template();
    let timeout = t["Resources"]["SyncWorkerFunction"]["Properties"]["Timeout"]
        .as_u64()
        .expect("the worker's timeout");
    let visibility = t["Resources"]["SyncQueue"]["Properties"]["VisibilityTimeout"]
        .as_u64()
        .expect("the queue's visibility timeout");
    assert!(
        visibility >= 6 * timeout,
        "{visibility} s < 6 × {timeout} s"
    );
    let start_by = zuora_sync::handlers::sqs_worker::MIN_TIME_TO_START.as_secs();
    assert!(start_by < timeout, "{start_by} s of {timeout} s");
}

/// The `HttpApi` routes the template gives a function, as (METHOD, path).
fn http_api_routes(t: &Value, function: &str) -> Vec<(String, String)> {
    let events = t["Resources"][function]["Properties"]["Events"]
        .as_mapping()
        .unwrap();
    let mut routes: Vec<(String, String)> = events
        .values()
        .filter(|e| e["Type"].as_str() == Some("HttpApi"))
        .map(|e| {
            (
                e["Properties"]["Method"].as_str().unwrap().to_uppercase(),
                e["Properties"]["Path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    routes.sort();
    routes
}

/// The HTTP API sends exactly the router's routes (the OpenAPI document's operations, which the
/// router is built from) to the functions that mount them: the hook to post-login, every other
/// route to sync-api.
#[test]
fn the_http_api_routes_are_the_routers() {
    let t = template();
    let hook = (
        "POST".to_string(),
        zuora_sync::handlers::post_login::HOOK_PATH.to_string(),
    );
    let mut routed = crate::http::documented_operations();
    assert!(routed.contains(&hook), "the document has the hook route");
    routed.retain(|r| *r != hook);
    for path in zuora_sync::handlers::http::CONSOLE_PATHS {
        routed.push(("GET".to_string(), path.to_string()));
    }
    routed.sort();
    assert_eq!(http_api_routes(&t, "SyncApiFunction"), routed);
    assert_eq!(http_api_routes(&t, "PostLoginFunction"), vec![hook]);
}

#[test]
fn both_functions_get_the_state_table_and_its_policy() {
    let t = template();
    let env = &t["Globals"]["Function"]["Environment"]["Variables"];
    assert!(format!("{:?}", env["STATE_TABLE"]).contains("StateTable"));
    for role in ["SyncApiRole", "SyncWorkerRole"] {
        let text = format!("{:?}", t["Resources"][role]["Properties"]["Policies"]);
        assert!(text.contains("StateTable"), "{role}");
    }
}

/// Every action a role grants, e.g. `dynamodb:GetItem`.
fn granted_actions(t: &Value, role: &str) -> Vec<String> {
    let mut out = Vec::new();
    let policies = t["Resources"][role]["Properties"]["Policies"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{role} has policies"));
    for policy in policies {
        let statements = policy["PolicyDocument"]["Statement"].as_sequence().unwrap();
        for statement in statements {
            match &statement["Action"] {
                Value::String(a) => out.push(a.clone()),
                Value::Sequence(list) => {
                    out.extend(list.iter().filter_map(|a| a.as_str().map(str::to_string)))
                }
                other => panic!("{role}: unexpected Action {other:?}"),
            }
        }
    }
    out
}

/// No role grants a wildcard action, so the checks of what a role lacks mean something.
#[test]
fn no_role_grants_a_wildcard_action() {
    let t = template();
    for role in [
        "SyncApiRole",
        "SyncWorkerRole",
        "PostLoginRole",
        "SyncSweepRole",
    ] {
        let actions = granted_actions(&t, role);
        assert!(!actions.is_empty(), "{role}");
        for action in actions {
            assert!(!action.contains('*'), "{role} grants {action}");
        }
    }
}

/// post-login: the Cognito trigger and the hook route, and a role that cannot sync.
#[test]
fn post_login_is_wired_to_cognito_and_the_hook_route() {
    let t = template();
    let f = &t["Resources"]["PostLoginFunction"]["Properties"];
    let events = f["Events"].as_mapping().unwrap();
    let cognito = events
        .values()
        .find(|e| e["Type"].as_str() == Some("Cognito"))
        .expect("a Cognito event");
    assert_eq!(
        cognito["Properties"]["Trigger"].as_str(),
        Some("PostAuthentication")
    );
    let hook = events
        .values()
        .find(|e| e["Type"].as_str() == Some("HttpApi"))
        .expect("the hook route");
    assert_eq!(
        hook["Properties"]["Path"].as_str(),
        Some(zuora_sync::handlers::post_login::HOOK_PATH)
    );
    assert!(
        f["Timeout"].as_u64().unwrap() <= 5,
        "Cognito waits about 5 s"
    );
    let mut granted = granted_actions(&t, "PostLoginRole");
    granted.sort();
    assert_eq!(
        granted,
        [
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "sqs:GetQueueAttributes",
            "sqs:SendMessage",
        ],
        "post-login reads settings, marks, records events and queues: nothing else"
    );
}

/// sync-sweep runs every minute and may only touch the state table and queue jobs.
#[test]
fn the_sweep_is_scheduled_with_a_narrow_role() {
    let t = template();
    let f = &t["Resources"]["SyncSweepFunction"]["Properties"];
    let schedule = f["Events"]
        .as_mapping()
        .unwrap()
        .values()
        .find(|e| e["Type"].as_str() == Some("Schedule"))
        .expect("a schedule");
    assert_eq!(
        schedule["Properties"]["Schedule"].as_str(),
        Some("rate(1 minute)")
    );
    let policies = format!(
        "{:?}",
        t["Resources"]["SyncSweepRole"]["Properties"]["Policies"]
    );
    assert!(policies.contains("StateTable") && policies.contains("SendMessage"));
    for absent in ["EventsTable", "ReceiveMessage"] {
        assert!(!policies.contains(absent), "the sweep needs no {absent}");
    }
    // The mirror only to read the accounts waiting for a Salesforce push.
    let statements = t["Resources"]["SyncSweepRole"]["Properties"]["Policies"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|p| {
            p["PolicyDocument"]["Statement"]
                .as_sequence()
                .unwrap()
                .clone()
        })
        .filter(|s| format!("{:?}", s["Resource"]).contains("MirrorTable"))
        .collect::<Vec<_>>();
    assert_eq!(statements.len(), 1, "{statements:?}");
    let actions = format!("{:?}", statements[0]["Action"]);
    assert!(
        actions.contains("dynamodb:Query") && !actions.contains("Item"),
        "{actions}"
    );
}

/// M7: no secret is an environment variable (readable with `lambda:GetFunctionConfiguration`):
/// each function names the Secrets Manager secrets it reads at init in `SECRETS_ARNS` —
/// sync-api the Zuora and callout secrets, the worker and the sweep the Zuora secret only,
/// post-login none — and no parameter is NoEcho (a secret passed to CloudFormation).
#[test]
fn functions_read_only_their_own_secrets_and_none_is_a_variable() {
    let t = template();
    let params = t["Parameters"].as_mapping().unwrap();
    for (name, p) in params {
        assert!(p["NoEcho"].is_null(), "{name:?} is a secret parameter");
    }
    let globals = format!("{:?}", t["Globals"]["Function"]["Environment"]);
    let expected = [
        (
            "SyncApiFunction",
            vec!["ZuoraSecretArn", "CalloutSecretArn"],
        ),
        ("SyncWorkerFunction", vec!["ZuoraSecretArn"]),
        ("SyncSweepFunction", vec!["ZuoraSecretArn"]),
        ("PostLoginFunction", vec![]),
    ];
    for (function, secrets) in expected {
        let vars = &t["Resources"][function]["Properties"]["Environment"]["Variables"];
        for name in zuora_sync::app::secrets::SECRET_VARS {
            assert!(vars[name].is_null(), "{function} gets {name} as a variable");
            assert!(
                !globals.contains(name),
                "Globals hand {name} to every function"
            );
        }
        let arns = format!("{:?}", vars["SECRETS_ARNS"]);
        for param in ["ZuoraSecretArn", "CalloutSecretArn"] {
            assert_eq!(
                arns.contains(param),
                secrets.contains(&param),
                "{function} reads {param}: {arns}"
            );
        }
    }
    let login = format!("{:?}", t["Resources"]["PostLoginFunction"]["Properties"]);
    assert!(
        login.contains("ZuoraEntityIds"),
        "post-login knows the entity ids"
    );
    assert!(
        t["Parameters"]["ZuoraBaseUrl"]["AllowedPattern"]
            .as_str()
            .unwrap()
            .starts_with("^https://"),
        "the OAuth secret never travels over plain http"
    );
}

/// Whatever can finish a job may send its summary by email; post-login never does.
#[test]
fn only_the_functions_that_finish_jobs_may_send_email() {
    let t = template();
    for role in ["SyncApiRole", "SyncWorkerRole", "SyncSweepRole"] {
        let policies = format!("{:?}", t["Resources"][role]["Properties"]["Policies"]);
        assert!(policies.contains("ses:SendEmail"), "{role}");
    }
    let login = format!(
        "{:?}",
        t["Resources"]["PostLoginRole"]["Properties"]["Policies"]
    );
    assert!(!login.contains("ses:"));
}

/// M3: the attributes that name a user's Zuora account are written by admins only: every app
/// client of the login pool lists its writable attributes, and none of them is custom.
#[test]
fn users_cannot_write_the_attributes_that_name_their_account() {
    let t = template();
    let resources = t["Resources"].as_mapping().unwrap();
    let custom: Vec<String> = t["Resources"]["LoginUserPool"]["Properties"]["Schema"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| format!("custom:{}", a["Name"].as_str().unwrap()))
        .collect();
    assert!(custom.contains(&"custom:zuora_account".to_string()));
    let clients: Vec<&Value> = resources
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Cognito::UserPoolClient"))
        .collect();
    assert!(!clients.is_empty(), "the login pool has an app client");
    for client in clients {
        let writable = client["Properties"]["WriteAttributes"]
            .as_sequence()
            .expect("WriteAttributes is listed (without it every attribute is writable)");
        for attribute in writable {
            let name = attribute.as_str().unwrap();
            assert!(!custom.iter().any(|c| c == name), "users may write {name}");
        }
    }
}

/// H6: the template's budget arithmetic. Each function calling Zuora owns a share of
/// `ZuoraConcurrencyBudget`, its instance count in `ZUORA_BUDGET_INSTANCES` is the one the
/// platform enforces (reserved concurrency, or the SQS event source's maximum concurrency), and
/// for any budget and instance caps the instances' requests together never exceed the budget.
#[test]
fn the_zuora_budget_holds_across_every_instance_of_every_function() {
    let t = template();
    let resources = t["Resources"].as_mapping().unwrap();
    let mut shares = Vec::new();
    for (id, r) in resources {
        if r["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let props = &r["Properties"];
        let vars = &props["Environment"]["Variables"];
        let uses_zuora = !vars["ZUORA_BASE_URL"].is_null();
        let share = vars["ZUORA_BUDGET_SHARE_PERCENT"].as_str();
        if !uses_zuora {
            assert!(share.is_none(), "{id:?} calls no Zuora and needs no share");
            continue;
        }
        let share: usize = share
            .unwrap_or_else(|| panic!("{id:?} calls Zuora without a budget share"))
            .parse()
            .unwrap();
        // The instance cap the function divides by is the one the platform enforces.
        let instances = &vars["ZUORA_BUDGET_INSTANCES"];
        let reserved = &props["ReservedConcurrentExecutions"];
        let sqs_max = props["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
            .find(|(_, e)| e["Type"].as_str() == Some("SQS"))
            .map(|(_, e)| e["Properties"]["ScalingConfig"]["MaximumConcurrency"].clone());
        let enforced = sqs_max.unwrap_or_else(|| reserved.clone());
        let same = match (instances, &enforced) {
            (Value::String(n), Value::Number(m)) => n == &m.to_string(),
            (a, b) => a == b,
        };
        assert!(
            same,
            "{id:?}: ZUORA_BUDGET_INSTANCES {instances:?} is not the enforced {enforced:?}"
        );
        // A fixed count, or the parameter that sets it.
        let instances = match instances {
            Value::String(n) => Err(n.parse::<usize>().unwrap()),
            other => Ok(format!("{other:?}")),
        };
        shares.push((share, instances));
    }
    assert_eq!(
        shares.len(),
        3,
        "sync-api, sync-worker and sync-sweep call Zuora"
    );
    assert!(shares.iter().map(|s| s.0).sum::<usize>() <= 100);
    for budget in 4..=120 {
        for api in 1..=20 {
            for worker in 2..=20 {
                let total: usize = shares
                    .iter()
                    .map(|(share, instances)| {
                        let n = match instances {
                            Err(fixed) => *fixed,
                            Ok(p) if p.contains("ApiMaxInstances") => api,
                            Ok(_) => worker,
                        };
                        n * zuora_sync::config::per_instance_cap(budget, *share, n)
                    })
                    .sum();
                assert!(
                    total <= budget,
                    "budget {budget}, {api} api, {worker} workers: {total}"
                );
            }
        }
    }
}

/// Observability: the alarms the README's Deploy section explains exist, notify the alarm
/// topic, and the ones on the product's own metrics watch metrics it writes.
#[test]
fn every_alarm_notifies_the_topic_and_watches_a_real_metric() {
    let t = template();
    let resources = t["Resources"].as_mapping().unwrap();
    let mut names = Vec::new();
    for (id, r) in resources {
        if r["Type"].as_str() != Some("AWS::CloudWatch::Alarm") {
            continue;
        }
        let id = id.as_str().unwrap().to_string();
        let props = &r["Properties"];
        assert_eq!(
            format!("{:?}", props["AlarmActions"]),
            format!(
                "{:?}",
                serde_norway::from_str::<Value>("[!Ref AlarmTopic]").unwrap()
            ),
            "{id}"
        );
        if props["Namespace"].as_str() == Some(zuora_sync::handlers::metrics::NAMESPACE) {
            let metric = props["MetricName"].as_str().unwrap();
            assert!(
                zuora_sync::handlers::metrics::NAMES.contains(&metric),
                "{id} watches {metric}, which nothing writes"
            );
        }
        names.push(id);
    }
    for expected in [
        "DeadLetterQueueAlarm",
        "OldestJobAlarm",
        "SweepFailuresAlarm",
        "WorkerErrorsAlarm",
        "ZuoraThrottledAlarm",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} is missing");
    }
    let throttling = &t["Resources"]["SyncHttpApi"]["Properties"]["DefaultRouteSettings"];
    assert!(
        !throttling["ThrottlingRateLimit"].is_null(),
        "API Gateway throttles every route"
    );
}
