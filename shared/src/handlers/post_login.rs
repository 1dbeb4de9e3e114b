//! The two ways a login arrives at the post-login function: the Cognito PostAuthentication
//! trigger, and `POST /plugins/zuora/entities/{entity}/hooks/post-login` from any OIDC IdP's
//! post-login action, carrying the user's ID token.

use crate::auth::{AuthError, HookVerifiers, claimed_issuer};
use crate::core::login::{Login, LoginService};
use crate::model::EntityId;
use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use base64::Engine;
use http::HeaderMap;
use lambda_runtime::LambdaEvent;
use serde_json::{Map, Value, json};
use std::sync::Arc;

pub const HOOK_PATH: &str = "/plugins/zuora/entities/{entity}/hooks/post-login";

fn response(status: i64, body: Value) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    let mut r = ApiGatewayV2httpResponse::default();
    r.status_code = status;
    r.headers = headers;
    r.body = Some(Body::Text(body.to_string()));
    r
}

fn error(status: i64, code: &str, message: &str) -> ApiGatewayV2httpResponse {
    response(status, json!({"message": message, "code": code}))
}

/// The `{entity}` of a hook path (after an optional base path), if the path is the hook's.
fn hook_entity(path: &str) -> Option<&str> {
    let path = path.trim_end_matches('/');
    let rest = &path[path.find("/plugins/zuora/entities/")?..];
    let entity = rest
        .strip_prefix("/plugins/zuora/entities/")?
        .strip_suffix("/hooks/post-login")?;
    (!entity.is_empty() && !entity.contains('/')).then_some(entity)
}

/// The post-login function's handler: one Lambda serves both ways a login arrives.
pub struct PostLogin {
    pub login: Arc<LoginService>,
    /// One verifier per allowed IdP, kept for the life of the process (JWKS caches).
    pub hooks: HookVerifiers,
}

impl PostLogin {
    pub fn new(login: Arc<LoginService>) -> Self {
        Self {
            login,
            hooks: HookVerifiers::default(),
        }
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
            let request: ApiGatewayV2httpRequest = serde_json::from_value(payload)?;
            return Ok(serde_json::to_value(self.hook(request).await)?);
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

    /// The post-login hook: `{"id_token": "<JWT>"}` from an IdP on the entity's allow-list.
    /// `202` once the syncs are queued (whatever they later do); `401` for a token that does
    /// not verify, with nothing queued.
    pub async fn hook(&self, req: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
        let path = req
            .raw_path
            .clone()
            .or_else(|| req.request_context.http.path.clone())
            .unwrap_or_default();
        let Some(raw_entity) = hook_entity(&path) else {
            return error(404, "not_found", "no such route");
        };
        if req.request_context.http.method != http::Method::POST {
            return error(405, "method_not_allowed", "this route accepts POST only");
        }
        let entity = match EntityId::parse(raw_entity) {
            Ok(e) => e,
            Err(e) => return error(400, "invalid_entity", &e.to_string()),
        };
        if !self.login.sync.is_configured(&entity) {
            return error(
                404,
                "unknown_entity",
                &format!("entity {entity} is not configured"),
            );
        }
        let token = match id_token(&req) {
            Ok(t) => t,
            Err(message) => return error(400, "invalid_request", &message),
        };
        let claims = match self.verify(&entity, &token).await {
            Ok(claims) => claims,
            Err(answer) => return answer,
        };
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let login = Login {
            entity,
            subject,
            claims,
            correlation_id: req
                .request_context
                .request_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        };
        let report = self.login.hot_sync(&login).await;
        response(202, json!({"status": "accepted", "hot_sync": report}))
    }

    /// The token's claims once verified against the IdP its issuer names, if that IdP is on
    /// the entity's allow-list.
    async fn verify(
        &self,
        entity: &EntityId,
        token: &str,
    ) -> Result<Map<String, Value>, ApiGatewayV2httpResponse> {
        let unauthorized = |why: &str| error(401, "unauthorized", why);
        let settings = self
            .login
            .sync
            .entity_settings()
            .get(entity)
            .await
            .map_err(|e| {
                error(
                    503,
                    "store_unavailable",
                    &format!("settings could not be read: {e}"),
                )
            })?
            .settings;
        let issuer =
            claimed_issuer(token).ok_or_else(|| unauthorized("the token is not a valid JWT"))?;
        let hook = settings
            .login_hooks
            .iter()
            .find(|h| h.issuer == issuer)
            .ok_or_else(|| unauthorized("the token's issuer is not allowed for this entity"))?;
        let verifier = self
            .hooks
            .for_hook(hook)
            .map_err(|e| error(500, "bad_configuration", &e))?;
        match verifier.verify(token).await {
            Ok(claims) => {
                let mut map = claims.other;
                if let Some(sub) = claims.sub {
                    map.insert("sub".into(), Value::String(sub));
                }
                Ok(map)
            }
            Err(AuthError::KeysUnavailable(e)) => {
                tracing::error!(issuer, error = %e, "cannot fetch the IdP's signing keys");
                Err(error(
                    503,
                    "keys_unavailable",
                    "the identity provider's signing keys are unavailable",
                ))
            }
            Err(e) => Err(unauthorized(&e.to_string())),
        }
    }
}

/// `{"id_token": "..."}` from the request body.
fn id_token(req: &ApiGatewayV2httpRequest) -> Result<String, String> {
    let raw = req.body.as_deref().unwrap_or("");
    let text = if req.is_base64_encoded {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|_| "the body is not valid base64".to_string())?;
        String::from_utf8(bytes).map_err(|_| "the body is not UTF-8".to_string())?
    } else {
        raw.to_string()
    };
    if text.len() > 64 * 1024 {
        return Err("the body is larger than 65536 bytes".into());
    }
    let body: Value =
        serde_json::from_str(&text).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    body.get("id_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or_else(|| "id_token: is required (the user's ID token)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_entity_under_any_base_path() {
        assert_eq!(
            hook_entity("/plugins/zuora/entities/eu/hooks/post-login"),
            Some("eu")
        );
        assert_eq!(
            hook_entity("/api/plugins/zuora/entities/eu/hooks/post-login/"),
            Some("eu")
        );
        assert_eq!(
            hook_entity("/plugins/zuora/entities//hooks/post-login"),
            None
        );
        assert_eq!(hook_entity("/plugins/zuora/entities/eu/settings"), None);
    }
}
