//! AQuA bulk export: jobs, polling, one snapshot per job, CSV files, limits and faults.

mod common;

use std::collections::HashMap;

use common::{Sim, reason_code, start};
use reqwest::StatusCode;
use serde_json::{Value, json};
use zuora_sim::{Fault, FaultKind};

const SUBMIT: &str = "/v1/batch-query/";

/// One query per object, as the product's full sync reads them.
fn full_sync_queries() -> Vec<Value> {
    [
        (
            "Account",
            "select Id, AccountNumber, Name, Status, Currency, UpdatedDate, BillToContactId, SoldToContactId, DefaultPaymentMethodId, AdditionalEmailAddresses, LimioExternalId__c from Account",
        ),
        (
            "Contact",
            "select Id, AccountId, FirstName, LastName, WorkEmail, PostalCode, Account.AccountNumber from Contact",
        ),
        (
            "PaymentMethod",
            "select Id, AccountId, Type, CreditCardMaskNumber, AchAbaCode from PaymentMethod",
        ),
        (
            "Subscription",
            "select Id, AccountId, Name, Version, Status, TermType, Account.AccountNumber from Subscription",
        ),
        (
            "RatePlan",
            "select Id, SubscriptionId, Name, ProductRatePlanId from RatePlan",
        ),
        (
            "RatePlanCharge",
            "select Id, RatePlanId, ChargeNumber, Name, Quantity, MRR from RatePlanCharge",
        ),
    ]
    .iter()
    .map(|(name, query)| json!({"name": name, "query": query, "type": "zoqlexport"}))
    .collect()
}

fn job_body(queries: Vec<Value>) -> Value {
    json!({
        "format": "csv",
        "version": "1.1",
        "name": "zuora-sync full",
        "encrypted": "none",
        "useQueryLabels": "false",
        "dateTimeUtc": "false",
        "queries": queries,
    })
}

async fn submit(sim: &Sim, queries: Vec<Value>) -> Value {
    let (status, job) = sim.post_json(SUBMIT, &job_body(queries)).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["status"], "submitted");
    job
}

async fn poll(sim: &Sim, job: &Value) -> Value {
    let id = job["id"].as_str().unwrap();
    let (status, job) = sim.get_json(&format!("/v1/batch-query/jobs/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    job
}

/// Polls until the job is final; returns it and the statuses seen before.
async fn poll_until_done(sim: &Sim, job: &Value) -> (Value, Vec<String>) {
    let mut seen = Vec::new();
    for _ in 0..20 {
        let job = poll(sim, job).await;
        let status = job["status"].as_str().unwrap().to_string();
        if !["submitted", "executing"].contains(&status.as_str()) {
            return (job, seen);
        }
        seen.push(status);
    }
    panic!("the job never finished");
}

/// Downloads a batch's file and parses it into rows keyed by column name.
async fn rows_of(sim: &Sim, batch: &Value) -> (Vec<String>, Vec<HashMap<String, String>>) {
    assert_eq!(batch["status"], "completed", "{batch}");
    let file_id = batch["fileId"].as_str().unwrap();
    let response = sim.get(&format!("/v1/file/{file_id}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let mut lines = parse_csv(&response.text().await.unwrap()).into_iter();
    let header = lines.next().expect("a header row");
    let rows: Vec<HashMap<String, String>> = lines
        .map(|cells| header.iter().cloned().zip(cells).collect())
        .collect();
    assert_eq!(rows.len() as u64, batch["recordCount"].as_u64().unwrap());
    (header, rows)
}

/// RFC 4180: quoted cells may hold commas, doubled quotes and line breaks.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    assert!(
        cell.is_empty() && row.is_empty(),
        "the file ends with a line break"
    );
    rows
}

fn batch<'a>(job: &'a Value, name: &str) -> &'a Value {
    job["batches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|batch| batch["name"] == name)
        .unwrap()
}

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Every account id, through the REST routes (ZOQL).
async fn account_ids(sim: &Sim) -> Vec<String> {
    let (_, body) = sim.zoql("select Id from Account").await;
    body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| text(&record["Id"]))
        .collect()
}

