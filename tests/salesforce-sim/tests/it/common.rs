//! Shared helpers: a simulator that knows the test JWT key, an HTTP client with a token from
//! the client-credentials flow, request shorthands, and record and error builders.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::HeaderMap;
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use salesforce_sim::{SimConfig, SimHandle};
use serde_json::{Value, json};

pub const VERSION: &str = "v62.0";
pub const ACCOUNT: &str = "Zuora__CustomerAccount__c";
pub const SUBSCRIPTION: &str = "Zuora__Subscription__c";
pub const EXT: &str = "Zuora__External_Id__c";

pub const CLIENT_ID: &str = "zuora-sync-local";
pub const CLIENT_SECRET: &str = "salesforce-secret-for-tests";
pub const USERNAME: &str = "integration@zuora-sync.local";

pub const PRIVATE_KEY: &str = include_str!("../keys/private.pem");
pub const OTHER_PRIVATE_KEY: &str = include_str!("../keys/other-private.pem");
pub const PUBLIC_KEY: &str = include_str!("../keys/public.pem");

/// The Zuora 360 configuration, with `public.pem` registered for the JWT bearer flow.
pub fn config() -> SimConfig {
    SimConfig {
        jwt_public_key_pem: Some(PUBLIC_KEY.into()),
        ..SimConfig::zuora360()
    }
}

pub struct Sim {
    pub handle: SimHandle,
    pub http: Client,
    /// An access token from `POST /services/oauth2/token` (client credentials).
    pub token: String,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub async fn read(request: RequestBuilder) -> Self {
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|err| panic!("a JSON body, not {text:?}: {err}"));
        Self {
            status,
            headers,
            body,
        }
    }

    /// The `Sforce-Limit-Info` header.
    pub fn limit_info(&self) -> &str {
        self.headers
            .get("sforce-limit-info")
            .expect("a Sforce-Limit-Info header")
            .to_str()
            .expect("an ASCII header")
    }

    /// The per-record results of a collections call.
    pub fn results(&self) -> &Vec<Value> {
        assert_eq!(self.status, StatusCode::OK, "{:?}", self.body);
        self.body.as_array().expect("an array of results")
    }
}

pub async fn start() -> Sim {
    start_with(config()).await
}

pub async fn start_with(config: SimConfig) -> Sim {
    let handle = salesforce_sim::spawn(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator starts");
    let http = Client::new();
    let mut sim = Sim {
        handle,
        http,
        token: String::new(),
    };
    sim.token = sim.new_token().await;
    sim
}

impl Sim {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.handle.base_url)
    }

    /// `/services/data/v62.0{rest}`.
    pub fn data_url(&self, rest: &str) -> String {
        self.url(&format!("/services/data/{VERSION}{rest}"))
    }

    /// `POST /services/oauth2/token` with this form.
    pub async fn token_request(&self, form: &[(&str, &str)]) -> Answer {
        Answer::read(
            self.http
                .post(self.url("/services/oauth2/token"))
                .form(form),
        )
        .await
    }

    /// A fresh access token from the client-credentials flow.
    pub async fn new_token(&self) -> String {
        let answer = self
            .token_request(&[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ])
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        answer.body["access_token"]
            .as_str()
            .expect("an access token")
            .to_string()
    }

    /// A data request with `token` as the bearer.
    pub fn data_as(&self, token: &str, method: Method, rest: &str) -> RequestBuilder {
        self.http
            .request(method, self.data_url(rest))
            .bearer_auth(token)
    }

    pub fn data(&self, method: Method, rest: &str) -> RequestBuilder {
        self.data_as(&self.token, method, rest)
    }

    /// `PATCH /composite/sobjects/{object}/{field}` with this body.
    pub async fn upsert(&self, object: &str, field: &str, body: &Value) -> Answer {
        let rest = format!("/composite/sobjects/{object}/{field}");
        Answer::read(self.data(Method::PATCH, &rest).json(body)).await
    }

    /// An upsert by `Zuora__External_Id__c` with `allOrNone: false`.
    pub async fn upsert_records(&self, object: &str, records: Vec<Value>) -> Answer {
        self.upsert(
            object,
            EXT,
            &json!({"allOrNone": false, "records": records}),
        )
        .await
    }

    /// `DELETE /composite/sobjects?ids=a,b&allOrNone=…`.
    pub async fn delete(&self, ids: &[&str], all_or_none: bool) -> Answer {
        let rest = format!(
            "/composite/sobjects?ids={}&allOrNone={all_or_none}",
            ids.join(",")
        );
        Answer::read(self.data(Method::DELETE, &rest)).await
    }

    pub async fn query_as(&self, token: &str, soql: &str) -> Answer {
        Answer::read(
            self.data_as(token, Method::GET, "/query")
                .query(&[("q", soql)]),
        )
        .await
    }

    /// `GET /query?q=…`.
    pub async fn query(&self, soql: &str) -> Answer {
        self.query_as(&self.token, soql).await
    }

    /// A query that always succeeds on an empty org (a cheap counted call).
    pub async fn ping(&self) -> Answer {
        self.query("SELECT Id FROM Zuora__CustomerAccount__c LIMIT 1")
            .await
    }

    /// `GET /__sim__{path}` (no token).
    pub async fn control_get(&self, path: &str) -> Answer {
        Answer::read(self.http.get(self.url(&format!("/__sim__{path}")))).await
    }

    /// `{method} /__sim__{path}` with an optional JSON body (no token).
    pub async fn control(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self
            .http
            .request(method, self.url(&format!("/__sim__{path}")));
        if let Some(body) = body {
            request = request.json(&body);
        }
        Answer::read(request).await
    }

    /// The id of the `object` record with this `Zuora__External_Id__c`.
    pub fn id_of(&self, object: &str, external_id: &str) -> String {
        self.handle
            .find(object, EXT, external_id)
            .unwrap_or_else(|| panic!("{object} {external_id} is stored"))
            .id
    }
}

