//! The client's address, for throttling and connection limits: the peer of the connection, unless that
//! peer is a configured trusted proxy, in which case the address the proxies recorded in `Forwarded`
//! (RFC 7239) or, without it, `X-Forwarded-For`. Those headers are read from the right (the hop nearest
//! to us) and every trusted proxy is skipped; the first address that is not one is the client. A
//! client can write anything into these headers, so they are never read from a peer that is not trusted.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::http::HeaderMap;

/// An address or a range of addresses (`10.0.0.0/8`, `2001:db8::/32`) of a trusted reverse proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyNetwork {
    address: IpAddr,
    prefix_bits: u8,
}

/// A trusted proxy that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not an IP address or a network such as 10.0.0.0/8")]
pub struct InvalidProxyNetwork {
    text: String,
}

impl FromStr for ProxyNetwork {
    type Err = InvalidProxyNetwork;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidProxyNetwork { text: text.to_owned() };
        let trimmed = text.trim();
        let (address, prefix) = match trimmed.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (trimmed, None),
        };
        let address: IpAddr = address.parse().map_err(|_| invalid())?;
        let address = address.to_canonical();
        let full_bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix_bits = match prefix {
            Some(prefix) => prefix.parse::<u8>().ok().filter(|bits| *bits <= full_bits).ok_or_else(invalid)?,
            None => full_bits,
        };
        Ok(ProxyNetwork { address, prefix_bits })
    }
}

impl std::fmt::Display for ProxyNetwork {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}/{}", self.address, self.prefix_bits)
    }
}

impl ProxyNetwork {
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.address, address.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix_bits)).unwrap_or(0);
                u32::from(network) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix_bits)).unwrap_or(0);
                u128::from(network) & mask == u128::from(address) & mask
            }
            _ => false,
        }
    }
}

/// The reverse proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<ProxyNetwork>,
}

impl TrustedProxies {
    pub fn new(networks: Vec<ProxyNetwork>) -> TrustedProxies {
        TrustedProxies { networks }
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        self.networks.iter().any(|network| network.contains(address))
    }

    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }
}

/// The address of the client behind the connection from `peer`.
pub fn client_address(peer: SocketAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.ip().to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    let hops = forwarded_for(headers).unwrap_or_else(|| x_forwarded_for(headers));
    let mut nearest_trusted = peer;
    for hop in hops.iter().rev() {
        match hop {
            // A hop we cannot read: stop at the last proxy we trust rather than guess past it.
            None => return nearest_trusted,
            Some(address) if trusted.contains(*address) => nearest_trusted = *address,
            Some(address) => return *address,
        }
    }
    nearest_trusted
}

/// The `for=` addresses of every `Forwarded` element, in order; `None` when there is no such header.
fn forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let values: Vec<&str> =
        headers.get_all("forwarded").iter().map(|value| value.to_str().unwrap_or("for=unknown")).collect();
    if values.is_empty() {
        return None;
    }
    let mut hops = Vec::new();
    for element in values.iter().flat_map(|value| value.split(',')) {
        let node = element.split(';').find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            name.trim().eq_ignore_ascii_case("for").then_some(value.trim())
        });
        hops.push(node.and_then(parse_node));
    }
    Some(hops)
}

/// The addresses of every `X-Forwarded-For` header, in order.
fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("unknown").split(','))
        .map(parse_node)
        .collect()
}

/// An address as a proxy writes it: `192.0.2.1`, `192.0.2.1:4711`, `"[2001:db8::1]:4711"`, `2001:db8::1`.
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Ok(address) = text.parse::<IpAddr>() {
        return Some(address.to_canonical());
    }
    if let Ok(socket) = text.parse::<SocketAddr>() {
        return Some(socket.ip().to_canonical());
    }
    let bracketed = text.strip_prefix('[')?.split(']').next()?;
    bracketed.parse::<IpAddr>().ok().map(|address| address.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(peer: &str, headers: &[(&'static str, &str)], trusted: &[&str], expected: &str) {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(*name, value.parse().unwrap());
        }
        let trusted = TrustedProxies::new(trusted.iter().map(|text| text.parse().unwrap()).collect());
        let found = client_address(peer.parse().unwrap(), &map, &trusted);
        assert_eq!(found.to_string(), expected, "{peer} {headers:?} trusting {trusted:?}");
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let xff = "x-forwarded-for";
        // No trusted proxy: the peer, whatever the headers say.
        check("203.0.113.9:5000", &[(xff, "198.51.100.1")], &[], "203.0.113.9");
        check("203.0.113.9:5000", &[(xff, "198.51.100.1")], &["10.0.0.0/8"], "203.0.113.9");
        // A trusted proxy: the rightmost address that is not a trusted proxy.
        check("10.0.0.2:5000", &[(xff, "198.51.100.1")], &["10.0.0.0/8"], "198.51.100.1");
        check("10.0.0.2:5000", &[(xff, "6.6.6.6, 198.51.100.1, 10.0.0.3")], &["10.0.0.0/8"], "198.51.100.1");
        check("10.0.0.2:5000", &[(xff, "6.6.6.6"), (xff, "198.51.100.1")], &["10.0.0.2"], "198.51.100.1");
        check("10.0.0.2:5000", &[], &["10.0.0.2"], "10.0.0.2");
        check("10.0.0.2:5000", &[(xff, "10.0.0.7")], &["10.0.0.0/8"], "10.0.0.7");
        check("10.0.0.2:5000", &[(xff, "6.6.6.6, garbage, 10.0.0.3")], &["10.0.0.0/8"], "10.0.0.3");
        // Forwarded (RFC 7239) wins over X-Forwarded-For.
        let forwarded = "for=192.0.2.60;proto=http;by=203.0.113.43, for=\"[2001:db8:cafe::17]:4711\"";
        check("10.0.0.2:5000", &[("forwarded", forwarded), (xff, "6.6.6.6")], &["10.0.0.2"], "2001:db8:cafe::17");
        check("10.0.0.2:5000", &[("forwarded", "For=192.0.2.60:8080")], &["10.0.0.2"], "192.0.2.60");
        check("10.0.0.2:5000", &[("forwarded", "for=unknown")], &["10.0.0.2"], "10.0.0.2");
        // IPv4 peers seen through an IPv6 socket match IPv4 networks.
        check("[::ffff:10.0.0.2]:5000", &[(xff, "198.51.100.1")], &["10.0.0.0/8"], "198.51.100.1");
        check("[2001:db8::5]:5000", &[(xff, "198.51.100.1")], &["2001:db8::/32"], "198.51.100.1");
    }

    #[test]
    fn proxy_networks_parse_or_name_the_value() {
        assert_eq!("10.1.2.3/8".parse::<ProxyNetwork>().unwrap().to_string(), "10.1.2.3/8");
        assert_eq!("::1".parse::<ProxyNetwork>().unwrap().to_string(), "::1/128");
        for bad in ["", "10.0.0.0/33", "proxy.local", "10.0.0.0/x", "::/129"] {
            assert!(bad.parse::<ProxyNetwork>().is_err(), "{bad:?}");
        }
        let network: ProxyNetwork = "0.0.0.0/0".parse().unwrap();
        assert!(network.contains("203.0.113.1".parse().unwrap()));
        assert!(!network.contains("::2".parse().unwrap()));
    }
}
