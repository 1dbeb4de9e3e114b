//! Shared helpers for the simulator's integration tests.
#![allow(dead_code)]

use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use zuora_sim::{SimConfig, SimHandle};

pub struct Sim {
    pub handle: SimHandle,
    pub http: Client,
    pub token: String,
}

pub async fn start() -> Sim {
    start_with(SimConfig::demo()).await
}

pub async fn start_with(config: SimConfig) -> Sim {
    let handle = zuora_sim::spawn(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator starts");
    let token = handle.token();
    Sim {
        handle,
        http: Client::new(),
        token,
    }
}

impl Sim {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.handle.base_url)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        into_json(self.get(path).await).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .expect("request sent");
        into_json(response).await
    }

    /// Runs a ZOQL query through `POST /v1/action/query`.
    pub async fn zoql(&self, query: &str) -> (StatusCode, Value) {
        self.post_json(
            "/v1/action/query",
            &serde_json::json!({"queryString": query}),
        )
        .await
    }
}

pub async fn into_json(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let body = response.json().await.expect("a JSON body");
    (status, body)
}

/// The `reasons[0].code` of a Zuora error body.
pub fn reason_code(body: &Value) -> i64 {
    body["reasons"][0]["code"].as_i64().unwrap_or_default()
}