/// A `Zuora__CustomerAccount__c` record.
pub fn account(external_id: &str, name: &str) -> Value {
    json!({
        "attributes": {"type": ACCOUNT},
        "Zuora__External_Id__c": external_id,
        "Zuora__Zuora_Id__c": external_id,
        "Name": name,
    })
}

/// A `Zuora__Subscription__c` record linked to its customer account by External ID.
pub fn subscription(external_id: &str, account_external_id: &str) -> Value {
    json!({
        "attributes": {"type": SUBSCRIPTION},
        "Zuora__External_Id__c": external_id,
        "Name": format!("A-{external_id}"),
        "Zuora__Status__c": "Active",
        "Zuora__CustomerAccount__r": {"Zuora__External_Id__c": account_external_id},
    })
}

/// A request-level error body.
pub fn api_error(code: &str, message: &str) -> Value {
    json!([{"message": message, "errorCode": code}])
}

/// A failed per-record result.
pub fn record_error(code: &str, message: &str) -> Value {
    json!({"success": false, "errors": [{"statusCode": code, "message": message, "fields": []}]})
}

pub fn upserted(id: &str, created: bool) -> Value {
    json!({"id": id, "success": true, "errors": [], "created": created})
}

pub fn rolled_back() -> Value {
    record_error(
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "Record rolled back because not all records were valid and the request was using AllOrNone header",
    )
}

pub fn total_requests_exceeded() -> Value {
    api_error("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
}

pub fn long_requests_exceeded() -> Value {
    api_error(
        "REQUEST_LIMIT_EXCEEDED",
        "ConcurrentPerOrgLongTxn Limit exceeded.",
    )
}

pub fn invalid_session() -> Value {
    api_error("INVALID_SESSION_ID", "Session expired or invalid")
}

/// Waits for something the test can observe, failing instead of hanging.
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An RS256 JWT-bearer assertion signed with `private_key_pem`.
pub fn assertion(private_key_pem: &str, claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(private_key_pem.as_bytes()).expect("an RSA private key");
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &key).expect("a signed JWT")
}

/// Claims Salesforce accepts: the app, the integration user, the login audience, `exp` in a
/// minute.
pub fn good_claims() -> Value {
    json!({
        "iss": CLIENT_ID,
        "sub": USERNAME,
        "aud": "https://login.salesforce.com",
        "exp": now_secs() + 60,
    })
}
