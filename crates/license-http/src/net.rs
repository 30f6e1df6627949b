//! Who the client is (SPEC §2): the one function, [`ClientIps::resolve`], that turns a TCP peer
//! and its forwarding headers into the client's IP address for every use — rate limits, abuse
//! detection, login throttling, audit entries and activation records — and [`bucket`], the unit
//! the limiters count in (an IPv4 address, or an IPv6 /64, since one host may hold a whole /64).
//!
//! Forwarding headers are believed only from a peer inside `KEYSMITH_TRUSTED_PROXIES`; then the
//! client is the right-most address of `X-Forwarded-For` (or, without that header, of the
//! `Forwarded: for=` elements) that is not itself a trusted proxy. Anything to the left of it was
//! written by the client and may be forged.

use std::net::{IpAddr, Ipv6Addr};

use actix_web::http::header::HeaderMap;

/// The IPv6 prefix length a client is counted by (SPEC §2: "IPv6 clients are limited per /64").
pub const IPV6_CLIENT_PREFIX: u8 = 64;

/// An IP network, `address/prefix` (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

fn mask_v4(bits: u32, prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => bits & (u32::MAX << (32 - u32::from(p.min(32)))),
    }
}

fn mask_v6(bits: u128, prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p => bits & (u128::MAX << (128 - u32::from(p.min(128)))),
    }
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `2001:db8::/32` or a bare address; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or CIDR like 10.0.0.0/8"))?;
        let ip = ip.to_canonical();
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0..={max}"))?,
        };
        let network = match ip {
            IpAddr::V4(v4) => IpAddr::V4(mask_v4(v4.to_bits(), prefix).into()),
            IpAddr::V6(v6) => IpAddr::V6(mask_v6(v6.to_bits(), prefix).into()),
        };
        Ok(Self { network, prefix })
    }

    /// Whether `ip` is inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => mask_v4(a.to_bits(), self.prefix) == n.to_bits(),
            (IpAddr::V6(n), IpAddr::V6(a)) => mask_v6(a.to_bits(), self.prefix) == n.to_bits(),
            _ => false,
        }
    }
}

/// The unit a client is counted in by rate limits, abuse rules and login throttling: an IPv4
/// address as it is, an IPv6 address by its /64 (the host bits zeroed). An IPv4-mapped IPv6
/// address counts as its IPv4 address.
pub fn bucket(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from_bits(mask_v6(
            v6.to_bits(),
            IPV6_CLIENT_PREFIX,
        ))),
    }
}

/// The proxies whose forwarding headers are believed (`KEYSMITH_TRUSTED_PROXIES`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientIps {
    trusted: Vec<Cidr>,
}

/// One element of a forwarding header as written: an address, maybe with a port, brackets or
/// quotes; `None` for anything else (`unknown`, an obfuscated `_hidden` name, garbage).
fn parse_hop(text: &str) -> Option<IpAddr> {
    let t = text.trim().trim_matches('"');
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    // `[2001:db8::1]:4711` or `[2001:db8::1]`
    if let Some(rest) = t.strip_prefix('[') {
        let inner = rest.split_once(']')?.0;
        return inner.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
    }
    // `192.0.2.1:4711`
    let (host, port) = t.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// The hops a forwarding header lists, left (first client) to right (last proxy). Uses
/// `X-Forwarded-For`, or `Forwarded` when there is no `X-Forwarded-For` at all.
fn hops(headers: &HeaderMap) -> Vec<String> {
    let xff: Vec<String> = headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_owned())
        .collect();
    if !xff.is_empty() || headers.contains_key("x-forwarded-for") {
        return xff;
    }
    headers
        .get_all("forwarded")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|element| {
            element
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default()
        })
        .collect()
}

impl ClientIps {
    /// Trusts the proxies in `list`, a comma-separated list of CIDRs (empty: none).
    pub fn parse(list: &str) -> Result<Self, String> {
        let trusted = list
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(Cidr::parse)
            .collect::<Result<_, _>>()?;
        Ok(Self { trusted })
    }

