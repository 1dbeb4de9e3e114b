//! The HTTP client for URLs an admin configured (webhooks, login hooks' JWKS): no redirects,
//! and every address a name resolves to is checked when the connection is made, so a DNS name
//! pointing inward (or rebinding to it after the settings were saved) cannot be reached. The
//! URL itself (scheme, address literals, which skip resolution) is checked by
//! [`OutboundPolicy::check_url`] before each request.

use crate::model::OutboundPolicy;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::SocketAddr;

/// A client that can only reach what `policy` allows. Each caller sets its own timeout per
/// request, so one client (one set of root certificates, one connection pool) serves all.
pub fn client(policy: &OutboundPolicy) -> reqwest::Client {
    super::tls::shared(reqwest::Client::builder())
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(PublicOnly {
            policy: policy.clone(),
        })
        .build()
        .expect("a reqwest client builds on the shared TLS configuration (adapters::tls tests)")
}

/// Resolves with the system resolver, then refuses the name if any of its addresses is not
/// allowed (all of them, not only the first: the connector may try each).
struct PublicOnly {
    policy: OutboundPolicy,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            checked(&policy, &host, addrs)
                .map(|addrs| Box::new(addrs.into_iter()) as Addrs)
                .map_err(Into::into)
        })
    }
}

fn checked(
    policy: &OutboundPolicy,
    host: &str,
    addrs: Vec<SocketAddr>,
) -> Result<Vec<SocketAddr>, String> {
    if addrs.is_empty() {
        return Err(format!("{host} does not resolve"));
    }
    match addrs.iter().find(|a| !policy.allows_ip(a.ip())) {
        Some(inward) => Err(format!(
            "{host} resolves to a private, loopback or link-local address ({})",
            inward.ip()
        )),
        None => Ok(addrs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        SocketAddr::new(s.parse().unwrap(), 0)
    }

    #[test]
    fn a_name_with_any_inward_address_is_refused() {
        let strict = OutboundPolicy::default();
        let public = vec![addr("93.184.216.34")];
        assert!(checked(&strict, "hooks.example.com", public).is_ok());
        let mixed = vec![addr("93.184.216.34"), addr("169.254.169.254")];
        let err = checked(&strict, "rebind.example.com", mixed).unwrap_err();
        assert!(err.contains("169.254.169.254"), "{err}");
        assert!(checked(&strict, "v6.example.com", vec![addr("::ffff:10.0.0.1")]).is_err());
        assert!(checked(&strict, "nothing.example.com", vec![]).is_err());
    }

    #[tokio::test]
    async fn the_client_refuses_to_connect_to_a_name_that_resolves_to_loopback() {
        // `localhost` resolves (hosts file) to loopback: refused before any connection.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let http = client(&OutboundPolicy::default());
        let err = http
            .get(format!("http://localhost:{port}/"))
            .timeout(std::time::Duration::from_secs(2))
            .send()
            .await
            .unwrap_err();
        let chain = format!("{:?}", anyhow_chain(&err));
        assert!(chain.contains("loopback"), "{chain}");
        // With loopback allowed (local development) the same call connects.
        let local = OutboundPolicy {
            allow_loopback: true,
            email_domain: None,
        };
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            let _ = socket
                .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                .await;
        });
        let answer = client(&local)
            .get(format!("http://localhost:{port}/"))
            .timeout(std::time::Duration::from_secs(2))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 204);
    }

    fn anyhow_chain(e: &dyn std::error::Error) -> Vec<String> {
        let mut out = vec![e.to_string()];
        let mut source = e.source();
        while let Some(s) = source {
            out.push(s.to_string());
            source = s.source();
        }
        out
    }
}
