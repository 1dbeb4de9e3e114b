//! Where the product may send requests and email on an admin's say-so: webhook and JWKS URLs
//! come from settings, so they must not be able to point inward (the Lambda runtime API on
//! loopback, the instance metadata service on link-local, the VPC's private ranges). These
//! are the rules; the HTTP client applies [`OutboundPolicy::allows_ip`] again to every address
//! a name resolves to when it connects (docs/ARCHITECTURE.md, Outbound calls).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The rules for outbound calls to configured URLs and for notification senders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// Local development only: loopback destinations (and plain http to them) are allowed.
    pub allow_loopback: bool,
    /// The SES domain identity emails are sent from; `None`: no email channel.
    pub email_domain: Option<String>,
}

impl OutboundPolicy {
    /// A URL the product may call: https (http only to loopback when that is allowed), a host,
    /// no credentials, and, when the host is an address, one [`allows_ip`](Self::allows_ip)
    /// accepts. Names are checked when they resolve.
    pub fn check_url(&self, raw: &str) -> Result<url::Url, String> {
        let url = url::Url::parse(raw).map_err(|e| format!("is not a URL: {e}"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials".into());
        }
        let ip = match url.host() {
            None => return Err("must name a host".into()),
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            Some(url::Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name == "localhost" || name.ends_with(".localhost") {
                    Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
                } else {
                    None
                }
            }
        };
        if let Some(ip) = ip
            && !self.allows_ip(ip)
        {
            return Err(format!(
                "must not point to a private, loopback or link-local address ({ip})"
            ));
        }
        let local = ip.is_some_and(|ip| ip.is_loopback());
        match url.scheme() {
            "https" => Ok(url),
            "http" if local && self.allow_loopback => Ok(url),
            _ => Err("must be an https URL".into()),
        }
    }

    /// An address the product may connect to: a public one, or loopback in local development.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        is_public(ip) || (self.allow_loopback && ip.is_loopback())
    }

    /// A sender address the product may email from: one at the configured domain.
    pub fn check_sender(&self, from: &str) -> Result<(), String> {
        let Some(domain) = &self.email_domain else {
            return Err("email notifications are not set up (NOTIFICATION_EMAIL_DOMAIN)".into());
        };
        let at = from.rsplit('@').next().unwrap_or("");
        if at.eq_ignore_ascii_case(domain) {
            Ok(())
        } else {
            Err(format!("must be an address at {domain}"))
        }
    }
}

/// Globally routable unicast: not loopback, private, shared (CGNAT), link-local, unspecified,
/// broadcast, multicast, documentation, benchmarking or reserved; IPv6 forms that embed an
/// IPv4 address (mapped, compatible, NAT64, 6to4) are judged by that address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    let embedded = |hi: usize| {
        let [a, b] = segments[hi].to_be_bytes();
        let [c, d] = segments[hi + 1].to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    match segments[0] {
        // ::/96 (IPv4-compatible, unspecified, loopback)
        0 if segments[..6].iter().all(|s| *s == 0) => {
            !ip.is_unspecified() && !ip.is_loopback() && is_public_v4(embedded(6))
        }
        0x64 if segments[1] == 0xff9b => is_public_v4(embedded(6)), // NAT64
        0x2002 => is_public_v4(embedded(1)),                        // 6to4
        0x2001 if segments[1] == 0 => false,                        // Teredo
        0x2001 if segments[1] == 0x0db8 => false,                   // documentation
        s if s & 0xfe00 == 0xfc00 => false,                         // unique local
        s if s & 0xffc0 == 0xfe80 => false,                         // link-local
        s if s & 0xffc0 == 0xfec0 => false,                         // site-local
        s if s & 0xff00 == 0xff00 => false,                         // multicast
        _ => !ip.is_loopback() && !ip.is_unspecified(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> OutboundPolicy {
        OutboundPolicy::default()
    }

    #[test]
    fn inward_addresses_are_refused_in_every_notation() {
        for raw in [
            "https://169.254.169.254/latest/meta-data/",
            "https://127.0.0.1:9001/2018-06-01/runtime/invocation/next",
            "https://10.0.0.5/",
            "https://172.16.1.1/",
            "https://192.168.1.1/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[::ffff:169.254.169.254]/",
            "https://[::ffff:7f00:1]/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://[2002:a9fe:a9fe::1]/",
            "https://2130706433/",          // 127.0.0.1 as one number
            "https://0x7f.1/",              // 127.0.0.1 in hex
            "https://0251.0376.0251.0376/", // 169.254.169.254 in octal
            "https://localhost/",
            "https://api.localhost./",
        ] {
            assert!(strict().check_url(raw).is_err(), "{raw} must be refused");
        }
    }

    #[test]
    fn only_https_to_public_hosts_passes() {
        assert!(
            strict()
                .check_url("https://hooks.example.com/zuora")
                .is_ok()
        );
        assert!(strict().check_url("https://93.184.216.34/x").is_ok());
        assert!(strict().check_url("https://[2606:4700::1111]/").is_ok());
        assert!(strict().check_url("http://hooks.example.com/").is_err());
        assert!(strict().check_url("ftp://hooks.example.com/").is_err());
        assert!(
            strict()
                .check_url("https://user:pw@hooks.example.com/")
                .is_err()
        );
        assert!(strict().check_url("http://127.0.0.1:8080/hook").is_err());
    }

    #[test]
    fn local_development_may_allow_loopback_only() {
        let local = OutboundPolicy {
            allow_loopback: true,
            email_domain: None,
        };
        assert!(local.check_url("http://127.0.0.1:8080/hook").is_ok());
        assert!(local.check_url("http://localhost:8080/hook").is_ok());
        assert!(local.check_url("https://169.254.169.254/").is_err());
        assert!(local.check_url("http://10.0.0.5/").is_err());
        assert!(local.check_url("http://hooks.example.com/").is_err());
    }

    #[test]
    fn senders_must_be_at_the_configured_domain() {
        let policy = OutboundPolicy {
            allow_loopback: false,
            email_domain: Some("example.com".into()),
        };
        assert!(policy.check_sender("sync@example.com").is_ok());
        assert!(policy.check_sender("sync@EXAMPLE.com").is_ok());
        assert!(policy.check_sender("ceo@other.com").is_err());
        assert!(policy.check_sender("sync@mail.example.com").is_err());
        assert!(strict().check_sender("sync@example.com").is_err());
    }
}
