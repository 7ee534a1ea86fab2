//! Per-request identity for tracing and replies: request-id, client-request-id, service root.

use http::HeaderMap;

#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    /// The client's own id when it sent a sane one, else the request-id (as Graph does).
    pub client_request_id: String,
    /// Absolute service root built from the request's scheme and host, e.g. `http://h:8080/beta`.
    pub service_root: String,
}

const MAX_CLIENT_REQUEST_ID: usize = 128;

impl RequestContext {
    pub fn new(headers: &HeaderMap, tls: bool) -> RequestContext {
        let request_id = uuid::Uuid::new_v4().to_string();
        let client_request_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= MAX_CLIENT_REQUEST_ID && v.bytes().all(|b| b.is_ascii_graphic()))
            .map(str::to_string)
            .unwrap_or_else(|| request_id.clone());
        let host = headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .filter(|h| is_sane_host(h))
            .unwrap_or("localhost");
        let scheme = if tls { "https" } else { "http" };
        RequestContext { request_id, client_request_id, service_root: format!("{scheme}://{host}/beta") }
    }
}

/// The Host header ends up in `@odata.context` and `@odata.nextLink`; keep it to host[:port].
fn is_sane_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_client_request_id_and_builds_root() {
        let mut h = HeaderMap::new();
        h.insert("client-request-id", "abc-123".parse().unwrap());
        h.insert("host", "example.test:8080".parse().unwrap());
        let ctx = RequestContext::new(&h, false);
        assert_eq!(ctx.client_request_id, "abc-123");
        assert_eq!(ctx.service_root, "http://example.test:8080/beta");
        assert!(uuid::Uuid::parse_str(&ctx.request_id).is_ok());
    }

    #[test]
    fn falls_back_on_hostile_values() {
        let mut h = HeaderMap::new();
        h.insert("client-request-id", "a b".parse().unwrap());
        h.insert("host", "evil\"host".parse().unwrap());
        let ctx = RequestContext::new(&h, true);
        assert_eq!(ctx.client_request_id, ctx.request_id);
        assert_eq!(ctx.service_root, "https://localhost/beta");
    }
}
