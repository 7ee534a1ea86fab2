//! The scheme and host of the links graphsec writes (`@odata.context`, `@odata.nextLink`,
//! `@odata.id`, `Location`). Behind a TLS-terminating proxy the request's own scheme and `Host`
//! are the proxy's view, not the client's: `--public-url` fixes them, or the proxy says them in
//! `Forwarded` / `X-Forwarded-*`, which only the proxies an operator trusts may do.

use http::HeaderMap;
use ipnet::IpNet;
use std::net::IpAddr;

/// Where links point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicUrl {
    /// `--public-url`: every link starts with this origin, e.g. `https://graph.example.com`.
    Fixed(String),
    /// The request's scheme and `Host`, or what a proxy in this list forwarded.
    FromRequest { trusted_proxies: Vec<IpNet> },
}

impl PublicUrl {
    /// From `--public-url` and `--trusted-proxies`.
    pub fn new(public_url: Option<&str>, trusted_proxies: &str) -> Result<PublicUrl, String> {
        if let Some(url) = public_url {
            return parse_origin(url).map(PublicUrl::Fixed);
        }
        let trusted_proxies = trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(parse_proxy)
            .collect::<Result<_, _>>()?;
        Ok(PublicUrl::FromRequest { trusted_proxies })
    }

    /// The origin (`scheme://host[:port]`) of a request that came over a TLS connection or not,
    /// from `peer` (`None` for a request that did not come over a socket).
    pub fn origin(&self, headers: &HeaderMap, peer: Option<IpAddr>, tls: bool) -> String {
        self.origin_with(headers, peer, tls, "")
    }

    /// The service root (`scheme://host[:port]/beta`) of such a request, written at once.
    pub fn service_root(&self, headers: &HeaderMap, peer: Option<IpAddr>, tls: bool) -> String {
        self.origin_with(headers, peer, tls, crate::api::route::SERVICE_ROOT)
    }

    /// The origin followed by `suffix`, in a string allocated once.
    fn origin_with(&self, headers: &HeaderMap, peer: Option<IpAddr>, tls: bool, suffix: &str) -> String {
        let trusted_proxies = match self {
            PublicUrl::Fixed(origin) => return [origin.as_str(), suffix].concat(),
            PublicUrl::FromRequest { trusted_proxies } => trusted_proxies,
        };
        let mut scheme = if tls { "https" } else { "http" };
        let mut host = header(headers, http::header::HOST).filter(|h| is_sane_host(h)).unwrap_or("localhost");
        let from_proxy = peer.is_some_and(|ip| trusted_proxies.iter().any(|net| net.contains(&canonical(ip))));
        if from_proxy {
            let (proto, forwarded_host) = forwarded(headers);
            if let Some(proto) = proto {
                scheme = proto;
            }
            if let Some(forwarded_host) = forwarded_host {
                host = forwarded_host;
            }
        }
        [scheme, "://", host, suffix].concat()
    }
}

/// What the nearest proxy said: `Forwarded` when it sent one, else `X-Forwarded-Proto` and
/// `X-Forwarded-Host`. Each proxy appends its own value to a list, and only the last one was
/// written by a proxy the operator trusts, so the last is taken. Values that cannot be a scheme
/// or a host are ignored.
fn forwarded(headers: &HeaderMap) -> (Option<&'static str>, Option<&str>) {
    let (proto, host) = match header(headers, "forwarded").and_then(|list| list.rsplit(',').next()) {
        Some(element) => {
            let pair = |key: &str| {
                element.split(';').find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    k.trim().eq_ignore_ascii_case(key).then(|| v.trim().trim_matches('"'))
                })
            };
            (pair("proto"), pair("host"))
        }
        None => (last(headers, "x-forwarded-proto"), last(headers, "x-forwarded-host")),
    };
    let proto = proto.and_then(|p| {
        if p.eq_ignore_ascii_case("https") {
            Some("https")
        } else if p.eq_ignore_ascii_case("http") {
            Some("http")
        } else {
            None
        }
    });
    (proto, host.filter(|h| is_sane_host(h)))
}

fn header(headers: &HeaderMap, name: impl http::header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn last<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    header(headers, name).and_then(|list| list.rsplit(',').next()).map(str::trim)
}

/// The host ends up in every link; keep it to host[:port].
pub fn is_sane_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_'))
}

