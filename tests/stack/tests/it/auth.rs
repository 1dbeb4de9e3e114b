//! 401 for every bad token, with RS256 keys from a JWKS endpoint (keys generated here).

use aws_lc_rs::rsa::{KeyPair, KeySize};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use stack::app::{TestApp, spawn_app};
use stack::idp::Idp;
use std::sync::Arc;
use std::time::Duration;
use zuora_sync::auth::{JwtVerifier, KeySource};
use zuora_sync::handlers::http::Api;

const ISSUER: &str = "https://idp.example.com/";
const AUDIENCE: &str = "zuora-sync-api";

fn claims(exp_offset: i64, iss: &str, aud: &str) -> Value {
    let now = jsonwebtoken::get_current_timestamp() as i64;
    json!({"sub": "user-1", "iss": iss, "aud": aud, "iat": now, "exp": now + exp_offset,
           "zuora_entities": ["default"], "zuora_roles": ["sync"]})
}

fn rs256_api(app: &TestApp, idp: &Idp) -> Arc<Api> {
    Arc::new(Api {
        sync: app.services.sync.clone(),
        auth: JwtVerifier::new(
            KeySource::Jwks(url::Url::parse(&idp.jwks_url).unwrap()),
            ISSUER,
            AUDIENCE,
        ),
        access: zuora_sync::auth::AccessClaims::default(),
        default_entity: app.entity.clone(),
        base_path: String::new(),
        default_timeout: Duration::from_secs(29),
        realtime: app.services.realtime.clone(),
        callouts: Default::default(),
        outbound: app.config.outbound.clone(),
        push: None,
        console: None,
    })
}

async fn call(api: &Arc<Api>, authorization: Option<String>) -> (u16, Value, Option<String>) {
    let mut req = http::Request::builder()
        .method("POST")
        .uri("https://api.example.com/plugins/zuora/sync/subscription/A-S00000271");
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let router = stack::app::api_router(api.clone());
    let resp = stack::app::send(&router, req.body(axum::body::Body::empty()).unwrap()).await;
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    let status = resp.status().as_u16();
    let body = stack::app::json_of(resp).await;
    (status, body, challenge)
}

#[tokio::test]
async fn a_valid_rs256_token_from_the_jwks_is_accepted() {
    let app = spawn_app().await;
    let idp = Idp::start().await;
    let api = rs256_api(&app, &idp);
    let token = idp.sign(&claims(300, ISSUER, AUDIENCE));
    let (status, body, _) = call(&api, Some(format!("Bearer {token}"))).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn every_bad_token_is_401_with_a_message_and_nothing_is_synced() {
    let app = spawn_app().await;
    let idp = Idp::start().await;
    let api = rs256_api(&app, &idp);
    let other_key = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let good = claims(300, ISSUER, AUDIENCE);

    let alg_none = {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(good.to_string());
        format!("{header}.{payload}.")
    };
    // The classic confusion: HS256 "signed" with the RSA public key as the shared secret.
    let hs_with_public_key = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k1".into());
        encode(
            &header,
            &good,
            &EncodingKey::from_secret(idp.public_pem().as_bytes()),
        )
        .unwrap()
    };
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("no token", None, "missing bearer token"),
        (
            "not bearer",
            Some("Basic dXNlcjpwYXNz".into()),
            "Bearer scheme",
        ),
        ("garbage", Some("Bearer not.a.jwt".into()), "malformed"),
        ("alg none", Some(format!("Bearer {alg_none}")), ""),
        (
            "HS/RS confusion",
            Some(format!("Bearer {hs_with_public_key}")),
            "algorithm",
        ),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                idp.sign(&claims(-120, ISSUER, AUDIENCE))
            )),
            "expired",
        ),
        (
            "wrong iss",
            Some(format!(
                "Bearer {}",
                idp.sign(&claims(300, "https://evil.example.com/", AUDIENCE))
            )),
            "issuer",
        ),
        (
            "wrong aud",
            Some(format!(
                "Bearer {}",
                idp.sign(&claims(300, ISSUER, "another-api"))
            )),
            "audience",
        ),
        (
            "bad signature",
            Some(format!("Bearer {}", Idp::sign_with(&other_key, &good))),
            "signature",
        ),
    ];
    for (name, auth, why) in cases {
        let (status, body, challenge) = call(&api, auth).await;
        assert_eq!(status, 401, "{name}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            !message.is_empty() && message.contains(why),
            "{name}: {message}"
        );
        assert_eq!(body["code"], "unauthorized", "{name}");
        assert!(challenge.is_some_and(|c| c.starts_with("Bearer")), "{name}");
    }
    assert_eq!(
        app.sim.stats().requests.values().sum::<u64>(),
        0,
        "nothing reached Zuora"
    );
    assert!(app.mirror_dump().await.is_empty(), "nothing was written");
}

