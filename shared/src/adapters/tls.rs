//! One TLS configuration for the reqwest clients of a process (Zuora's and the one for
//! admin-configured URLs). reqwest would read and parse the platform's root
//! certificates once per client built: about 3.5 ms of CPU for a bundle of ~150 certificates,
//! twice that where the certificate directory holds them again (README, Benchmark), paid by every
//! cold start.

use std::sync::{Arc, LazyLock};

/// The platform's roots (as reqwest loads them, `rustls-platform-verifier`), loaded at the first
/// client built. `None` when they cannot be loaded: each builder then tries on its own and
/// reports why it fails.
static CONFIG: LazyLock<Option<rustls::ClientConfig>> = LazyLock::new(|| {
    client_config()
        .inspect_err(|e| tracing::warn!(error = %e, "root certificates could not be loaded"))
        .ok()
});

/// What reqwest builds for a client with default TLS settings: its crypto provider (aws-lc-rs),
/// the platform verifier, and HTTP/2 then HTTP/1.1 offered by ALPN.
fn client_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone())?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// `builder` on the process's shared TLS configuration.
pub fn shared(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    match CONFIG.as_ref() {
        Some(config) => builder.tls_backend_preconfigured(config.clone()),
        None => builder,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_configuration_loads_the_platforms_roots_and_offers_h2() {
        let config = CONFIG.as_ref().expect("this machine has root certificates");
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    /// A self-signed certificate for localhost and its key, made for these tests only (`openssl
    /// req -x509 -newkey ec … -addext basicConstraints=critical,CA:FALSE`): no root store trusts
    /// it.
    const SELF_SIGNED: &str = "\
-----BEGIN CERTIFICATE-----
MIIByTCCAXCgAwIBAgIUORpmu9E3Fxh5yOoXDbViPd3X7yYwCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTenVvcmEtc3luYyB0bHMgdGVzdDAgFw0yNjEyMDQxNTAzMjha
GA8yMTI2MTExMDE1MDMyOFowHjEcMBoGA1UEAwwTenVvcmEtc3luYyB0bHMgdGVz
dDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABHYfgdlgOpp8ImXP+6YD0TcKwWf8
mLGV4IBEzNmApetN+zPXFOtW0KXrweTfJmiwdqo9+N7rHiwvMgO8E7p28qejgYkw
gYYwHQYDVR0OBBYEFCZ7Q5pmFz7rMEsAQQwcjlJV+rwXMB8GA1UdIwQYMBaAFCZ7
Q5pmFz7rMEsAQQwcjlJV+rwXMBQGA1UdEQQNMAuCCWxvY2FsaG9zdDAMBgNVHRMB
Af8EAjAAMAsGA1UdDwQEAwIHgDATBgNVHSUEDDAKBggrBgEFBQcDATAKBggqhkjO
PQQDAgNHADBEAiAeI64oc/SxO38dnJMQMxJK74zMWayy8umpCWy3R/opQwIgZKpd
8nlIiOFqpLS3EWL68oPboGHs3xhi1AsbuKHm+7M=
-----END CERTIFICATE-----";
    const SELF_SIGNED_KEY: &str = "\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgiZ6VFTWzJp1jMU/C
ZdVaG8+lOYE/ERkGvp6u9T+cApKhRANCAAR2H4HZYDqafCJlz/umA9E3CsFn/Jix
leCARMzZgKXrTfsz1xTrVtCl68Hk3yZosHaqPfje6x4sLzIDvBO6dvKn
-----END PRIVATE KEY-----";

    /// An HTTPS server on localhost presenting [`SELF_SIGNED`], answering 200 to each request.
    fn https_server() -> u16 {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        use std::io::{BufRead, BufReader, Write};
        let cert = CertificateDer::from_pem_slice(SELF_SIGNED.as_bytes()).unwrap();
        let key = PrivateKeyDer::from_pem_slice(SELF_SIGNED_KEY.as_bytes()).unwrap();
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap(),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let tls = rustls::ServerConnection::new(config.clone()).unwrap();
                let mut stream = BufReader::new(rustls::StreamOwned::new(tls, tcp));
                let mut line = String::new();
                // A client that refuses the certificate ends the handshake: the read fails.
                while stream.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let _ = stream.get_mut().write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        port
    }

    #[tokio::test]
    async fn a_client_on_the_shared_configuration_refuses_an_untrusted_certificate() {
        let url = format!("https://localhost:{}/", https_server());
        // The server answers a client that trusts its certificate...
        let trusting = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(SELF_SIGNED.as_bytes()).unwrap()])
            .build()
            .unwrap();
        assert_eq!(trusting.get(&url).send().await.unwrap().status(), 200);
        // ...and the shared configuration, the platform's roots only, refuses it.
        let shared = shared(reqwest::Client::builder()).build().unwrap();
        let refused = shared
            .get(&url)
            .send()
            .await
            .expect_err("an untrusted certificate");
        // reqwest's Debug shows the error's sources, rustls's reason among them.
        let refused = format!("{refused:?}");
        assert!(
            refused.contains("InvalidCertificate(UnknownIssuer)"),
            "{refused}"
        );
    }

    #[test]
    fn reqwest_takes_the_shared_configuration() {
        // reqwest refuses a configuration of another rustls version than its own ("unknown TLS
        // backend"): this fails when the two drift apart.
        shared(reqwest::Client::builder())
            .build()
            .expect("reqwest builds on the shared configuration");
    }
}
