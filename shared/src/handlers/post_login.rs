//! The two ways a login arrives at the post-login function: the Cognito PostAuthentication
//! trigger, and `POST /plugins/zuora/entities/{entity}/hooks/post-login` from any OIDC IdP's
//! post-login action, carrying the user's ID token. One Lambda handler takes both: a Cognito
//! event is handled here, an API Gateway request goes through the HTTP router (the same router
//! sync-api runs, mounting only the hook route).

use crate::auth::HookVerifiers;
use crate::core::login::{Login, LoginService};
use crate::handlers::http::{HookRoute, InvalidBase64Body, Mount, router};
use crate::model::EntityId;
use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use base64::Engine;
use lambda_http::RequestExt;
use lambda_http::request::LambdaRequest;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Map, Value};
use std::sync::Arc;
use tower::ServiceExt;

pub const HOOK_PATH: &str = "/plugins/zuora/entities/{entity}/hooks/post-login";

/// The post-login function's handler: one Lambda serves both ways a login arrives.
pub struct PostLogin {
    pub login: Arc<LoginService>,
    hook: Arc<HookRoute>,
    router: axum::Router,
}

impl PostLogin {
    pub fn new(login: Arc<LoginService>) -> Self {
        Self::with_base_path(login, "")
    }

    /// The hook route also answers under `base_path` (`API_BASE_PATH`), like every route.
    pub fn with_base_path(login: Arc<LoginService>, base_path: &str) -> Self {
        Self::with_verifiers(login, base_path, HookVerifiers::default())
    }

    /// As [`with_base_path`](Self::with_base_path), with the hook route's token verifiers
    /// (the composition root's: they fetch IdP keys with its guarded client).
    pub fn with_verifiers(
        login: Arc<LoginService>,
        base_path: &str,
        verifiers: HookVerifiers,
    ) -> Self {
        let hook = Arc::new(HookRoute::new(login.clone(), verifiers));
        let router = router(Mount {
            hook: Some(hook.clone()),
            base_path: base_path.to_string(),
            ..Mount::default()
        });
        Self {
            login,
            hook,
            router,
        }
    }

    /// The hook route's state, for a process that mounts it beside other routes (the local
    /// stack).
    pub fn hook_route(&self) -> Arc<HookRoute> {
        self.hook.clone()
    }

    /// The Lambda handler: a Cognito trigger event comes back unchanged; an API Gateway
    /// request is the hook route.
    pub async fn handle(
        &self,
        event: LambdaEvent<Value>,
        cognito_entity: &EntityId,
    ) -> Result<Value, lambda_runtime::Error> {
        let (payload, context) = event.into_parts();
        if payload.get("triggerSource").is_some() {
            return Ok(self
                .cognito(payload, cognito_entity, &context.request_id)
                .await);
        }
        if payload.get("requestContext").is_some() && payload.get("routeKey").is_some() {
            let request: LambdaRequest = serde_json::from_value(payload)?;
            return Ok(serde_json::to_value(
                self.http(request, Some(context)).await,
            )?);
        }
        Err("unsupported event: neither a Cognito trigger nor an API Gateway request".into())
    }

    /// Cognito PostAuthentication: claims from `request.userAttributes` (`sub`, `email`,
    /// `custom:…`). Returns the event as it came, whatever the hot sync did.
    pub async fn cognito(&self, event: Value, entity: &EntityId, request_id: &str) -> Value {
        let source = event["triggerSource"].as_str().unwrap_or("");
        if !source.starts_with("PostAuthentication") {
            tracing::warn!(source, "not a PostAuthentication trigger; nothing to do");
            return event;
        }
        let claims: Map<String, Value> = event["request"]["userAttributes"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .or_else(|| event["userName"].as_str())
            .unwrap_or("")
            .to_string();
        let login = Login {
            entity: entity.clone(),
            subject,
            claims,
            correlation_id: if request_id.is_empty() {
                uuid::Uuid::new_v4().to_string()
            } else {
                request_id.to_string()
            },
        };
        self.login.hot_sync(&login).await;
        event
    }

    /// The post-login hook, as API Gateway (payload 2.0) sends it to this function.
    pub async fn hook(&self, request: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
        self.http(LambdaRequest::ApiGatewayV2(request), None).await
    }

    /// An API Gateway request through the router, and its answer back as API Gateway's.
    async fn http(
        &self,
        mut request: LambdaRequest,
        context: Option<Context>,
    ) -> ApiGatewayV2httpResponse {
        // lambda_http panics on a body flagged base64 that is not; the hook answers it 400.
        let mut invalid_base64 = false;
        if let LambdaRequest::ApiGatewayV2(event) = &mut request
            && event.is_base64_encoded
            && let Some(body) = &event.body
            && base64::engine::general_purpose::STANDARD
                .decode(body)
                .is_err()
        {
            invalid_base64 = true;
            event.body = None;
            event.is_base64_encoded = false;
        }
        let mut req: http::Request<lambda_http::Body> = request.into();
        if let Some(context) = context {
            req = req.with_lambda_context(context);
        }
        if invalid_base64 {
            req.extensions_mut().insert(InvalidBase64Body);
        }
        let response = match self.router.clone().oneshot(req).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        to_api_gateway(response).await
    }
}

async fn to_api_gateway(response: axum::response::Response) -> ApiGatewayV2httpResponse {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let mut out = ApiGatewayV2httpResponse::default();
    out.status_code = i64::from(parts.status.as_u16());
    out.headers = parts.headers;
    // API Gateway computes the length of what it sends.
    out.headers.remove(http::header::CONTENT_LENGTH);
    match String::from_utf8(bytes.to_vec()) {
        Ok(text) => out.body = Some(Body::Text(text)),
        Err(e) => {
            out.body = Some(Body::Text(
                base64::engine::general_purpose::STANDARD.encode(e.into_bytes()),
            ));
            out.is_base64_encoded = true;
        }
    }
    out
}
