//! The operator console: a static page and its ES modules, built into the binary (no CDN, works
//! offline), served under `/console/` with a strict Content-Security-Policy; its sign-in
//! configuration; and `GET /plugins/zuora/me`, which tells the page what the caller may see.
//!
//! The page renders every value as text (never as HTML) and keeps its token in session
//! storage. The CSP allows scripts, styles and fetches from this origin only (plus the IdP's
//! token endpoint), no inline script or style attribute, and no framing.

use super::dto::ErrorBody;
use super::extract::Identity;
use super::openapi::{Forbidden, Unauthorized};
use super::{Api, error, json_response};
use crate::auth::Role;
use axum::extract::{Path, State};
use axum::response::Response;
use include_dir::{Dir, include_dir};
use std::sync::Arc;

/// The console's routes: the page and its files (GET only; not API operations).
pub const CONSOLE_PATHS: [&str; 2] = ["/console", "/console/{file}"];

static ASSETS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/src/handlers/http/console");

/// How the console signs operators in: OpenID Connect's authorization code flow with PKCE
/// against these endpoints (`CONSOLE_AUTHORIZE_URL`, `CONSOLE_TOKEN_URL`, `CONSOLE_CLIENT_ID`,
/// `CONSOLE_SCOPE`). A URL may be a path on this origin (the local stack's dev sign-in).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConsoleSignIn {
    pub authorize_url: String,
    pub token_url: String,
    pub client_id: String,
    pub scope: String,
    /// The local stack's dev sign-in (the page says so).
    pub dev: bool,
}

impl ConsoleSignIn {
    /// Checks each URL: https (http only on loopback, for local use), or a path on this origin.
    pub fn new(
        authorize_url: &str,
        token_url: &str,
        client_id: &str,
        scope: &str,
    ) -> Result<Self, String> {
        for (name, raw) in [
            ("CONSOLE_AUTHORIZE_URL", authorize_url),
            ("CONSOLE_TOKEN_URL", token_url),
        ] {
            check_url(raw).map_err(|why| format!("{name}: {why}"))?;
        }
        if client_id.is_empty() || client_id.len() > 128 {
            return Err("CONSOLE_CLIENT_ID: must be 1 to 128 characters".into());
        }
        Ok(Self {
            authorize_url: authorize_url.into(),
            token_url: token_url.into(),
            client_id: client_id.into(),
            scope: scope.into(),
            dev: false,
        })
    }

    /// The origin the page may fetch tokens from, when the token endpoint is elsewhere.
    fn token_origin(&self) -> Option<String> {
        let url = url::Url::parse(&self.token_url).ok()?;
        Some(url.origin().ascii_serialization())
    }
}

fn check_url(raw: &str) -> Result<(), String> {
    if raw.starts_with('/') && !raw.starts_with("//") {
        return Ok(());
    }
    let url = url::Url::parse(raw).map_err(|e| e.to_string())?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err("must be https (http only on loopback) or a path on this origin".into()),
    }
}

/// The page's security headers: what it may load and fetch, and that no one may frame it.
fn content_security_policy(sign_in: Option<&ConsoleSignIn>) -> String {
    let mut connect = String::from("'self'");
    if let Some(origin) = sign_in.and_then(ConsoleSignIn::token_origin) {
        connect.push(' ');
        connect.push_str(&origin);
    }
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src {connect}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
}

fn asset_response(api: &Api, content_type: &str, body: impl Into<axum::body::Body>) -> Response {
    let csp = content_security_policy(api.console.as_ref());
    Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::CACHE_CONTROL, "no-cache")
        .header(http::header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(http::header::X_FRAME_OPTIONS, "DENY")
        .header(http::header::REFERRER_POLICY, "no-referrer")
        .header("content-security-policy", csp)
        .body(body.into())
        .expect("static headers are valid")
}

fn content_type(name: &str) -> Option<&'static str> {
    Some(match name.rsplit_once('.')?.1 {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        _ => return None,
    })
}

/// `/console`: the page. It is at `/console`, not `/console/` (API Gateway routes the path
/// without the slash), so it names its files `console/<file>`; `/console/` is sent there.
pub(super) async fn index(State(api): State<Arc<Api>>, req: axum::extract::Request) -> Response {
    if super::router::sent_path(&req).ends_with('/') {
        return Response::builder()
            .status(308)
            .header(http::header::LOCATION, "../console")
            .body(axum::body::Body::empty())
            .expect("static headers are valid");
    }
    asset(State(api), Path("index.html".to_string())).await
}

