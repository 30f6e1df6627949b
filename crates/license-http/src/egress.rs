//! Where webhooks may go (SPEC §2 `KEYSMITH_WEBHOOK_ALLOW_PRIVATE`, §9): the address policy, a
//! resolver that checks every address a name resolves to before the connection is made to one of
//! them (so a DNS answer that changes between a check and the connect cannot slip a private
//! address through), the HTTP agent for deliveries (no proxy, no redirects, rustls with the
//! webpki roots or the operator's CA bundle), and the error classes an attempt records.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// What deliveries may reach: public addresses only unless `allow_private`; the TLS roots.
#[derive(Debug, Clone, Default)]
pub struct WebhookPolicy {
    /// `KEYSMITH_WEBHOOK_ALLOW_PRIVATE=1`: loopback, private and other non-public addresses are
    /// allowed (development and tests).
    pub allow_private: bool,
    /// `KEYSMITH_WEBHOOK_CA_FILE`: PEM certificates trusted for https endpoints instead of the
    /// public webpki roots (a private PKI). `None`: the webpki roots.
    pub ca_certs: Option<Arc<Vec<ureq::tls::Certificate<'static>>>>,
}

impl WebhookPolicy {
    /// Only public addresses, public roots: the production default.
    pub fn public_only() -> Self {
        Self::default()
    }

    /// Every address allowed (tests and development).
    pub fn allow_private() -> Self {
        Self {
            allow_private: true,
            ca_certs: None,
        }
    }

    /// The same policy trusting the certificates of a PEM bundle (instead of the webpki roots).
    pub fn with_ca_pem(mut self, pem: &[u8]) -> Result<Self, String> {
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(pem) {
            match item.map_err(|e| format!("not a PEM file: {e}"))? {
                ureq::tls::PemItem::Certificate(c) => certs.push(c),
                _ => return Err("holds something other than certificates".into()),
            }
        }
        if certs.is_empty() {
            return Err("holds no PEM certificate".into());
        }
        self.ca_certs = Some(Arc::new(certs));
        Ok(self)
    }

    /// Whether a URL may be stored as an endpoint: refused when its host is a literal
    /// non-public address or `localhost` (a name that resolves somewhere private is caught
    /// when a delivery connects). The message names what to do.
    pub fn check_url(&self, url: &str) -> Result<(), String> {
        if !url_shape(url) {
            return Err(
                "must be an http:// or https:// URL: a host of letters, digits, '.' and '-', an \
                 optional :port, then a path of printable ASCII"
                    .to_owned(),
            );
        }
        let uri: ureq::http::Uri = url
            .parse()
            .map_err(|_| "is not a valid http:// or https:// URL".to_owned())?;
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| "has no host".to_owned())?;
        if self.allow_private {
            return Ok(());
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let lower = host.to_ascii_lowercase();
        let private = match host.parse::<IpAddr>() {
            Ok(ip) => blocked(ip),
            Err(_) => {
                let name = lower.trim_end_matches('.');
                name == "localhost" || name.ends_with(".localhost")
            }
        };
        if private {
            return Err(format!(
                "points at {host}, a loopback, private or otherwise non-public address; webhooks \
                 go to public addresses only (KEYSMITH_WEBHOOK_ALLOW_PRIVATE=1 allows others)"
            ));
        }
        Ok(())
    }
}

/// The shape of a webhook URL, as the OpenAPI document states it: `http` or `https`, a host of
/// ASCII letters, digits, `.` and `-`, an optional port 1..=65535, a path of printable ASCII
/// but `<`, `>` and `` ` `` (which no HTTP request line may carry).
/// [`url_shape`] checks exactly this, and also takes a bracketed IPv6 address as the host
/// (`http://[2001:db8::1]/`), which the document leaves out.
pub const URL_PATTERN: &str = r"^https?://[A-Za-z0-9.-]+(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(/[!-;=?-_a-~]*)?$";

/// Whether `url` has the shape of [`URL_PATTERN`] (written out: no regex engine needed).
pub fn url_shape(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return false;
    };
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    // An IPv6 literal is bracketed; its colons are not the port's.
    let (host_ok, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let Some((inside, after)) = v6.split_once(']') else {
                return false;
            };
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return false,
            };
            (inside.parse::<std::net::Ipv6Addr>().is_ok(), port)
        }
        None => {
            let (host, port) = authority
                .split_once(':')
                .map_or((authority, None), |(h, p)| (h, Some(p)));
            let ok = !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
            (ok, port)
        }
    };
    host_ok
        && port.is_none_or(|p| {
            !p.starts_with('0') && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
        })
        && path
            .bytes()
            .all(|b| (b'!'..=b'~').contains(&b) && !matches!(b, b'<' | b'>' | b'`'))
}

/// Whether deliveries to `ip` are refused under the default policy: loopback, private
/// (RFC 1918), link-local, unique-local, CGNAT (100.64/10), multicast, unspecified, broadcast,
/// reserved and documentation ranges, and IPv6 forms that embed such an IPv4 address
/// (IPv4-mapped, IPv4-compatible, NAT64, 6to4).
pub fn blocked(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => blocked_v6(v6),
    }
}

fn blocked_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || a == 0 // "this network"
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || ip.is_multicast()
        || ip.is_broadcast()
        || a >= 240 // reserved
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking 198.18/15
        || ip.is_documentation()
}

fn blocked_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return blocked_v4(v4);
    }
    let s = ip.segments();
    let embedded_v4 =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        // IPv4-compatible ::a.b.c.d (deprecated): never a public destination.
        || s[..6].iter().all(|x| *x == 0)
        // NAT64 64:ff9b::/96 and 6to4 2002::/16 reach the IPv4 address they embed.
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2..6].iter().all(|x| *x == 0)
            && blocked_v4(embedded_v4(s[6], s[7])))
        || (s[0] == 0x2002 && blocked_v4(embedded_v4(s[1], s[2])))
}