/// Every subscription version id, through the object-query list.
async fn subscription_ids(sim: &Sim) -> Vec<String> {
    let (_, body) = sim
        .get_json("/object-query/subscriptions?pageSize=99")
        .await;
    assert!(body.get("nextPage").is_none());
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|sub| text(&sub["id"]))
        .collect()
}

fn by_id<'a>(
    rows: &'a [HashMap<String, String>],
    column: &str,
) -> HashMap<&'a str, &'a HashMap<String, String>> {
    rows.iter().map(|row| (row[column].as_str(), row)).collect()
}

#[tokio::test]
async fn full_export_matches_the_rest_routes() {
    let sim = start().await;
    // Quotes, a comma and a line break must survive the CSV.
    let tricky = "Acme \"Robots\", Inc.\nUnit 2";
    assert!(sim.handle.set_field("A00000001", "name", json!(tricky)));
    let submitted = submit(&sim, full_sync_queries()).await;
    assert_eq!(submitted["format"], "CSV");
    assert_eq!(submitted["version"], "1.1");
    assert_eq!(submitted["name"], "zuora-sync full");
    let batches = submitted["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 6);
    for batch in batches {
        assert_eq!(batch["status"], "pending");
        assert_eq!(batch["batchType"], "zoqlexport");
        assert_eq!(batch["full"], true);
        assert!(batch["batchId"].as_str().is_some_and(|id| !id.is_empty()));
        assert!(batch.get("fileId").is_none());
    }
    let (job, seen) = poll_until_done(&sim, &submitted).await;
    assert_eq!(seen, ["executing"]);
    assert_eq!(job["status"], "completed");
    assert_eq!(job["id"], submitted["id"]);

    let (header, accounts) = rows_of(&sim, batch(&job, "Account")).await;
    assert_eq!(
        header[..3],
        ["Account.Id", "Account.AccountNumber", "Account.Name"]
    );
    assert_eq!(header[10], "Account.LimioExternalId__c");
    let accounts = by_id(&accounts, "Account.Id");
    let (_, contacts) = rows_of(&sim, batch(&job, "Contact")).await;
    let contacts = by_id(&contacts, "Contact.Id");
    let (_, methods) = rows_of(&sim, batch(&job, "PaymentMethod")).await;
    let methods = by_id(&methods, "PaymentMethod.Id");
    let ids = account_ids(&sim).await;
    assert_eq!(accounts.len(), ids.len());
    for id in &ids {
        let (_, v1) = sim.get_json(&format!("/v1/accounts/{id}")).await;
        let row = accounts[id.as_str()];
        let basic = &v1["basicInfo"];
        for (column, value) in [
            ("Account.AccountNumber", &basic["accountNumber"]),
            ("Account.Name", &basic["name"]),
            ("Account.Status", &basic["status"]),
            ("Account.LimioExternalId__c", &basic["LimioExternalId__c"]),
            ("Account.Currency", &v1["billingAndPayment"]["currency"]),
            (
                "Account.DefaultPaymentMethodId",
                &v1["billingAndPayment"]["defaultPaymentMethodId"],
            ),
            ("Account.BillToContactId", &v1["billToContact"]["id"]),
            ("Account.SoldToContactId", &v1["soldToContact"]["id"]),
        ] {
            assert_eq!(row[column], text(value), "{id} {column}");
        }
        let emails: Vec<String> = v1["billingAndPayment"]["additionalEmailAddresses"]
            .as_array()
            .unwrap()
            .iter()
            .map(text)
            .collect();
        assert_eq!(row["Account.AdditionalEmailAddresses"], emails.join(","));
        let (_, oq) = sim.get_json(&format!("/object-query/accounts/{id}")).await;
        assert_eq!(row["Account.UpdatedDate"], text(&oq["updatedDate"]));

        let bill_to = &v1["billToContact"];
        let contact = contacts[text(&bill_to["id"]).as_str()];
        assert_eq!(contact["Contact.AccountId"], *id);
        assert_eq!(
            contact["Account.AccountNumber"],
            text(&basic["accountNumber"])
        );
        assert_eq!(contact["Contact.FirstName"], text(&bill_to["firstName"]));
        assert_eq!(contact["Contact.WorkEmail"], text(&bill_to["workEmail"]));
        assert_eq!(contact["Contact.PostalCode"], text(&bill_to["zipCode"]));

        let (_, v1_methods) = sim
            .get_json(&format!("/v1/accounts/{id}/payment-methods"))
            .await;
        for card in v1_methods["creditcard"].as_array().into_iter().flatten() {
            let row = methods[text(&card["id"]).as_str()];
            assert_eq!(row["PaymentMethod.AccountId"], *id);
            assert_eq!(
                row["PaymentMethod.CreditCardMaskNumber"],
                text(&card["cardNumber"])
            );
        }
        for ach in v1_methods["ach"].as_array().into_iter().flatten() {
            let row = methods[text(&ach["id"]).as_str()];
            assert_eq!(row["PaymentMethod.Type"], "ACH");
            assert_eq!(row["PaymentMethod.AchAbaCode"], text(&ach["bankABACode"]));
        }
    }
    assert_eq!(
        accounts["8a90a1b27c1f4e2d017c2b3c4d5e0001"]["Account.Name"],
        tricky
    );

    let (_, subscriptions) = rows_of(&sim, batch(&job, "Subscription")).await;
    let subscriptions = by_id(&subscriptions, "Subscription.Id");
    let (_, plans) = rows_of(&sim, batch(&job, "RatePlan")).await;
    let plans = by_id(&plans, "RatePlan.Id");
    let (_, charges) = rows_of(&sim, batch(&job, "RatePlanCharge")).await;
    let charges = by_id(&charges, "RatePlanCharge.Id");
    let ids = subscription_ids(&sim).await;
    assert_eq!(subscriptions.len(), ids.len());
    for id in &ids {
        let (_, v1) = sim.get_json(&format!("/v1/subscriptions/{id}")).await;
        let row = subscriptions[id.as_str()];
        for (column, value) in [
            ("Subscription.Name", &v1["subscriptionNumber"]),
            ("Subscription.Version", &v1["version"]),
            ("Subscription.Status", &v1["status"]),
            ("Subscription.TermType", &v1["termType"]),
            ("Subscription.AccountId", &v1["accountId"]),
            ("Account.AccountNumber", &v1["accountNumber"]),
        ] {
            assert_eq!(row[column], text(value), "{id} {column}");
        }
        for plan in v1["ratePlans"].as_array().unwrap() {
            let row = plans[text(&plan["id"]).as_str()];
            assert_eq!(row["RatePlan.SubscriptionId"], *id);
            assert_eq!(row["RatePlan.Name"], text(&plan["ratePlanName"]));
            assert_eq!(
                row["RatePlan.ProductRatePlanId"],
                text(&plan["productRatePlanId"])
            );
            for charge in plan["ratePlanCharges"].as_array().unwrap() {
                let row = charges[text(&charge["id"]).as_str()];
                assert_eq!(row["RatePlanCharge.RatePlanId"], text(&plan["id"]));
                assert_eq!(row["RatePlanCharge.ChargeNumber"], text(&charge["number"]));
                assert_eq!(row["RatePlanCharge.Name"], text(&charge["name"]));
                assert_eq!(row["RatePlanCharge.Quantity"], text(&charge["quantity"]));
                assert_eq!(row["RatePlanCharge.MRR"], text(&charge["mrr"]));
            }
        }
    }
    // Files stay downloadable.
    let (_, again) = rows_of(&sim, batch(&job, "Subscription")).await;
    assert_eq!(again.len(), ids.len());
}

#[tokio::test]
async fn a_job_reads_one_snapshot_taken_when_it_starts_executing() {
    let sim = start().await;
    let queries = vec![
        json!({"name": "Account", "query": "select Id, Name from Account", "type": "zoqlexport"}),
        json!({"name": "Subscription", "query": "select Name, Version, Status from Subscription", "type": "zoqlexport"}),
    ];
    let job = submit(&sim, queries.clone()).await;
    assert_eq!(poll(&sim, &job).await["status"], "executing");
    // Edits through the control routes while the job executes.
    let rename = sim
        .http
        .put(sim.url("/__sim/accounts/A00000001/fields/name"))
        .json(&json!("Renamed Robotics"))
        .send()
        .await
        .unwrap();
    assert_eq!(rename.status(), StatusCode::OK);
    let cancel = sim
        .http
        .put(sim.url("/__sim/subscriptions/A-S00000272/status"))
        .json(&json!({"status": "Cancelled"}))
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), StatusCode::OK);
    let mut added = sim.handle.account("A00000002").unwrap();
    added["id"] = json!("8a90a1b27c1f4e2d017c2b3c4d5e0099");
    added["accountNumber"] = json!("A00000099");
    added["subscriptions"] = json!([]);
    let upsert = sim
        .http
        .put(sim.url("/__sim/accounts"))
        .json(&added)
        .send()
        .await
        .unwrap();
    assert_eq!(upsert.status(), StatusCode::OK);

    let (done, _) = poll_until_done(&sim, &job).await;
    assert_eq!(done["status"], "completed");
    let (_, accounts) = rows_of(&sim, batch(&done, "Account")).await;
    assert_eq!(accounts.len(), 4);
    assert_eq!(accounts[0]["Account.Name"], "Acme Robotics Ltd");
    assert!(
        accounts
            .iter()
            .all(|row| row["Account.Name"] != "Renamed Robotics")
    );
    let status_of = |rows: &[HashMap<String, String>]| {
        rows.iter()
            .filter(|row| row["Subscription.Name"] == "A-S00000272")
            .map(|row| row["Subscription.Status"].clone())
            .collect::<Vec<_>>()
    };
    let (_, subscriptions) = rows_of(&sim, batch(&done, "Subscription")).await;
    assert_eq!(status_of(&subscriptions), ["Draft"]);

    let fresh = submit(&sim, queries).await;
    let (fresh, _) = poll_until_done(&sim, &fresh).await;
    let (_, accounts) = rows_of(&sim, batch(&fresh, "Account")).await;
    assert_eq!(accounts.len(), 5);
    assert_eq!(accounts[0]["Account.Name"], "Renamed Robotics");
    assert!(
        accounts
            .iter()
            .any(|row| row["Account.Id"] == "8a90a1b27c1f4e2d017c2b3c4d5e0099")
    );
    let (_, subscriptions) = rows_of(&sim, batch(&fresh, "Subscription")).await;
    assert_eq!(status_of(&subscriptions), ["Cancelled"]);
}