/// `/console/{file}`: one of the page's files, or its sign-in configuration.
pub(super) async fn asset(State(api): State<Arc<Api>>, Path(file): Path<String>) -> Response {
    if file == "config.json" {
        return sign_in_config(&api);
    }
    match (ASSETS.get_file(&file), content_type(&file)) {
        (Some(found), Some(kind)) if !file.contains('/') => {
            asset_response(&api, kind, found.contents())
        }
        _ => error(404, "not_found", "no such console file"),
    }
}

fn sign_in_config(api: &Api) -> Response {
    match &api.console {
        Some(sign_in) => {
            let mut body = serde_json::to_value(sign_in).unwrap_or_default();
            body["api_base"] = api.base_path.trim_end_matches('/').into();
            let mut r = json_response(200, &body);
            r.headers_mut()
                .insert(http::header::CACHE_CONTROL, "no-cache".parse().unwrap());
            r
        }
        None => error(
            404,
            "console_not_configured",
            "the console's sign-in is not configured (CONSOLE_AUTHORIZE_URL, CONSOLE_TOKEN_URL, CONSOLE_CLIENT_ID)",
        ),
    }
}

/// Who the caller is and what it may do.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Me {
    /// The token's subject.
    pub subject: String,
    /// `sync` and/or `admin` (an admin has both).
    pub roles: Vec<String>,
    /// The configured entities the token may use, the default entity first.
    pub entities: Vec<String>,
}

/// Who the token is
///
/// The token's subject, its roles (an admin also has `sync`) and the configured entities it
/// may use; the operator console starts here.
///
/// Requires a bearer JWT whose roles claim includes `sync` or `admin` (admin implies sync).
#[utoipa::path(
    get,
    path = "/plugins/zuora/me",
    operation_id = "getMe",
    tag = "console",
    responses(
        (status = 200, description = "The caller.", body = Me),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 502, description = "`auth_keys_unavailable`: the token signing keys (JWKS) could not be fetched, so the token could not be verified.", body = ErrorBody),
    ),
    security(("bearerAuth" = ["sync"])),
    extensions(("x-required-role" = json!("sync"))),
)]
pub(super) async fn me(State(api): State<Arc<Api>>, Identity(principal): Identity) -> Response {
    if !principal.has_role(Role::Sync) {
        return error(403, "forbidden", "this route needs the sync role");
    }
    let roles = [Role::Sync, Role::Admin]
        .into_iter()
        .filter(|r| principal.has_role(*r))
        .map(|r| r.as_str().to_string())
        .collect();
    let entities = api
        .sync
        .entities()
        .filter(|e| principal.may_use(e.as_str()))
        .map(ToString::to_string)
        .collect();
    json_response(
        200,
        &Me {
            subject: principal.subject,
            roles,
            entities,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_urls_must_be_https_or_on_this_origin() {
        let ok = |a: &str| ConsoleSignIn::new(a, "/t", "c", "openid").is_ok();
        assert!(ok("https://auth.example.com/oauth2/authorize"));
        assert!(ok("/dev-idp/authorize"));
        assert!(ok("http://127.0.0.1:3000/authorize"));
        assert!(!ok("http://auth.example.com/oauth2/authorize"));
        assert!(!ok("//evil.example/authorize"));
        assert!(!ok("javascript:alert(1)"));
        assert!(ConsoleSignIn::new("/a", "/t", "", "openid").is_err());
    }

    #[test]
    fn the_policy_allows_this_origin_and_the_token_endpoint_only() {
        let sign_in = ConsoleSignIn::new(
            "https://auth.example.com/oauth2/authorize",
            "https://auth.example.com/oauth2/token",
            "client",
            "openid",
        )
        .unwrap();
        let csp = content_security_policy(Some(&sign_in));
        assert!(csp.contains("script-src 'self';"));
        assert!(csp.contains("connect-src 'self' https://auth.example.com;"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe"));
        let local = ConsoleSignIn::new("/a", "/t", "c", "openid").unwrap();
        assert!(content_security_policy(Some(&local)).contains("connect-src 'self';"));
    }

    #[test]
    fn every_console_file_has_a_content_type_and_the_page_loads_no_other_origin() {
        let index = ASSETS.get_file("index.html").expect("index.html");
        let html = index.contents_utf8().unwrap();
        assert!(!html.contains("<script>"), "no inline script");
        assert!(!html.contains("http://") && !html.contains("https://"));
        for file in ASSETS.files() {
            let name = file.path().to_str().unwrap();
            assert!(content_type(name).is_some(), "{name} has no content type");
        }
    }
}