/// Marker inside the I/O error the resolver returns for a refused address.
#[derive(Debug)]
struct Blocked;

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("address not allowed for webhooks")
    }
}

impl std::error::Error for Blocked {}

/// Marker for a name that did not resolve (whatever the resolver said).
#[derive(Debug)]
struct DnsFailure;

impl std::fmt::Display for DnsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("name did not resolve")
    }
}

impl std::error::Error for DnsFailure {}

/// The system resolver, then the policy over every address it returned: if any is refused the
/// request fails (`blocked`) before a connection is attempted; otherwise ureq connects to one of
/// exactly these checked addresses.
#[derive(Debug)]
struct GuardedResolver {
    allow_private: bool,
    inner: DefaultResolver,
}

impl Resolver for GuardedResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let addrs = match self.inner.resolve(uri, config, timeout) {
            Ok(a) => a,
            Err(e @ (ureq::Error::Timeout(_) | ureq::Error::BadUri(_))) => return Err(e),
            Err(_) => return Err(ureq::Error::Io(std::io::Error::other(DnsFailure))),
        };
        if !self.allow_private && addrs.iter().any(|a| blocked(a.ip())) {
            return Err(ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                Blocked,
            )));
        }
        Ok(addrs)
    }
}

/// The whole time one delivery may take (connect, TLS, request, answer).
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP agent for deliveries: the guarded resolver, no proxy (a proxy would resolve the
/// name where the policy cannot see it), no redirects (a 3xx is an answer, not a new
/// destination), a 10 s timeout, non-2xx answers as outcomes rather than errors, rustls with the
/// webpki roots or the policy's CA bundle.
pub fn agent(policy: &WebhookPolicy) -> ureq::Agent {
    let roots = match &policy.ca_certs {
        Some(certs) => ureq::tls::RootCerts::Specific(certs.clone()),
        None => ureq::tls::RootCerts::WebPki,
    };
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .proxy(None)
        .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
        .build();
    ureq::Agent::with_parts(
        config,
        DefaultConnector::default(),
        GuardedResolver {
            allow_private: policy.allow_private,
            inner: DefaultResolver::default(),
        },
    )
}

/// The class of a failed attempt, as stored in a delivery's `last_error`: never the remote
/// answer's body nor a resolver's or TLS library's text.
pub fn error_class(e: &ureq::Error) -> &'static str {
    match e {
        ureq::Error::Timeout(_) => "timeout",
        ureq::Error::HostNotFound => "dns",
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => "tls",
        ureq::Error::Io(io) => {
            let inner = io.get_ref();
            if inner.is_some_and(|i| i.is::<Blocked>()) {
                "blocked"
            } else if inner.is_some_and(|i| i.is::<DnsFailure>()) {
                "dns"
            } else if io.kind() == std::io::ErrorKind::TimedOut
                || io.kind() == std::io::ErrorKind::WouldBlock
            {
                "timeout"
            } else if io.kind() == std::io::ErrorKind::InvalidData {
                // rustls reports a failed handshake (unknown CA, wrong name, bad record) as
                // invalid data on the socket; a malformed HTTP answer is `Error::Protocol`.
                "tls"
            } else {
                "connect"
            }
        }
        ureq::Error::ConnectionFailed => "connect",
        _ => "protocol",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_shape_is_its_pattern() {
        for ok in [
            "https://hooks.example.com/k?t=1",
            "http://a",
            "http://x.y:65535/",
            "https://h:8443",
        ] {
            assert!(url_shape(ok), "{ok}");
        }
        for bad in [
            "ftp://x",
            "http://",
            "http://a:0",
            "http://a:65536",
            "http://a:08",
            "http://a b",
            "http://é.com",
            "http://a/\u{7f}",
            "http://XTl:842*",
        ] {
            assert!(!url_shape(bad), "{bad}");
        }
    }

    #[test]
    fn non_public_addresses_are_blocked_in_every_form() {
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "172.16.5.4",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "198.18.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::ffff:100.64.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:c0a8:0101::1",
        ] {
            assert!(blocked(ip.parse().unwrap()), "{ip} should be blocked");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:93.184.216.34",
            "64:ff9b::5db8:d822",
        ] {
            assert!(!blocked(ip.parse().unwrap()), "{ip} is public");
        }
    }

    #[test]
    fn literal_private_hosts_and_localhost_are_refused_at_creation() {
        let p = WebhookPolicy::public_only();
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://localhost/hook",
            "https://api.LOCALHOST./x",
            "http://[::1]:9000/",
            "http://[::ffff:192.168.0.1]/",
            "http://169.254.169.254/latest/meta-data",
            "http://10.0.0.5/",
        ] {
            let e = p.check_url(url).unwrap_err();
            assert!(e.contains("KEYSMITH_WEBHOOK_ALLOW_PRIVATE"), "{url}: {e}");
        }
        assert!(
            p.check_url("https://hooks.example.com/k?token=s3cret")
                .is_ok()
        );
        assert!(p.check_url("http://8.8.8.8/").is_ok());
        assert!(
            WebhookPolicy::allow_private()
                .check_url("http://127.0.0.1:1/")
                .is_ok()
        );
    }

    #[test]
    fn a_ca_bundle_must_hold_certificates() {
        assert!(WebhookPolicy::default().with_ca_pem(b"").is_err());
        assert!(WebhookPolicy::default().with_ca_pem(b"hello").is_err());
    }
}
