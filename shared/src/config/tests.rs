use super::*;
use std::collections::HashMap;

fn env(pairs: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Env(move |k: &str| map.get(k).cloned())
}

const BASE: [(&str, &str); 8] = [
    ("STATE_TABLE", "s"),
    ("ZUORA_BASE_URL", "https://rest.test.zuora.com"),
    ("ZUORA_CLIENT_ID", "id"),
    ("ZUORA_CLIENT_SECRET", "secret"),
    ("MIRROR_TABLE", "m"),
    ("LOCKS_TABLE", "l"),
    ("EVENTS_TABLE", "e"),
    ("SYNC_QUEUE_URL", "http://q"),
];

#[test]
fn reads_defaults() {
    let c = Config::from_env(&env(&BASE)).unwrap();
    assert_eq!(c.default_entity().as_str(), "default");
    assert_eq!(c.entities[0].zuora.max_concurrency, 20);
    assert!(c.entities[0].zuora.use_object_query);
    assert_eq!(c.sync.lock_wait, Duration::from_secs(3));
}

#[test]
fn the_login_function_needs_no_zuora_secret() {
    let storage = [
        ("STATE_TABLE", "s"),
        ("MIRROR_TABLE", "m"),
        ("LOCKS_TABLE", "l"),
        ("EVENTS_TABLE", "e"),
        ("SYNC_QUEUE_URL", "http://q"),
        ("ZUORA_ENTITY_ID", "eu"),
        ("ZUORA_ENTITY_IDS", "us, eu,apac"),
    ];
    let c = LoginConfig::from_env(&env(&storage)).unwrap();
    let ids: Vec<&str> = c.entities.iter().map(EntityId::as_str).collect();
    assert_eq!(
        ids,
        ["eu", "us", "apac"],
        "the default entity first, each once"
    );
    assert_eq!(c.cognito_entity.as_str(), "eu");
    let mut other = storage.to_vec();
    other.push(("LOGIN_ENTITY", "jp"));
    let err = LoginConfig::from_env(&env(&other)).unwrap_err();
    assert!(err.to_string().contains("LOGIN_ENTITY"), "{err}");
}

#[test]
fn names_the_bad_variable() {
    let mut pairs = BASE.to_vec();
    pairs.push(("ZUORA_MAX_CONCURRENCY", "many"));
    let err = Config::from_env(&env(&pairs)).unwrap_err();
    assert!(err.to_string().contains("ZUORA_MAX_CONCURRENCY"));
    let err = Config::from_env(&env(&BASE[2..])).unwrap_err();
    assert_eq!(err, ConfigError::Missing("ZUORA_BASE_URL"));
}

#[test]
fn the_object_query_page_size_is_1_to_99_per_entity() {
    let mut pairs = BASE.to_vec();
    pairs.push(("ZUORA_OBJECT_QUERY_PAGE_SIZE", "50"));
    let c = Config::from_env(&env(&pairs)).unwrap();
    assert_eq!(c.entities[0].zuora.object_query_page_size, 50);
    pairs.pop();
    pairs.push(("ZUORA_OBJECT_QUERY_PAGE_SIZE", "120"));
    let err = Config::from_env(&env(&pairs)).unwrap_err();
    assert!(
        err.to_string().contains("ZUORA_OBJECT_QUERY_PAGE_SIZE"),
        "{err}"
    );
    let json = r#"{"eu": {"base_url": "https://rest.eu.zuora.com", "client_id": "a", "client_secret": "b", "object_query_page_size": 40}}"#;
    let mut pairs = BASE.to_vec();
    pairs.push(("ZUORA_ENTITIES", json));
    pairs.push(("ZUORA_ENTITY_ID", "eu"));
    let c = Config::from_env(&env(&pairs)).unwrap();
    assert_eq!(c.entities[0].zuora.object_query_page_size, 40);
}

