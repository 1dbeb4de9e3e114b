//! The route table: every route the API answers, with its method, path template and the role
//! it needs. The OpenAPI document is checked against this table (a test), so the two cannot
//! drift apart.

use crate::auth::Role;
use http::Method;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteId {
    SyncSubscription,
    SyncAccounts,
    SyncCustomer,
    SyncCatalog,
    SearchEvents,
    GetEvent,
    GetSettings,
    UpdateSettings,
    Status,
    Callout,
    OpenApi,
}

/// How a route authenticates its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials (the OpenAPI document).
    Public,
    /// A bearer JWT with this role for the entity.
    Bearer(Role),
    /// Zuora's callout credentials for the entity (HTTP Basic or a shared secret header).
    Callout,
}

pub struct RouteSpec {
    pub id: RouteId,
    pub method: Method,
    /// Path template, `{name}` for a parameter (one path segment).
    pub path: &'static str,
    pub access: Access,
}

pub const ROUTES: &[RouteSpec] = &[
    RouteSpec {
        id: RouteId::SyncSubscription,
        method: Method::POST,
        path: "/plugins/zuora/sync/subscription/{id}",
        access: Access::Bearer(Role::Sync),
    },
    RouteSpec {
        id: RouteId::SyncAccounts,
        method: Method::POST,
        path: "/plugins/zuora/entities/{entity}/sync/accounts",
        access: Access::Bearer(Role::Sync),
    },
    RouteSpec {
        id: RouteId::SyncCustomer,
        method: Method::POST,
        path: "/plugins/zuora/entities/{entity}/sync/customers/{customer}",
        access: Access::Bearer(Role::Sync),
    },
    RouteSpec {
        id: RouteId::SyncCatalog,
        method: Method::POST,
        path: "/plugins/zuora/entities/{entity}/sync/catalog",
        access: Access::Bearer(Role::Sync),
    },
    RouteSpec {
        id: RouteId::SearchEvents,
        method: Method::GET,
        path: "/plugins/zuora/entities/{entity}/events",
        access: Access::Bearer(Role::Sync),
    },
    RouteSpec {
        id: RouteId::GetEvent,
        method: Method::GET,
        path: "/plugins/zuora/entities/{entity}/events/{event_id}",
        access: Access::Bearer(Role::Sync),
    },
    RouteSpec {
        id: RouteId::GetSettings,
        method: Method::GET,
        path: "/plugins/zuora/entities/{entity}/settings",
        access: Access::Bearer(Role::Admin),
    },
    RouteSpec {
        id: RouteId::UpdateSettings,
        method: Method::PATCH,
        path: "/plugins/zuora/entities/{entity}/settings",
        access: Access::Bearer(Role::Admin),
    },
    RouteSpec {
        id: RouteId::Status,
        method: Method::GET,
        path: "/plugins/zuora/entities/{entity}/status",
        access: Access::Bearer(Role::Sync),
    },
    RouteSpec {
        id: RouteId::Callout,
        method: Method::POST,
        path: "/plugins/zuora/entities/{entity}/callouts",
        access: Access::Callout,
    },
    RouteSpec {
        id: RouteId::OpenApi,
        method: Method::GET,
        path: "/plugins/zuora/openapi.json",
        access: Access::Public,
    },
];

/// A matched route and its path parameters (raw, still percent-encoded).
pub struct Matched<'a> {
    pub spec: &'static RouteSpec,
    pub params: Vec<(&'static str, &'a str)>,
}

impl Matched<'_> {
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .unwrap_or("")
    }
}

pub enum Lookup<'a> {
    Found(Matched<'a>),
    /// The path exists, not with this method; the methods it has.
    WrongMethod(Vec<&'static str>),
    NotFound,
}

fn match_template<'a>(
    template: &'static str,
    path: &'a str,
) -> Option<Vec<(&'static str, &'a str)>> {
    let mut params = Vec::new();
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(params),
            (Some(ts), Some(ps)) => {
                if let Some(name) = ts.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
                    if ps.is_empty() {
                        return None;
                    }
                    params.push((name, ps));
                } else if ts != ps {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

pub fn lookup<'a>(method: &Method, path: &'a str) -> Lookup<'a> {
    let path = path.trim_end_matches('/');
    let mut methods = Vec::new();
    for spec in ROUTES {
        if let Some(params) = match_template(spec.path, path) {
            if spec.method == method {
                return Lookup::Found(Matched { spec, params });
            }
            methods.push(spec.method.as_str());
        }
    }
    if methods.is_empty() {
        Lookup::NotFound
    } else {
        Lookup::WrongMethod(methods)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every route of the table is in the OpenAPI document, and the document has no other.
    #[test]
    fn the_openapi_document_lists_exactly_the_routes() {
        let doc: serde_json::Value =
            serde_json::from_str(crate::handlers::http::OPENAPI).expect("openapi.json is JSON");
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| {
                        ["get", "put", "post", "patch", "delete", "head", "options"]
                            .contains(&k.as_str())
                    })
                    .map(move |m| (m.to_uppercase(), path.clone()))
            })
            .collect();
        let mut routed: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|r| (r.method.to_string(), r.path.to_string()))
            .collect();
        // The post-login function serves the hook route on the same HTTP API.
        routed.insert(("POST".into(), crate::handlers::post_login::HOOK_PATH.into()));
        assert_eq!(documented, routed);
        for r in ROUTES {
            let op = &doc["paths"][r.path][r.method.as_str().to_lowercase()];
            assert!(op["operationId"].is_string(), "{} {}", r.method, r.path);
            // Without its own `security`, an operation takes the document's (bearer).
            let documented_bearer = match op["security"].as_array() {
                None => true,
                Some(list) => list.iter().any(|s| s.get("bearerAuth").is_some()),
            };
            let bearer = matches!(r.access, Access::Bearer(_));
            assert_eq!(
                documented_bearer, bearer,
                "{} {} security",
                r.method, r.path
            );
        }
    }

    #[test]
    fn matches_templates_segment_by_segment() {
        let Lookup::Found(m) = lookup(
            &Method::POST,
            "/plugins/zuora/entities/eu/sync/customers/cus_1/",
        ) else {
            panic!("no match");
        };
        assert_eq!(m.spec.id, RouteId::SyncCustomer);
        assert_eq!(m.param("entity"), "eu");
        assert_eq!(m.param("customer"), "cus_1");
        assert!(matches!(
            lookup(&Method::DELETE, "/plugins/zuora/entities/eu/settings"),
            Lookup::WrongMethod(m) if m == ["GET", "PATCH"]
        ));
        assert!(matches!(
            lookup(&Method::POST, "/plugins/zuora/sync/subscription/"),
            Lookup::NotFound
        ));
        assert!(matches!(
            lookup(&Method::POST, "/plugins/zuora/sync/subscription/a/b"),
            Lookup::NotFound
        ));
    }
}
