//! Who is asking: the client's address, for the sign-in throttle and the audit log.
//! Production runs behind a TLS proxy, whose address every request would otherwise carry
//! (one stranger's failures would lock everyone out, and the audit log would name the
//! proxy). The proxy's word (`Forwarded`, else `X-Forwarded-For`) is taken only when the
//! peer is one of `TRUSTED_PROXIES`; the chain is read from the right, skipping trusted
//! hops, so a client cannot pass off an address by sending the header itself.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::{
    extract::{ConnectInfo, Request, State},
    http::HeaderMap,
    middleware::Next,
    response::Response,
};
use ipnet::IpNet;

/// The client's address as [`resolve`] found it, in the request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// The proxies whose forwarding headers are believed (`TRUSTED_PROXIES`).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<Vec<IpNet>>);

/// Parses one `TRUSTED_PROXIES` item: a CIDR block or a single address.
pub fn parse_net(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is neither an address nor a CIDR block (10.0.0.0/8)"))
}

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self(Arc::new(nets))
    }

    fn trusts(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client behind `peer`: `peer` itself unless it is a trusted proxy; then the
    /// nearest untrusted hop its forwarding headers name.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        for hop in forwarded_chain(headers).into_iter().rev() {
            let Some(address) = hop else {
                // A hop the proxy could not name (`unknown`, an obfuscated id): the
                // client is beyond what can be known; the last hop known stands for it.
                return client;
            };
            client = address;
            if !self.trusts(address) {
                return address;
            }
        }
        client
    }
}

/// Addresses written as IPv4-mapped IPv6 compare as IPv4.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The hops the request passed through, nearest the client first: from `Forwarded`
/// (RFC 7239) when present, else `X-Forwarded-For`. `None` marks a hop not named by
/// address.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let values = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let forwarded = values("forwarded");
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(key, _)| key.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, node)| parse_node(node.trim().trim_matches('"')))
            })
            .collect();
    }
    values("x-forwarded-for")
        .iter()
        .map(|v| parse_node(v))
        .collect()
}

/// An address as proxies write it: `192.0.2.60`, `192.0.2.60:4711`, `[2001:db8::1]`,
/// `[2001:db8::1]:4711` or a bare IPv6 address.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(address) = node.parse::<IpAddr>() {
        return Some(canonical(address));
    }
    if let Ok(socket) = node.parse::<SocketAddr>() {
        return Some(canonical(socket.ip()));
    }
    node.strip_prefix('[')
        .and_then(|rest| rest.split(']').next())
        .and_then(|inner| inner.parse::<IpAddr>().ok())
        .map(canonical)
}

/// Finds the client's address and keeps it in the request's extensions.
pub async fn resolve(
    State(proxies): State<TrustedProxies>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let client = proxies.client(peer.ip(), request.headers());
    request.extensions_mut().insert(ClientAddress(client));
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn proxies(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| parse_net(n).unwrap()).collect())
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let claims = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(
            trusted.client(ip("203.0.113.9"), &claims),
            ip("203.0.113.9")
        );
        assert_eq!(
            TrustedProxies::default().client(ip("10.0.0.1"), &claims),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client() {
        let trusted = proxies(&["10.0.0.0/8", "192.168.1.1"]);
        let xff = headers(&[("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(trusted.client(ip("10.1.2.3"), &xff), ip("198.51.100.7"));
        let forwarded = headers(&[("forwarded", r#"for="[2001:db8:cafe::17]:4711";proto=https"#)]);
        assert_eq!(
            trusted.client(ip("192.168.1.1"), &forwarded),
            ip("2001:db8:cafe::17")
        );
    }

    #[test]
    fn a_forged_header_before_the_proxy_is_not_believed() {
        // The client sent "X-Forwarded-For: 1.1.1.1"; the proxy appended the real one.
        let trusted = proxies(&["10.0.0.0/8"]);
        let chain = headers(&[("x-forwarded-for", "1.1.1.1, 198.51.100.7, 10.0.0.5")]);
        assert_eq!(trusted.client(ip("10.0.0.2"), &chain), ip("198.51.100.7"));
        let split = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "198.51.100.7"),
        ]);
        assert_eq!(trusted.client(ip("10.0.0.2"), &split), ip("198.51.100.7"));
    }

    #[test]
    fn forwarded_wins_over_x_forwarded_for_and_unknown_hops_stop_the_walk() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let both = headers(&[
            ("forwarded", "for=198.51.100.7, for=10.0.0.9"),
            ("x-forwarded-for", "1.1.1.1"),
        ]);
        assert_eq!(trusted.client(ip("10.0.0.2"), &both), ip("198.51.100.7"));
        let unknown = headers(&[("forwarded", "for=unknown, for=10.0.0.9")]);
        assert_eq!(trusted.client(ip("10.0.0.2"), &unknown), ip("10.0.0.9"));
        let garbage = headers(&[("x-forwarded-for", "not-an-address")]);
        assert_eq!(trusted.client(ip("10.0.0.2"), &garbage), ip("10.0.0.2"));
    }

    #[test]
    fn mapped_addresses_and_bad_settings() {
        let trusted = proxies(&["127.0.0.1"]);
        let xff = headers(&[("x-forwarded-for", "::ffff:198.51.100.7")]);
        assert_eq!(
            trusted.client(ip("::ffff:127.0.0.1"), &xff),
            ip("198.51.100.7")
        );
        assert!(parse_net("10.0.0.0/33").is_err());
        assert!(parse_net("proxy.internal").is_err());
    }
}
