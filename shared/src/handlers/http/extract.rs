//! What every route needs from a request before its own work: path parameters, and who the
//! caller is. Authentication and authorisation are extractors, so that a handler cannot run
//! without them: `Bearer<SyncRole>` / `Bearer<AdminRole>` for the bearer routes, `Callout` for
//! Zuora's callouts. Both answer with the error response themselves.

use super::{Api, Rejection, error};
use crate::auth::{AuthError, CalloutAuth, Principal, Role};
use crate::model::{EntityId, EpochMillis};
use axum::extract::{FromRequestParts, MatchedPath};
use axum::response::Response;
use http::request::Parts;
use lambda_http::RequestExt;
use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::Arc;

/// The route's path parameters, percent-decoded (invalid UTF-8 replaced, so a malformed value
/// reaches the id parsers and gets the route's own error instead of a generic 400).
pub(crate) struct PathParams(Vec<(String, String)>);

impl PathParams {
    pub(crate) fn from_parts(parts: &Parts) -> Self {
        let template = parts
            .extensions
            .get::<MatchedPath>()
            .map(MatchedPath::as_str)
            .unwrap_or("");
        // The router matched this path against this template, segment by segment.
        let params = template
            .split('/')
            .zip(parts.uri.path().split('/'))
            .filter_map(|(t, raw)| {
                let name = t.strip_prefix('{')?.strip_suffix('}')?;
                Some((name.to_string(), super::decode(raw)))
            })
            .collect();
        Self(params)
    }

    pub(crate) fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PathParams {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Self::from_parts(parts))
    }
}

/// A bearer route's role, as a type: the role is part of the handler's signature.
pub(crate) trait RouteRole: Send + Sync {
    const ROLE: Role;
}

pub(crate) struct SyncRole;
pub(crate) struct AdminRole;

impl RouteRole for SyncRole {
    const ROLE: Role = Role::Sync;
}

impl RouteRole for AdminRole {
    const ROLE: Role = Role::Admin;
}

/// A request that passed authentication and authorisation, with what the handlers need of it.
pub(crate) struct Caller {
    pub entity: EntityId,
    pub principal: Principal,
    pub correlation_id: String,
    pub deadline: EpochMillis,
}

/// A bearer JWT with role `R` for the route's entity. In this order: the token (401, or 502 when
/// the keys cannot be fetched), the entity id (400; 502 on the public route), the entity and
/// the role (403, before anything of the entity is read or its existence revealed), the entity
/// is configured (404).
pub(crate) struct Bearer<R>(pub Caller, pub PhantomData<R>);

/// A verified token, on a route about the caller rather than an entity.
pub(crate) struct Identity(pub Principal);

impl FromRequestParts<Arc<Api>> for Identity {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, api: &Arc<Api>) -> Result<Self, Response> {
        principal(parts, api).await.map(Self)
    }
}

/// The caller the `Authorization` header's token names, once the token is verified.
async fn principal(parts: &Parts, api: &Api) -> Result<Principal, Response> {
    let authorization = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let claims = api
        .auth
        .verify_header(authorization)
        .await
        .map_err(|e| auth_error(&e))?;
    Ok(Principal::from_claims(&claims, &api.access))
}

impl<R: RouteRole> FromRequestParts<Arc<Api>> for Bearer<R> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, api: &Arc<Api>) -> Result<Self, Response> {
        let principal = principal(parts, api).await?;
        let entity = entity_of(api, parts).map_err(|r| *r)?;
        if !principal.may_use(entity.as_str()) {
            return Err(error(
                403,
                "forbidden",
                &format!("this token is not authorised for entity {entity}"),
            ));
        }
        if !principal.has_role(R::ROLE) {
            return Err(error(
                403,
                "forbidden",
                &format!("this route needs the {} role", R::ROLE.as_str()),
            ));
        }
        if !api.sync.is_configured(&entity) {
            return Err(error(
                404,
                "unknown_entity",
                &format!("entity {entity} is not configured"),
            ));
        }
        let caller = Caller {
            entity,
            principal,
            correlation_id: super::correlation_id(parts),
            deadline: api.deadline(parts),
        };
        Ok(Self(caller, PhantomData))
    }
}

/// The entity a request is for: the `{entity}` path segment, or on a route without one (the
/// public subscription route) an optional `?entity=`, the default entity without it.
fn entity_of(api: &Api, parts: &Parts) -> Result<EntityId, Rejection> {
    let params = PathParams::from_parts(parts);
    if params.has("entity") {
        return EntityId::parse(params.get("entity"))
            .map_err(|e| Box::new(error(400, "invalid_entity", &e.to_string())));
    }
    let query = super::query_pairs(&parts.uri);
    match query.into_iter().find(|(k, _)| k == "entity") {
        None => Ok(api.default_entity.clone()),
        // The public route keeps its 200/401/502 contract.
        Some((_, raw)) => EntityId::parse(&raw)
            .map_err(|e| Box::new(error(502, "invalid_entity", &e.to_string()))),
    }
}

fn auth_error(e: &AuthError) -> Response {
    if let AuthError::KeysUnavailable(_) = e {
        tracing::error!(error = %e, "cannot verify tokens");
        return error(
            502,
            "auth_keys_unavailable",
            "token signing keys are unavailable; try again later",
        );
    }
    let mut r = error(401, "unauthorized", &e.to_string());
    r.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    r
}

/// Zuora's callout credentials for the `{entity}` segment's entity: an invalid id is a 400, an
/// entity without callout credentials a 404, missing or wrong credentials a 401 (with the Basic
/// challenge Zuora waits for before it sends them).
pub(crate) struct Callout {
    pub entity: EntityId,
    pub correlation_id: String,
}

impl FromRequestParts<Arc<Api>> for Callout {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, api: &Arc<Api>) -> Result<Self, Response> {
        let params = PathParams::from_parts(parts);
        let entity = EntityId::parse(params.get("entity"))
            .map_err(|e| error(400, "invalid_entity", &e.to_string()))?;
        let Some(auth) = api.callouts.get(&entity) else {
            return Err(error(
                404,
                "callouts_not_configured",
                &format!("entity {entity} accepts no callouts"),
            ));
        };
        if !auth.accepts(&parts.headers) {
            return Err(challenge(auth));
        }
        Ok(Self {
            entity,
            correlation_id: super::correlation_id(parts),
        })
    }
}

/// `401` with, for Basic, the challenge Zuora waits for before it sends credentials.
fn challenge(auth: &CalloutAuth) -> Response {
    let mut r = error(
        401,
        "unauthorized",
        "callout credentials are missing or wrong",
    );
    if let CalloutAuth::Basic { .. } = auth {
        r.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Basic realm=\"zuora-sync\", charset=\"UTF-8\""),
        );
    }
    r
}

/// The Lambda invocation's request id, when there is one (not on the local server).
pub(crate) fn lambda_request_id(parts: &Parts) -> Option<String> {
    parts
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .filter(|id| !id.is_empty())
}
