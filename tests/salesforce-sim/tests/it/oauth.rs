//! `POST /services/oauth2/token`: client credentials, JWT bearer, their errors, and the 401 a
//! data call gets without a valid token.

use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

fn oauth_error(error: &str, description: &str) -> Value {
    json!({"error": error, "error_description": description})
}

async fn jwt_grant(sim: &Sim, assertion: &str) -> Answer {
    sim.token_request(&[
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("assertion", assertion),
    ])
    .await
}

fn keys(body: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = body
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[tokio::test]
async fn client_credentials_returns_a_bearer_token_for_this_instance() {
    let sim = start().await;
    let answer = sim
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let body = &answer.body;
    assert_eq!(
        keys(body),
        [
            "access_token",
            "id",
            "instance_url",
            "issued_at",
            "scope",
            "signature",
            "token_type"
        ],
        "no expires_in, no refresh_token: {body}"
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["instance_url"], sim.handle.base_url.as_str());
    let id = body["id"].as_str().unwrap();
    assert!(
        id.starts_with(&format!("{}/id/00D", sim.handle.base_url)),
        "{id}"
    );
    let issued_at: u128 = body["issued_at"]
        .as_str()
        .expect("issued_at is a string")
        .parse()
        .expect("epoch milliseconds");
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    assert!(
        issued_at <= now_ms && issued_at + 60_000 > now_ms,
        "{issued_at}"
    );

    let token = body["access_token"].as_str().unwrap();
    assert_ne!(token, sim.token);
    assert_eq!(
        sim.query_as(token, "SELECT Id FROM Zuora__CustomerAccount__c")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(sim.handle.stats().tokens_issued, 2);
}

#[tokio::test]
async fn a_wrong_client_secret_is_invalid_client() {
    let sim = start().await;
    let answer = sim
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", "not-the-secret"),
        ])
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.body,
        oauth_error("invalid_client", "invalid client credentials")
    );
    assert_eq!(sim.handle.stats().tokens_issued, 1);
}

#[tokio::test]
async fn an_unknown_client_id_is_invalid_client_id() {
    let sim = start().await;
    let answer = sim
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", "someone-else"),
            ("client_secret", CLIENT_SECRET),
        ])
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.body,
        oauth_error("invalid_client_id", "client identifier invalid")
    );
}

#[tokio::test]
async fn an_unsupported_grant_type_is_refused() {
    let sim = start().await;
    for form in [
        vec![("grant_type", "password"), ("username", USERNAME)],
        vec![("client_id", CLIENT_ID)],
    ] {
        let answer = sim.token_request(&form).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            answer.body,
            oauth_error("unsupported_grant_type", "grant type not supported")
        );
    }
}

#[tokio::test]
async fn jwt_bearer_returns_a_token_without_issued_at() {
    let sim = start().await;
    let answer = jwt_grant(&sim, &assertion(PRIVATE_KEY, &good_claims())).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        keys(&answer.body),
        ["access_token", "id", "instance_url", "scope", "token_type"]
    );
    assert_eq!(answer.body["token_type"], "Bearer");
    assert_eq!(answer.body["instance_url"], sim.handle.base_url.as_str());
    let token = answer.body["access_token"].as_str().unwrap();
    let query = sim
        .query_as(token, "SELECT Id FROM Zuora__CustomerAccount__c")
        .await;
    assert_eq!(query.status, StatusCode::OK);
}

#[tokio::test]
async fn jwt_bearer_accepts_the_login_test_and_instance_audiences() {
    let sim = start().await;
    for audience in [
        "https://login.salesforce.com",
        "https://test.salesforce.com",
        sim.handle.base_url.as_str(),
    ] {
        let mut claims = good_claims();
        claims["aud"] = json!(audience);
        let answer = jwt_grant(&sim, &assertion(PRIVATE_KEY, &claims)).await;
        assert_eq!(answer.status, StatusCode::OK, "{audience}: {}", answer.body);
    }
}

#[tokio::test]
async fn a_jwt_signed_with_another_key_is_invalid_grant() {
    let sim = start().await;
    let answer = jwt_grant(&sim, &assertion(OTHER_PRIVATE_KEY, &good_claims())).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.body,
        oauth_error("invalid_grant", "invalid assertion")
    );
    assert_eq!(sim.handle.stats().tokens_issued, 1);
}

#[tokio::test]
async fn an_expired_jwt_is_invalid_grant() {
    let sim = start().await;
    let mut claims = good_claims();
    claims["exp"] = json!(now_secs() - 600);
    let answer = jwt_grant(&sim, &assertion(PRIVATE_KEY, &claims)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.body,
        oauth_error("invalid_grant", "expired authorization code")
    );
}

#[tokio::test]
async fn a_jwt_expiring_too_far_ahead_is_invalid_grant() {
    let sim = start().await;
    let mut claims = good_claims();
    claims["exp"] = json!(now_secs() + 3600);
    let answer = jwt_grant(&sim, &assertion(PRIVATE_KEY, &claims)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.body,
        oauth_error("invalid_grant", "invalid assertion")
    );
}

#[tokio::test]
async fn a_malformed_assertion_is_invalid_grant() {
    let sim = start().await;
    let answer = jwt_grant(&sim, "not.a-jwt").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.body,
        oauth_error("invalid_grant", "invalid assertion")
    );
}

#[tokio::test]
async fn a_jwt_with_a_wrong_audience_or_user_is_invalid_grant() {
    let sim = start().await;
    let mut claims = good_claims();
    claims["aud"] = json!("https://example.com");
    let answer = jwt_grant(&sim, &assertion(PRIVATE_KEY, &claims)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.body,
        oauth_error("invalid_grant", "audience is invalid")
    );

    let mut claims = good_claims();
    claims["sub"] = json!("someone@else.example");
    let answer = jwt_grant(&sim, &assertion(PRIVATE_KEY, &claims)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.body,
        oauth_error("invalid_grant", "user hasn't approved this consumer")
    );
}

#[tokio::test]
async fn a_jwt_from_an_unknown_app_is_invalid_client_id() {
    let sim = start().await;
    let mut claims = good_claims();
    claims["iss"] = json!("another-app");
    let answer = jwt_grant(&sim, &assertion(PRIVATE_KEY, &claims)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.body,
        oauth_error("invalid_client_id", "client identifier invalid")
    );
}

#[tokio::test]
async fn without_a_registered_key_every_assertion_is_invalid_grant() {
    let sim = start_with(salesforce_sim::SimConfig::zuora360()).await;
    let answer = jwt_grant(&sim, &assertion(PRIVATE_KEY, &good_claims())).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.body,
        oauth_error("invalid_grant", "invalid assertion")
    );
}

#[tokio::test]
async fn a_data_call_without_a_valid_token_is_invalid_session_id() {
    let sim = start().await;
    let unknown = sim
        .query_as(
            "00D5f0000000001!nope",
            "SELECT Id FROM Zuora__CustomerAccount__c",
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.body, invalid_session());

    let missing = Answer::read(
        sim.http
            .get(sim.data_url("/query"))
            .query(&[("q", "SELECT Id FROM Zuora__CustomerAccount__c")]),
    )
    .await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.body, invalid_session());
    assert_eq!(sim.handle.api_usage(), 0);
    assert_eq!(sim.handle.stats().calls("query"), 2);
}