#[tokio::test]
async fn jobs_advance_every_n_polls() {
    let sim = start().await;
    let set = sim
        .http
        .put(sim.url("/__sim/aqua/polls-per-step"))
        .json(&json!({"polls": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::OK);
    let query = json!({"name": "Account", "query": "select Id from Account", "type": "zoqlexport"});
    let job = submit(&sim, vec![query]).await;
    let (done, seen) = poll_until_done(&sim, &job).await;
    assert_eq!(seen, ["submitted", "executing", "executing"]);
    assert_eq!(done["status"], "completed");
    assert_eq!(batch(&done, "Account")["recordCount"], 4);
}

#[tokio::test]
async fn labels_utc_dates_filters_and_plain_zoql() {
    let sim = start().await;
    let body = json!({
        "format": "csv",
        "version": "1.1",
        "name": "labels",
        "useQueryLabels": "true",
        "dateTimeUtc": "true",
        "nullReplacement": "NULL",
        "queries": [{
            "name": "Recent",
            "query": "select AccountNumber, Account.UpdatedDate, CrmId from Account where UpdatedDate >= '2025-03-02T00:00:00Z'",
            "type": "zoqlexport",
        }],
    });
    let (status, job) = sim.post_json(SUBMIT, &body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(job["nullReplacement"], "NULL");
    assert_eq!(job["useQueryLabels"], "true");
    let (job, _) = poll_until_done(&sim, &job).await;
    let (header, rows) = rows_of(&sim, batch(&job, "Recent")).await;
    assert_eq!(header, ["AccountNumber", "Account.UpdatedDate", "CrmId"]);
    let numbers: Vec<&str> = rows
        .iter()
        .map(|row| row["AccountNumber"].as_str())
        .collect();
    assert_eq!(numbers, ["A00000001", "A00000004"]);
    assert_eq!(rows[0]["Account.UpdatedDate"], "2025-03-21T10:24:15+00:00");
    assert_eq!(rows[1]["CrmId"], "NULL");

    let plain = json!({"name": "Plain", "query": "select AccountNumber from Account where Status = 'Draft'", "type": "zoql"});
    let (job, _) = poll_until_done(&sim, &submit(&sim, vec![plain]).await).await;
    let (header, rows) = rows_of(&sim, batch(&job, "Plain")).await;
    assert_eq!(header, ["AccountNumber"]);
    assert_eq!(rows.len(), 1);
}

#[tokio::test]
async fn more_than_50_queries_are_refused() {
    let sim = start().await;
    let query = json!({"name": "Account", "query": "select Id from Account", "type": "zoqlexport"});
    let (status, body) = sim
        .post_json(SUBMIT, &job_body(vec![query.clone(); 51]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["success"], false);
    assert!(
        body["reasons"][0]["message"]
            .as_str()
            .unwrap()
            .contains("maximum of 50 queries")
    );
    let job = submit(&sim, vec![query; 50]).await;
    assert_eq!(job["batches"].as_array().unwrap().len(), 50);
    for bad in [
        json!({"name": "x", "query": "select from Account", "type": "zoqlexport"}),
        json!({"name": "x", "query": "select Id from Account", "type": "soql"}),
    ] {
        let (status, body) = sim.post_json(SUBMIT, &job_body(vec![bad])).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["success"], false);
    }
    let (status, _) = sim.post_json(SUBMIT, &job_body(Vec::new())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn at_most_50_jobs_run_at_once() {
    let sim = start().await;
    let query = json!({"name": "Account", "query": "select Id from Account", "type": "zoqlexport"});
    let mut jobs = Vec::new();
    for _ in 0..50 {
        jobs.push(submit(&sim, vec![query.clone()]).await);
    }
    let (status, body) = sim.post_json(SUBMIT, &job_body(vec![query.clone()])).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["success"], false);
    assert_eq!(reason_code(&body) % 100, 70);
    let (done, _) = poll_until_done(&sim, &jobs[0]).await;
    assert_eq!(done["status"], "completed");
    let cancelled = sim
        .http
        .delete(sim.url(&format!(
            "/v1/batch-query/jobs/{}",
            jobs[1]["id"].as_str().unwrap()
        )))
        .bearer_auth(&sim.token)
        .send()
        .await
        .unwrap();
    let (status, cancelled) = common::into_json(cancelled).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(
        poll(&sim, &jobs[1]).await["batches"][0]["status"],
        "cancelled"
    );
    submit(&sim, vec![query.clone()]).await;
    submit(&sim, vec![query]).await;
    let (status, _) = sim
        .post_json(
            SUBMIT,
            &job_body(vec![json!({"query": "select Id from Account"})]),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn an_unknown_field_or_object_aborts_its_batch() {
    let sim = start().await;
    let queries = vec![
        json!({"name": "Good", "query": "select Id from Account", "type": "zoqlexport"}),
        json!({"name": "BadField", "query": "select Id, Nope from Subscription", "type": "zoqlexport"}),
        json!({"name": "BadObject", "query": "select Id from Invoice", "type": "zoqlexport"}),
    ];
    let (job, _) = poll_until_done(&sim, &submit(&sim, queries).await).await;
    assert_eq!(job["status"], "error");
    let good = batch(&job, "Good");
    assert_eq!(good["status"], "completed");
    assert_eq!(good["recordCount"], 4);
    let bad = batch(&job, "BadField");
    assert_eq!(bad["status"], "aborted");
    assert_eq!(bad["message"], "invalid field for query: Subscription.nope");
    assert!(bad.get("fileId").is_none());
    let object = batch(&job, "BadObject");
    assert_eq!(object["status"], "aborted");
    assert_eq!(object["message"], "invalid type for query: Invoice");
}

#[tokio::test]
async fn unknown_files_and_jobs_are_404() {
    let sim = start().await;
    let (status, body) = sim
        .get_json("/v1/file/2c92c0f96abc17de016abd62bd0c5854")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["success"], false);
    assert_eq!(reason_code(&body) % 100, 40);
    let (status, body) = sim.get_json("/v1/batch-query/jobs/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["success"], false);
}

#[tokio::test]
async fn aqua_routes_pass_the_gate() {
    let sim = start().await;
    let unauthenticated = sim
        .http
        .post(sim.url(SUBMIT))
        .json(&job_body(full_sync_queries()))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    let query = json!({"name": "Account", "query": "select Id from Account", "type": "zoqlexport"});
    sim.handle
        .add_fault(Fault::new("aqua_job", FaultKind::Status { status: 503 }).times(1));
    let job = submit(&sim, vec![query]).await;
    let id = job["id"].as_str().unwrap();
    let (status, _) = sim.get_json(&format!("/v1/batch-query/jobs/{id}")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (job, _) = poll_until_done(&sim, &job).await;
    let file_id = batch(&job, "Account")["fileId"]
        .as_str()
        .unwrap()
        .to_string();
    sim.handle.add_fault(
        Fault::new("aqua_file", FaultKind::Status { status: 500 })
            .matching(file_id.as_str())
            .times(1),
    );
    let (status, body) = sim.get_json(&format!("/v1/file/{file_id}")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reason_code(&body) % 100, 60);
    let (_, rows) = rows_of(&sim, batch(&job, "Account")).await;
    assert_eq!(rows.len(), 4);
    let stats = sim.handle.stats();
    assert_eq!(stats.requests("aqua_submit"), 2);
    assert_eq!(stats.requests("aqua_job"), 3);
    assert_eq!(stats.requests("aqua_file"), 2);
}

/// The tier rows of each charge, in file order.
fn tiers_by_charge(
    rows: &[HashMap<String, String>],
) -> HashMap<&str, Vec<&HashMap<String, String>>> {
    let mut out: HashMap<&str, Vec<_>> = HashMap::new();
    for row in rows {
        out.entry(row["RatePlanChargeTier.RatePlanChargeId"].as_str())
            .or_default()
            .push(row);
    }
    out
}

#[tokio::test]
async fn product_joins_and_tiers_match_the_v1_subscriptions() {
    let sim = start().await;
    sim.handle.generate_accounts(2, "GEN").unwrap();
    // Amounts must keep their JSON text: an integer, a repeating decimal, and real tiers.
    let mut account = sim.handle.account("A00000001").unwrap();
    let charges = &mut account["subscriptions"][1]["ratePlans"][0]["ratePlanCharges"];
    charges[0]["price"] = json!(100);
    charges[0]["mRR"] = json!(8.333333);
    charges[1]["chargeModel"] = json!("Tiered");
    charges[1]["tiers"] = json!([
        {"tier": 1, "startingUnit": 0, "endingUnit": 10, "price": 5, "priceFormat": "Per Unit"},
        {"tier": 2, "startingUnit": 11, "endingUnit": null, "price": 4.75, "priceFormat": "Per Unit"},
    ]);
    sim.handle.upsert_account(account).unwrap();
    let queries = [
        (
            "RatePlan",
            "select Id, SubscriptionId, Name, ProductRatePlanId, Product.Id, Product.Name, Product.SKU, ProductRatePlan.Id, ProductRatePlan.Name, Subscription.Name, Subscription.Version from RatePlan",
        ),
        (
            "RatePlanCharge",
            "select Id, RatePlanId, RatePlan.SubscriptionId, RatePlan.Name, Subscription.Name, ChargeModel, ChargeType, BillingPeriod, Quantity, MRR, TCV, EffectiveStartDate, EffectiveEndDate, ChargedThroughDate from RatePlanCharge",
        ),
        (
            "RatePlanChargeTier",
            "select Id, RatePlanChargeId, Tier, Price, Currency, StartingUnit, EndingUnit, PriceFormat, CreatedDate, UpdatedDate, RatePlanCharge.ChargeNumber from RatePlanChargeTier",
        ),
        (
            "Subscription",
            "select Id, Name, Version, Status, TermType, AutoRenew, ContractEffectiveDate, SubscriptionStartDate, SubscriptionEndDate, TermStartDate, TermEndDate from Subscription",
        ),
    ]
    .iter()
    .map(|(name, query)| json!({"name": name, "query": query, "type": "zoqlexport"}))
    .collect();
    let (job, _) = poll_until_done(&sim, &submit(&sim, queries).await).await;
    assert_eq!(job["status"], "completed", "{job}");
    let (_, plans) = rows_of(&sim, batch(&job, "RatePlan")).await;
    let plans = by_id(&plans, "RatePlan.Id");
    let (_, charges) = rows_of(&sim, batch(&job, "RatePlanCharge")).await;
    let charges = by_id(&charges, "RatePlanCharge.Id");
    let (header, tiers) = rows_of(&sim, batch(&job, "RatePlanChargeTier")).await;
    assert_eq!(header[0], "RatePlanChargeTier.Id");
    assert_eq!(header[10], "RatePlanCharge.ChargeNumber");
    let tier_ids: std::collections::HashSet<_> = tiers
        .iter()
        .map(|row| row["RatePlanChargeTier.Id"].as_str())
        .collect();
    assert_eq!(tier_ids.len(), tiers.len(), "tier ids are unique");
    let tiers = tiers_by_charge(&tiers);
    let (_, subscriptions) = rows_of(&sim, batch(&job, "Subscription")).await;
    let subscriptions = by_id(&subscriptions, "Subscription.Id");
    let ids = subscription_ids(&sim).await;
    assert_eq!(subscriptions.len(), ids.len());
    let (mut tiered, mut checked) = (0, 0);
    for id in &ids {
        let (_, v1) = sim.get_json(&format!("/v1/subscriptions/{id}")).await;
        let row = subscriptions[id.as_str()];
        for (column, key) in [
            ("Name", "subscriptionNumber"),
            ("Version", "version"),
            ("Status", "status"),
            ("TermType", "termType"),
            ("AutoRenew", "autoRenew"),
            ("ContractEffectiveDate", "contractEffectiveDate"),
            ("SubscriptionStartDate", "subscriptionStartDate"),
            ("SubscriptionEndDate", "subscriptionEndDate"),
            ("TermStartDate", "termStartDate"),
            ("TermEndDate", "termEndDate"),
        ] {
            let column = format!("Subscription.{column}");
            assert_eq!(row[&column], text(&v1[key]), "{id} {column}");
        }
        for plan in v1["ratePlans"].as_array().unwrap() {
            let plan_id = text(&plan["id"]);
            let row = plans[plan_id.as_str()];
            for (column, value) in [
                ("RatePlan.SubscriptionId", &v1["id"]),
                ("Product.Id", &plan["productId"]),
                ("Product.Name", &plan["productName"]),
                ("Product.SKU", &plan["productSku"]),
                ("ProductRatePlan.Id", &plan["productRatePlanId"]),
                ("Subscription.Name", &v1["subscriptionNumber"]),
                ("Subscription.Version", &v1["version"]),
            ] {
                assert_eq!(row[column], text(value), "{plan_id} {column}");
            }
            let product = sim.handle.product(&text(&plan["productId"])).unwrap();
            let catalog_plan = product["productRatePlans"]
                .as_array()
                .unwrap()
                .iter()
                .find(|catalog| catalog["id"] == plan["productRatePlanId"])
                .unwrap();
            assert_eq!(row["ProductRatePlan.Name"], text(&catalog_plan["name"]));
            for charge in plan["ratePlanCharges"].as_array().unwrap() {
                let charge_id = text(&charge["id"]);
                let row = charges[charge_id.as_str()];
                for (column, value) in [
                    ("RatePlanCharge.RatePlanId", &plan["id"]),
                    ("RatePlan.SubscriptionId", &v1["id"]),
                    ("RatePlan.Name", &plan["ratePlanName"]),
                    ("Subscription.Name", &v1["subscriptionNumber"]),
                    ("RatePlanCharge.ChargeModel", &charge["model"]),
                    ("RatePlanCharge.ChargeType", &charge["type"]),
                    ("RatePlanCharge.BillingPeriod", &charge["billingPeriod"]),
                    ("RatePlanCharge.Quantity", &charge["quantity"]),
                    ("RatePlanCharge.MRR", &charge["mrr"]),
                    ("RatePlanCharge.TCV", &charge["tcv"]),
                    (
                        "RatePlanCharge.EffectiveStartDate",
                        &charge["effectiveStartDate"],
                    ),
                    (
                        "RatePlanCharge.EffectiveEndDate",
                        &charge["effectiveEndDate"],
                    ),
                    (
                        "RatePlanCharge.ChargedThroughDate",
                        &charge["chargedThroughDate"],
                    ),
                ] {
                    assert_eq!(row[column], text(value), "{charge_id} {column}");
                }
                let rows = &tiers[charge_id.as_str()];
                for row in rows {
                    assert_eq!(
                        row["RatePlanChargeTier.Currency"],
                        text(&charge["currency"])
                    );
                    assert_eq!(row["RatePlanCharge.ChargeNumber"], text(&charge["number"]));
                }
                match charge["tiers"].as_array() {
                    Some(v1_tiers) => {
                        tiered += 1;
                        assert_eq!(rows.len(), v1_tiers.len(), "{charge_id}");
                        for (row, tier) in rows.iter().zip(v1_tiers) {
                            for (column, key) in [
                                ("Tier", "tier"),
                                ("Price", "price"),
                                ("StartingUnit", "startingUnit"),
                                ("EndingUnit", "endingUnit"),
                                ("PriceFormat", "priceFormat"),
                            ] {
                                let column = format!("RatePlanChargeTier.{column}");
                                assert_eq!(row[&column], text(&tier[key]), "{charge_id} {column}");
                            }
                        }
                    }
                    None => {
                        assert_eq!(rows.len(), 1, "{charge_id}");
                        assert_eq!(rows[0]["RatePlanChargeTier.Tier"], "1");
                        assert_eq!(rows[0]["RatePlanChargeTier.Price"], text(&charge["price"]));
                    }
                }
                checked += 1;
            }
        }
    }
    assert_eq!(tiered, 1);
    assert!(checked > 8, "{checked}");
    // The exact JSON text of the amounts, and the tiers of the edited charge.
    let edited = charges
        .values()
        .find(|row| row["RatePlanCharge.MRR"] == "8.333333");
    let edited = edited.expect("the edited charge");
    let edited_tiers = &tiers[edited["RatePlanCharge.Id"].as_str()];
    assert_eq!(edited_tiers[0]["RatePlanChargeTier.Price"], "100");
    assert_eq!(
        edited_tiers[0]["RatePlanChargeTier.PriceFormat"],
        "Flat Fee"
    );
    assert_eq!(edited_tiers[0]["RatePlanChargeTier.Currency"], "USD");
    let seats = tiers
        .values()
        .find(|rows| rows.len() == 2)
        .expect("the tiered charge");
    assert_eq!(seats[1]["RatePlanChargeTier.Price"], "4.75");
    assert_eq!(seats[1]["RatePlanChargeTier.StartingUnit"], "11");
    assert_eq!(seats[1]["RatePlanChargeTier.EndingUnit"], "");
}

#[tokio::test]
async fn an_unknown_joined_field_aborts_its_batch() {
    let sim = start().await;
    let queries = vec![
        json!({"name": "Good", "query": "select Id, Product.Name, Subscription.Name from RatePlan where Subscription.Name = 'A-S00000271'", "type": "zoqlexport"}),
        json!({"name": "BadField", "query": "select Id, Product.Nope from RatePlan", "type": "zoqlexport"}),
        json!({"name": "BadJoin", "query": "select Id, Product.Name from Subscription", "type": "zoqlexport"}),
    ];
    let (job, _) = poll_until_done(&sim, &submit(&sim, queries).await).await;
    assert_eq!(job["status"], "error");
    let good = batch(&job, "Good");
    let (header, rows) = rows_of(&sim, good).await;
    assert_eq!(header, ["RatePlan.Id", "Product.Name", "Subscription.Name"]);
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|row| row["Subscription.Name"] == "A-S00000271")
    );
    let bad = batch(&job, "BadField");
    assert_eq!(bad["status"], "aborted");
    assert_eq!(
        bad["message"],
        "invalid field for query: RatePlan.product.nope"
    );
    let bad = batch(&job, "BadJoin");
    assert_eq!(bad["status"], "aborted");
    assert_eq!(
        bad["message"],
        "invalid field for query: Subscription.product.name"
    );
}
