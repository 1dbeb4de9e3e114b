//! A test identity provider for RS256 tokens: keys generated at start, JWKS served on
//! localhost.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A test identity provider: an RSA key pair and a JWKS endpoint serving its public half.
pub struct Idp {
    pub key: KeyPair,
    pub jwks_url: String,
    /// While set, the JWKS endpoint answers 503 (an IdP outage).
    pub down: Arc<AtomicBool>,
    /// Requests the JWKS endpoint received.
    pub fetches: Arc<AtomicU64>,
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

impl Idp {
    /// A key pair and a JWKS endpoint serving its public half under kid `k1`.
    pub async fn start() -> Self {
        let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let public = key.public_key();
        let jwks = json!({"keys": [{
            "kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        }]});
        let down = Arc::new(AtomicBool::new(false));
        let fetches = Arc::new(AtomicU64::new(0));
        let (is_down, counter) = (down.clone(), fetches.clone());
        let app = axum::Router::new().route(
            "/.well-known/jwks.json",
            axum::routing::get(move || {
                let jwks = jwks.clone();
                counter.fetch_add(1, Ordering::SeqCst);
                let answer = if is_down.load(Ordering::SeqCst) {
                    Err(axum::http::StatusCode::SERVICE_UNAVAILABLE)
                } else {
                    Ok(axum::Json(jwks))
                };
                async move { answer }
            }),
        );
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            key,
            jwks_url: format!("http://{addr}/.well-known/jwks.json"),
            down,
            fetches,
        }
    }

    pub fn private_pem(key: &KeyPair) -> String {
        let der: Pkcs8V1Der = key.as_der().unwrap();
        pem("PRIVATE KEY", der.as_ref())
    }

    pub fn public_pem(&self) -> String {
        let der: PublicKeyX509Der = self.key.public_key().as_der().unwrap();
        pem("PUBLIC KEY", der.as_ref())
    }

    pub fn sign_with(key: &KeyPair, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("k1".into());
        let key = EncodingKey::from_rsa_pem(Self::private_pem(key).as_bytes()).unwrap();
        encode(&header, claims, &key).unwrap()
    }

    pub fn sign(&self, claims: &Value) -> String {
        Self::sign_with(&self.key, claims)
    }
}