    /// Whether `ip` is a trusted proxy.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|c| c.contains(ip))
    }

    /// The client's IP address for a request from TCP peer `peer` with `headers`: the peer
    /// itself unless it is a trusted proxy; then, walking the forwarding header from the right,
    /// the first address that is not a trusted proxy. An element that is not an address stops
    /// the walk at the hop that wrote it (everything left of it is the client's own say); a
    /// header of trusted proxies only yields its left-most address.
    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if self.trusted.is_empty() || !self.is_trusted(peer) {
            return peer;
        }
        let mut client = peer;
        for hop in hops(headers).iter().rev() {
            match parse_hop(hop) {
                Some(ip) if self.is_trusted(ip) => client = ip,
                Some(ip) => return ip,
                None => return client,
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_parse_mask_and_name_the_problem() {
        let c = Cidr::parse("10.1.2.3/8").unwrap();
        assert!(c.contains(ip("10.200.0.1")) && !c.contains(ip("11.0.0.1")));
        assert!(
            c.contains(ip("::ffff:10.0.0.9")),
            "IPv4-mapped counts as IPv4"
        );
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")) && !v6.contains(ip("2001:db9::1")));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains(ip("203.0.113.1"))
        );
        assert!(Cidr::parse("192.0.2.7").unwrap().contains(ip("192.0.2.7")));
        assert!(!Cidr::parse("192.0.2.7").unwrap().contains(ip("192.0.2.8")));
        for bad in [
            "10.0.0.0/33",
            "2001:db8::/129",
            "proxy.local",
            "10.0.0.0/x",
            "",
        ] {
            let e = Cidr::parse(bad).unwrap_err();
            assert!(e.contains(bad.trim()), "{e}");
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let ips = ClientIps::parse("10.0.0.0/8").unwrap();
        let h = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(ips.resolve(ip("198.51.100.9"), &h), ip("198.51.100.9"));
        let none = ClientIps::default();
        assert_eq!(none.resolve(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_address_is_the_client() {
        let ips = ClientIps::parse("10.0.0.0/8, 192.168.0.0/16").unwrap();
        // The client forged "6.6.6.6"; the edge proxy appended the real address; an inner proxy
        // appended the edge proxy.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.5, 192.168.1.1")]);
        assert_eq!(ips.resolve(ip("10.0.0.2"), &h), ip("203.0.113.5"));
        // Several header lines are one list.
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "203.0.113.6"),
        ]);
        assert_eq!(ips.resolve(ip("10.0.0.2"), &h), ip("203.0.113.6"));
        // No header: the proxy itself.
        assert_eq!(
            ips.resolve(ip("10.0.0.2"), &HeaderMap::new()),
            ip("10.0.0.2")
        );
        // Only trusted hops: the left-most.
        let h = headers(&[("x-forwarded-for", "10.9.9.9, 192.168.1.1")]);
        assert_eq!(ips.resolve(ip("10.0.0.2"), &h), ip("10.9.9.9"));
        // Garbage stops the walk at the hop that wrote it.
        let h = headers(&[("x-forwarded-for", "203.0.113.7, unknown, 192.168.1.1")]);
        assert_eq!(ips.resolve(ip("10.0.0.2"), &h), ip("192.168.1.1"));
        // Ports and brackets.
        let h = headers(&[("x-forwarded-for", "[2001:db8::5]:443, 203.0.113.8:1234")]);
        assert_eq!(ips.resolve(ip("10.0.0.2"), &h), ip("203.0.113.8"));
    }

    #[test]
    fn forwarded_is_read_when_there_is_no_x_forwarded_for() {
        let ips = ClientIps::parse("10.0.0.0/8").unwrap();
        let h = headers(&[(
            "forwarded",
            "for=6.6.6.6, for=\"[2001:db8:cafe::17]:4711\";proto=https, for=10.0.0.3",
        )]);
        assert_eq!(ips.resolve(ip("10.0.0.2"), &h), ip("2001:db8:cafe::17"));
        let both = headers(&[
            ("forwarded", "for=6.6.6.6"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(ips.resolve(ip("10.0.0.2"), &both), ip("203.0.113.9"));
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            bucket(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            bucket(ip("2001:db8:1:2::1")),
            bucket(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(bucket(ip("2001:db8:1:2::1")), bucket(ip("2001:db8:1:3::1")));
        assert_eq!(bucket(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(bucket(ip("192.0.2.1")), ip("192.0.2.1"));
    }
}