#[test]
fn several_entities_from_json_with_the_default_first() {
    let mut pairs = BASE.to_vec();
    let json = r#"{"eu": {"base_url": "https://rest.eu.zuora.com", "client_id": "a", "client_secret": "b"},
                   "us": {"base_url": "https://rest.na.zuora.com", "client_id": "c", "client_secret": "d", "max_concurrency": 5}}"#;
    pairs.push(("ZUORA_ENTITIES", json));
    pairs.push(("ZUORA_ENTITY_ID", "us"));
    let c = Config::from_env(&env(&pairs)).unwrap();
    let ids: Vec<&str> = c.entities.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["us", "eu"]);
    assert_eq!(c.entities[0].zuora.max_concurrency, 5);
    pairs.pop();
    pairs.push(("ZUORA_ENTITY_ID", "apac"));
    let err = Config::from_env(&env(&pairs)).unwrap_err();
    assert!(err.to_string().contains("apac"), "{err}");
    let secret_in_bad_json = r#"{"eu": {"client_secret": "hunter2", "oops": 1}}"#;
    let mut bad = BASE.to_vec();
    bad.push(("ZUORA_ENTITIES", secret_in_bad_json));
    let err = Config::from_env(&env(&bad)).unwrap_err().to_string();
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn api_needs_exactly_one_key_source() {
    let both = env(&[
        ("JWT_JWKS_URL", "https://idp/jwks"),
        ("JWT_HS256_SECRET", "0123456789abcdef"),
        ("JWT_ISSUER", "i"),
        ("JWT_AUDIENCE", "a"),
    ]);
    assert!(ApiConfig::from_env(&both).is_err());
    let hs = env(&[
        ("JWT_HS256_SECRET", "0123456789abcdef"),
        ("JWT_ISSUER", "i"),
        ("JWT_AUDIENCE", "a"),
        ("API_BASE_PATH", "/api/"),
    ]);
    assert_eq!(ApiConfig::from_env(&hs).unwrap().base_path, "/api");
}

/// H6: one tenant budget split over functions and their instances, never rounded up.
#[test]
fn the_zuora_budget_is_split_over_the_functions_instances() {
    let mut vars = BASE.to_vec();
    vars.extend([
        ("ZUORA_CONCURRENCY_BUDGET", "40"),
        ("ZUORA_BUDGET_SHARE_PERCENT", "50"),
        ("ZUORA_BUDGET_INSTANCES", "4"),
    ]);
    let c = Config::from_env(&env(&vars)).unwrap();
    assert_eq!(c.entities[0].zuora.max_concurrency, 5);
    // An entity's own budget wins over the deployment's.
    let mut several = vars.clone();
    several.push((
        "ZUORA_ENTITIES",
        r#"{"default": {"base_url": "https://a", "client_id": "i", "client_secret": "s", "concurrency_budget": 16}}"#,
    ));
    let c = Config::from_env(&env(&several)).unwrap();
    assert_eq!(c.entities[0].zuora.max_concurrency, 2);
    // A share too small for the instances is refused, not rounded up past the budget.
    let mut small = BASE.to_vec();
    small.extend([
        ("ZUORA_CONCURRENCY_BUDGET", "4"),
        ("ZUORA_BUDGET_SHARE_PERCENT", "10"),
        ("ZUORA_BUDGET_INSTANCES", "2"),
    ]);
    assert!(Config::from_env(&env(&small)).is_err());
    assert_eq!(per_instance_cap(40, 40, 8), 2);
}

#[test]
fn a_salesforce_connection_takes_one_auth_flow_and_a_known_package() {
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut pairs = BASE.to_vec();
        pairs.push(("SALESFORCE_URL", "https://acme.my.salesforce.com"));
        pairs.push(("SALESFORCE_CLIENT_ID", "consumer-key"));
        pairs.extend_from_slice(extra);
        Config::from_env(&env(&pairs))
    };
    let c = with(&[("SALESFORCE_CLIENT_SECRET", "s")]).unwrap();
    let sf = c.entities[0].salesforce.as_ref().expect("connected");
    assert!(sf.zuora360_package);
    assert!(matches!(
        sf.auth,
        crate::adapters::salesforce::SalesforceAuth::ClientCredentials { .. }
    ));
    let c = with(&[
        ("SALESFORCE_CLIENT_SECRET", "s"),
        ("SALESFORCE_PACKAGE", "none"),
    ])
    .unwrap();
    assert!(!c.entities[0].salesforce.as_ref().unwrap().zuora360_package);
    let err = with(&[
        ("SALESFORCE_CLIENT_SECRET", "s"),
        ("SALESFORCE_PACKAGE", "zuora"),
    ])
    .unwrap_err()
    .to_string();
    assert!(err.contains("zuora360 or none"), "{err}");
    let err = with(&[]).unwrap_err().to_string();
    assert!(err.contains("client secret"), "{err}");
    let err = with(&[
        ("SALESFORCE_CLIENT_SECRET", "s"),
        ("SALESFORCE_JWT_KEY", "k"),
        ("SALESFORCE_USERNAME", "u"),
    ])
    .unwrap_err()
    .to_string();
    assert!(err.contains("not both"), "{err}");
    assert!(
        Config::from_env(&env(&BASE)).unwrap().entities[0]
            .salesforce
            .is_none()
    );
}