/// An IPv4 client seen through an IPv6 socket is still the IPv4 address an operator lists.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn parse_origin(url: &str) -> Result<String, String> {
    let usage = || format!("--public-url takes scheme://host[:port], e.g. https://graph.example.com, not {url:?}");
    let (scheme, rest) = url.split_once("://").ok_or_else(usage)?;
    let scheme = scheme.to_ascii_lowercase();
    let host = rest.strip_suffix('/').unwrap_or(rest);
    if !matches!(scheme.as_str(), "http" | "https") || !is_sane_host(host) {
        return Err(usage());
    }
    Ok(format!("{scheme}://{host}"))
}

fn parse_proxy(text: &str) -> Result<IpNet, String> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("--trusted-proxies takes addresses or networks, e.g. 10.0.0.0/8,127.0.0.1, not {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (http::HeaderName::from_static(k), http::HeaderValue::from_static(v))).collect()
    }

    const PROXY: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 1, 2, 3)));
    const STRANGER: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7)));

    fn behind_proxy() -> PublicUrl {
        PublicUrl::new(None, "10.0.0.0/8, ::1").unwrap()
    }

    #[test]
    fn the_request_host_and_connection_scheme_by_default() {
        let url = PublicUrl::new(None, "").unwrap();
        let h = headers(&[("host", "example.test:8080"), ("x-forwarded-proto", "https")]);
        assert_eq!(url.origin(&h, PROXY, false), "http://example.test:8080");
        assert_eq!(url.origin(&h, PROXY, true), "https://example.test:8080");
        assert_eq!(url.service_root(&h, PROXY, true), "https://example.test:8080/beta");
        assert_eq!(url.origin(&headers(&[("host", "evil\"host")]), None, false), "http://localhost");
    }

    #[test]
    fn a_fixed_public_url_wins_over_everything() {
        let url = PublicUrl::new(Some("HTTPS://graph.example.com:8443/"), "").unwrap();
        let h = headers(&[("host", "internal:8080"), ("forwarded", "proto=http;host=other")]);
        assert_eq!(url.origin(&h, PROXY, false), "https://graph.example.com:8443");
        assert_eq!(url.service_root(&h, PROXY, false), "https://graph.example.com:8443/beta");
    }

    #[test]
    fn trusted_proxies_say_the_scheme_and_host() {
        let h = headers(&[("host", "10.1.2.3:8080"), ("x-forwarded-proto", "https"), ("x-forwarded-host", "api.test")]);
        assert_eq!(behind_proxy().origin(&h, PROXY, false), "https://api.test");
        assert_eq!(behind_proxy().service_root(&h, PROXY, false), "https://api.test/beta");
        assert_eq!(behind_proxy().origin(&h, STRANGER, false), "http://10.1.2.3:8080");
        assert_eq!(behind_proxy().origin(&h, None, false), "http://10.1.2.3:8080");
        let mapped = Some("::ffff:10.9.9.9".parse().unwrap());
        assert_eq!(behind_proxy().origin(&h, mapped, false), "https://api.test");
    }

    #[test]
    fn forwarded_wins_and_the_nearest_proxys_value_counts() {
        let h = headers(&[
            ("host", "inner"),
            ("forwarded", "for=1.2.3.4;proto=http;host=spoofed, for=5.6.7.8;Proto=HTTPS;Host=\"api.test:443\""),
            ("x-forwarded-host", "ignored"),
        ]);
        assert_eq!(behind_proxy().origin(&h, PROXY, false), "https://api.test:443");
        let h = headers(&[("host", "inner"), ("x-forwarded-proto", "http, https"), ("x-forwarded-host", "a, b")]);
        assert_eq!(behind_proxy().origin(&h, PROXY, false), "https://b");
    }

    #[test]
    fn forwarded_values_that_are_not_a_scheme_or_host_are_ignored() {
        let h = headers(&[("host", "inner"), ("x-forwarded-proto", "gopher"), ("x-forwarded-host", "a/b")]);
        assert_eq!(behind_proxy().origin(&h, PROXY, true), "https://inner");
    }

    #[test]
    fn bad_flags_are_refused_with_the_expected_shape() {
        for bad in ["graph.example.com", "ftp://x", "https://x/beta", "https://"] {
            assert!(PublicUrl::new(Some(bad), "").unwrap_err().contains("scheme://host[:port]"), "{bad}");
        }
        assert!(PublicUrl::new(None, "10.0.0.0/33").unwrap_err().contains("--trusted-proxies"));
        assert!(PublicUrl::new(None, "proxy.local").is_err());
    }
}
