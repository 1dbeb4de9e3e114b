//! `POST /plugins/zuora/entities/{entity}/hooks/post-login`: any OIDC IdP's post-login action,
//! carrying the user's ID token. Served by the post-login function (and the local stack), not
//! by sync-api; API Gateway routes it there.

use super::dto::{ErrorBody, HookAccepted, HookRequest};
use super::extract::PathParams;
use super::{error, json_response};
use crate::auth::{AuthError, HookVerifiers, claimed_issuer};
use crate::core::login::{Login, LoginService};
use crate::model::EntityId;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use serde_json::{Map, Value};
use std::sync::Arc;

/// A hook body above this size is refused (400, like any other unusable body).
const MAX_HOOK_BODY_BYTES: usize = 64 * 1024;

/// The hook route's state.
pub struct HookRoute {
    pub login: Arc<LoginService>,
    /// One verifier per allowed IdP, kept for the life of the process (JWKS caches).
    pub verifiers: HookVerifiers,
}

impl HookRoute {
    pub fn new(login: Arc<LoginService>, verifiers: HookVerifiers) -> Self {
        Self { login, verifiers }
    }
}

/// Marks a request whose API Gateway body claimed base64 and was not: the hook answers it 400
/// where it reads the body, as for any other unusable body.
#[derive(Debug, Clone, Copy)]
pub struct InvalidBase64Body;

/// Queue a hot sync for a user who just logged in at another IdP
///
/// Called by an IdP's post-login action (Okta, Auth0, Entra…) with the user's ID token. The
/// token is verified against the JWKS of the IdP its `iss` names, which must be in the entity's
/// `login_hooks` (RS256 pinned, `exp`, `iss`, `aud` checked). Its claims go through the
/// entity's claim configurations (Option A: account ids/numbers; Option B: a lookup, resolved by
/// the worker). Answers 202 once the jobs are queued, whatever they later do. Served by the
/// post-login function, not sync-api; authenticated by the ID token in the body, not a bearer
/// token.
#[utoipa::path(
    post,
    path = "/plugins/zuora/entities/{entity}/hooks/post-login",
    operation_id = "postLoginHook",
    tag = "login",
    params(
        ("entity" = String, Path, example = "default", pattern = "^[A-Za-z0-9_-]{1,64}$", description = "The Zuora entity (percent-decoded): 1 to 64 letters, digits, `-` or `_`."),
    ),
    request_body = HookRequest,
    responses(
        (status = 202, description = "Accepted; the report says what was queued.", body = HookAccepted),
        (status = 400, description = "`invalid_request`: the body is not JSON with an `id_token` (or larger than 65536 bytes); `invalid_entity`: the entity id is invalid.", body = ErrorBody),
        (status = 401, description = "`unauthorized`: the ID token does not verify (signature, issuer not allowed, audience, expiry). Nothing was queued.", body = ErrorBody),
        (status = 404, description = "`unknown_entity`: the entity is not configured.", body = ErrorBody),
        (status = 500, description = "`bad_configuration`: the entity's login hook for the token's issuer cannot be used (e.g. its JWKS URL).", body = ErrorBody),
        (status = 503, description = "`store_unavailable` / `keys_unavailable`: settings or the IdP's signing keys could not be read.", body = ErrorBody),
    ),
    security(()),
)]
pub(super) async fn post_login_hook(State(hook): State<Arc<HookRoute>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let params = PathParams::from_parts(&parts);
    let entity = match EntityId::parse(params.get("entity")) {
        Ok(e) => e,
        Err(e) => return error(400, "invalid_entity", &e.to_string()),
    };
    if !hook.login.sync.is_configured(&entity) {
        return error(
            404,
            "unknown_entity",
            &format!("entity {entity} is not configured"),
        );
    }
    let valid_base64 = parts.extensions.get::<InvalidBase64Body>().is_none();
    let token = match id_token(body, valid_base64).await {
        Ok(t) => t,
        Err(message) => return error(400, "invalid_request", &message),
    };
    let claims = match verify(&hook, &entity, &token).await {
        Ok(claims) => claims,
        Err(answer) => return *answer,
    };
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let request_id = match parts.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    };
    let login = Login {
        entity,
        subject,
        claims,
        correlation_id: request_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
    };
    let report = hook.login.hot_sync(&login).await;
    let answer = HookAccepted {
        status: "accepted".into(),
        hot_sync: report,
    };
    json_response(202, &answer)
}

/// The token's claims once verified against the IdP its issuer names, if that IdP is on the
/// entity's allow-list.
async fn verify(
    hook: &HookRoute,
    entity: &EntityId,
    token: &str,
) -> Result<Map<String, Value>, Box<Response>> {
    let unauthorized = |why: &str| Box::new(error(401, "unauthorized", why));
    let settings = hook
        .login
        .sync
        .entity_settings()
        .get(entity)
        .await
        .map_err(|e| {
            Box::new(error(
                503,
                "store_unavailable",
                &format!("settings could not be read: {e}"),
            ))
        })?
        .settings;
    let issuer =
        claimed_issuer(token).ok_or_else(|| unauthorized("the token is not a valid JWT"))?;
    let allowed = settings
        .login_hooks
        .iter()
        .find(|h| h.issuer == issuer)
        .ok_or_else(|| unauthorized("the token's issuer is not allowed for this entity"))?;
    let verifier = hook
        .verifiers
        .for_hook(allowed)
        .map_err(|e| Box::new(error(500, "bad_configuration", &e)))?;
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
            Err(Box::new(error(
                503,
                "keys_unavailable",
                "the identity provider's signing keys are unavailable",
            )))
        }
        Err(e) => Err(unauthorized(&e.to_string())),
    }
}

/// `{"id_token": "..."}` from the request body.
async fn id_token(body: Body, valid_base64: bool) -> Result<String, String> {
    if !valid_base64 {
        return Err("the body is not valid base64".into());
    }
    let bytes = axum::body::to_bytes(body, MAX_HOOK_BODY_BYTES)
        .await
        .map_err(|_| format!("the body is larger than {MAX_HOOK_BODY_BYTES} bytes"))?;
    let text = String::from_utf8(bytes.to_vec()).map_err(|_| "the body is not UTF-8")?;
    let body: Value =
        serde_json::from_str(&text).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    body.get("id_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or_else(|| "id_token: is required (the user's ID token)".into())
}