#[tokio::test]
async fn an_unreachable_jwks_is_not_blamed_on_the_caller() {
    let app = spawn_app().await;
    let api = Arc::new(Api {
        sync: app.services.sync.clone(),
        auth: JwtVerifier::new(
            KeySource::Jwks(url::Url::parse("http://127.0.0.1:9/jwks.json").unwrap()),
            ISSUER,
            AUDIENCE,
        ),
        access: zuora_sync::auth::AccessClaims::default(),
        default_entity: app.entity.clone(),
        base_path: String::new(),
        default_timeout: Duration::from_secs(29),
        realtime: app.services.realtime.clone(),
        callouts: Default::default(),
        outbound: app.config.outbound.clone(),
        push: None,
        console: None,
    });
    let idp = Idp::start().await;
    let (status, body, _) = call(
        &api,
        Some(format!(
            "Bearer {}",
            idp.sign(&claims(300, ISSUER, AUDIENCE))
        )),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["code"], "auth_keys_unavailable");
}

/// M4: an IdP outage does not break valid tokens. The keys fetched before stay in use
/// (stale-if-error), and a failed fetch is remembered, so requests neither wait on the dead
/// endpoint nor hammer it; a flood of unknown key ids fetches nothing more. (Before, once the
/// keys were stale every request refetched and was answered 502.)
#[tokio::test]
async fn an_idp_outage_keeps_valid_tokens_working_without_hammering_it() {
    use std::sync::atomic::Ordering;
    let idp = Idp::start().await;
    // Keys go stale at once; fetches at most every minute.
    let verifier = JwtVerifier::new(
        KeySource::Jwks(url::Url::parse(&idp.jwks_url).unwrap()),
        ISSUER,
        AUDIENCE,
    )
    .with_jwks_cache(zuora_sync::auth::JwksCache::with_timing(
        Duration::ZERO,
        Duration::from_secs(60),
    ));
    let token = idp.sign(&claims(300, ISSUER, AUDIENCE));
    verifier.verify(&token).await.expect("keys fetched");
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1);

    idp.down.store(true, Ordering::SeqCst);
    for _ in 0..20 {
        verifier
            .verify(&token)
            .await
            .expect("the stale keys still verify");
    }
    assert_eq!(
        idp.fetches.load(Ordering::SeqCst),
        1,
        "no fetch within a minute of the last one"
    );
    let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
    header.kid = Some("random-kid".into());
    let key = EncodingKey::from_rsa_pem(Idp::private_pem(&idp.key).as_bytes()).unwrap();
    let unknown = encode(&header, &claims(300, ISSUER, AUDIENCE), &key).unwrap();
    for _ in 0..20 {
        let refused = verifier.verify(&unknown).await.unwrap_err();
        assert!(
            matches!(refused, zuora_sync::auth::AuthError::Rejected(_)),
            "{refused:?}"
        );
    }
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1);
}

/// M4: with no keys ever fetched, an unreachable IdP is the service's trouble (502), and the
/// failure is remembered: the next requests do not each wait on it.
#[tokio::test]
async fn a_failed_first_fetch_is_remembered() {
    use std::sync::atomic::Ordering;
    let idp = Idp::start().await;
    idp.down.store(true, Ordering::SeqCst);
    let verifier = JwtVerifier::new(
        KeySource::Jwks(url::Url::parse(&idp.jwks_url).unwrap()),
        ISSUER,
        AUDIENCE,
    );
    let token = idp.sign(&claims(300, ISSUER, AUDIENCE));
    for _ in 0..5 {
        let e = verifier.verify(&token).await.unwrap_err();
        assert!(
            matches!(e, zuora_sync::auth::AuthError::KeysUnavailable(_)),
            "{e:?}"
        );
    }
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1);
}

/// H10/L9: a JWKS answer larger than any key set (64 KB) is refused, not held in memory.
#[tokio::test]
async fn an_oversized_jwks_answer_is_refused() {
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(|| async {
            format!("{{\"keys\": [], \"pad\": \"{}\"}}", "x".repeat(200_000))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let verifier = zuora_sync::auth::JwtVerifier::new(
        zuora_sync::auth::KeySource::Jwks(url::Url::parse(&format!("http://{addr}/jwks")).unwrap()),
        "https://issuer",
        "aud",
    );
    // Any RS256 token with a kid makes the verifier fetch the keys.
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(r#"{"alg":"RS256","typ":"JWT","kid":"k1"}"#);
    let token = format!("{header}.e30.c2ln");
    let err = verifier.verify(&token).await.unwrap_err();
    assert!(
        matches!(&err, zuora_sync::auth::AuthError::KeysUnavailable(why) if why.contains("larger than")),
        "{err:?}"
    );
}
