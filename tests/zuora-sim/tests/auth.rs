//! OAuth token flow, bearer checks and the headers every response carries.

mod common;

use common::{Sim, into_json, start, start_with};
use reqwest::StatusCode;
use zuora_sim::SimConfig;

async fn request_token(sim: &Sim, form: &[(&str, &str)]) -> (StatusCode, serde_json::Value) {
    let response = sim
        .http
        .post(sim.url("/oauth/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    into_json(response).await
}

const GOOD: [(&str, &str); 3] = [
    ("client_id", "sim-client"),
    ("client_secret", "sim-secret"),
    ("grant_type", "client_credentials"),
];

#[tokio::test]
async fn token_flow() {
    let sim = start().await;
    let (status, body) = request_token(&sim, &GOOD).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3599);
    assert!(body["scope"].as_str().unwrap().contains("entity."));
    assert!(body["jti"].is_string());
    let token = body["access_token"].as_str().unwrap();
    let response = sim
        .http
        .get(sim.url("/v1/accounts/A00000001"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let stats = sim.handle.stats();
    assert_eq!(stats.requests("oauth_token"), 1);
    assert_eq!(stats.requests("v1_account"), 1);
}

#[tokio::test]
async fn bad_token_requests() {
    let sim = start().await;
    let wrong_secret = [
        ("client_id", "sim-client"),
        ("client_secret", "nope"),
        ("grant_type", "client_credentials"),
    ];
    let (status, body) = request_token(&sim, &wrong_secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");

    let wrong_grant = [
        ("client_id", "sim-client"),
        ("client_secret", "sim-secret"),
        ("grant_type", "password"),
    ];
    let (status, body) = request_token(&sim, &wrong_grant).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unsupported_grant_type");

    let (status, body) = request_token(&sim, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
}

async fn assert_unauthorized(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Basic realm=Zuora API, ZSession realm=Zuora API, Bearer realm=Zuora API"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"message": "Authentication error"}));
}

#[tokio::test]
async fn requests_without_a_valid_token_get_401() {
    let sim = start().await;
    let url = sim.url("/object-query/accounts/A00000001");
    assert_unauthorized(sim.http.get(&url).send().await.unwrap()).await;
    assert_unauthorized(
        sim.http
            .get(&url)
            .bearer_auth("forged")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let basic = sim
        .http
        .get(&url)
        .basic_auth("sim-client", Some("sim-secret"));
    assert_unauthorized(basic.send().await.unwrap()).await;
    let query = sim
        .http
        .post(sim.url("/v1/action/query"))
        .json(&serde_json::json!({"queryString": "select Id from Account"}));
    assert_unauthorized(query.send().await.unwrap()).await;
    // Rejected requests still count: a client that loops on 401 shows up in the stats.
    assert_eq!(sim.handle.stats().requests("object_query_account"), 3);
}

#[tokio::test]
async fn tokens_expire() {
    let mut config = SimConfig::demo();
    config.token_ttl_secs = 1;
    let sim = start_with(config).await;
    let (_, body) = request_token(&sim, &GOOD).await;
    assert_eq!(body["expires_in"], 1);
    let token = body["access_token"].as_str().unwrap().to_string();
    let get = || {
        sim.http
            .get(sim.url("/v1/accounts/A00000001"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(get().await.unwrap().status(), StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_unauthorized(get().await.unwrap()).await;
}

#[tokio::test]
async fn expire_tokens_invalidates_everything_issued() {
    let sim = start().await;
    assert_eq!(
        sim.get("/v1/accounts/A00000001").await.status(),
        StatusCode::OK
    );
    sim.handle.expire_tokens();
    assert_unauthorized(sim.get("/v1/accounts/A00000001").await).await;
}

#[tokio::test]
async fn standard_headers_and_track_id_echo() {
    let sim = start().await;
    let response = sim
        .http
        .get(sim.url("/v1/accounts/A00000001"))
        .bearer_auth(&sim.token)
        .header("Zuora-Track-Id", "corr-123")
        .send()
        .await
        .unwrap();
    let headers = response.headers();
    assert_eq!(headers["zuora-track-id"], "corr-123");
    assert_eq!(headers["zuora-request-id"].len(), 36);
    for name in [
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "concurrency-limit-type",
        "concurrency-limit-limit",
        "concurrency-limit-remaining",
    ] {
        assert!(headers.contains_key(name), "{name}");
    }
    assert_eq!(headers["concurrency-limit-type"], "Default");
    assert_eq!(headers["concurrency-limit-limit"], "40");
    let oq = sim.get("/object-query/accounts/A00000001").await;
    assert_eq!(oq.headers()["concurrency-limit-type"], "Object Query");
    let missing = sim.get("/v1/accounts/NOPE").await;
    let request_id = missing.headers()["zuora-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["requestId"], request_id.as_str());
}
