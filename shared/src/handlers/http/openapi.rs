//! The OpenAPI 3.1 document, generated: the document-wide parts are here (info, servers, tags,
//! security schemes, the shared error responses); every operation comes from its handler's
//! `#[utoipa::path]` and every schema from the typed answers, so the document, the router and
//! the wire shapes come from the same code.

use super::dto::ErrorBody;
use axum::body::Body;
use axum::response::Response;
use std::sync::LazyLock;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{AdditionalProperties, Schema};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{PathItem, RefOr};
use utoipa::{Modify, OpenApi, ToResponse};

/// `unauthorized`: the token is missing, not a Bearer token, malformed, expired or not yet
/// valid, wrongly signed, of another algorithm, or has a wrong `iss`/`aud`.
#[derive(ToResponse)]
#[response(headers(("WWW-Authenticate" = String, description = "`Bearer error=\"invalid_token\"`")))]
#[allow(dead_code)]
pub(crate) struct Unauthorized(ErrorBody);

/// `forbidden`: the token's entities claim (`zuora_entities` by default) does not include the
/// entity (nor `*`), or its roles claim (`zuora_roles` by default) lacks the role the route
/// needs. Checked before the entity's existence is revealed.
#[derive(ToResponse)]
#[allow(dead_code)]
pub(crate) struct Forbidden(ErrorBody);

/// `body_too_large`: the request body is larger than 65536 bytes.
#[derive(ToResponse)]
#[allow(dead_code)]
pub(crate) struct BodyTooLarge(ErrorBody);

/// `not_found`: no route has this path (any route, any method).
#[derive(ToResponse)]
#[allow(dead_code)]
pub(crate) struct RouteNotFound(ErrorBody);

/// `method_not_allowed`: the path exists but not with this method (any route).
#[derive(ToResponse)]
#[response(headers(("Allow" = String, description = "The methods the path accepts, e.g. `GET, PATCH`.")))]
#[allow(dead_code)]
pub(crate) struct MethodNotAllowed(ErrorBody);

#[derive(OpenApi)]
#[openapi(
    info(title = "zuora-sync API", description = include_str!("openapi.md")),
    servers(
        (url = "/", description = "Routes at the root."),
        (url = "{basePath}", description = "Routes under the deployment's base path (`API_BASE_PATH`, e.g. `/api`).",
         variables(("basePath" = (default = "/api", description = "The value of `API_BASE_PATH`.")))),
    ),
    tags(
        (name = "sync", description = "Sync calls (role `sync`)."),
        (name = "events", description = "The sync event log (role `sync`)."),
        (name = "settings", description = "Per-entity settings (role `admin`)."),
        (name = "realtime", description = "Real-time sync: Zuora callouts and the entity's status."),
        (name = "salesforce", description = "The Salesforce push's failure list (role `sync`)."),
        (name = "login", description = "Hot sync at login for IdPs other than Cognito (served by the post-login function; authenticated by the user's ID token, not a bearer token)."),
        (name = "meta", description = "This document (public)."),
    ),
    components(
        schemas(ErrorBody),
        responses(Unauthorized, Forbidden, BodyTooLarge, RouteNotFound, MethodNotAllowed),
    ),
    modifiers(&SecuritySchemes),
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("A JWT with `exp`, `iss` (`JWT_ISSUER`) and `aud` (`JWT_AUDIENCE`), and the entities and roles claims. A requirement's list names the role the operation needs."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "calloutBasic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("Zuora callout credentials of the entity (non-preemptive: a request without credentials gets 401 with a Basic challenge)."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "calloutSecret",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Zuora-Sync-Secret",
                "A shared secret header set in the entity's callout template (the header name is configurable).",
            ))),
        );
    }
}

/// The whole API's document: every route of every function (the hook route is served by
/// post-login, the others by sync-api), whatever a process mounts.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(super::router::api_routes().into_openapi());
    doc.merge(super::router::hook_routes().into_openapi());
    // `security(())` is written `[{}]` (optional); these operations take none: `[]`.
    for item in doc.paths.paths.values_mut() {
        for op in operations_mut(item) {
            if let Some(security) = &mut op.security
                && security.iter().all(|r| *r == Default::default())
            {
                security.clear();
            }
        }
    }
    // The settings validation refuses unknown claim configuration fields; the stored type
    // itself reads leniently (older and newer versions), so its derived schema cannot say so.
    if let Some(RefOr::T(Schema::Object(claim))) = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("ClaimConfig"))
    {
        claim.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
    }
    doc
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.post,
        &mut item.put,
        &mut item.patch,
        &mut item.delete,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(openapi);
static DOCUMENT_JSON: LazyLock<String> =
    LazyLock::new(|| DOCUMENT.to_pretty_json().expect("the document serialises"));

/// [`openapi()`] as JSON, built once per process.
pub fn openapi_json() -> &'static str {
    DOCUMENT_JSON.as_str()
}

/// The document's paths, for the router's 405 answers.
pub(super) fn document_paths() -> &'static utoipa::openapi::path::PathsMap<String, PathItem> {
    &DOCUMENT.paths.paths
}

/// This OpenAPI document
///
/// The API's OpenAPI 3.1 document, generated from the code that serves it. Public: no token
/// needed.
#[utoipa::path(
    get,
    path = "/plugins/zuora/openapi.json",
    operation_id = "getOpenApi",
    tag = "meta",
    responses(
        (status = 200, description = "The document.", body = serde_json::Value, content_type = "application/json"),
    ),
    security(()),
)]
pub(super) async fn document() -> Response {
    Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(openapi_json()))
        .expect("status and header are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_served_json_is_the_document() {
        let served: serde_json::Value = serde_json::from_str(openapi_json()).unwrap();
        assert_eq!(served, serde_json::to_value(openapi()).unwrap());
        assert!(served["openapi"].as_str().unwrap().starts_with("3.1"));
    }

    #[test]
    fn public_operations_take_no_security_at_all() {
        let doc = serde_json::to_value(openapi()).unwrap();
        for (path, method) in [
            ("/plugins/zuora/openapi.json", "get"),
            ("/plugins/zuora/entities/{entity}/hooks/post-login", "post"),
        ] {
            assert_eq!(
                doc["paths"][path][method]["security"],
                serde_json::json!([])
            );
        }
        assert_eq!(
            super::super::router::allowed_methods("/plugins/zuora/entities/{entity}/settings"),
            ["GET", "PATCH"]
        );
    }
}
