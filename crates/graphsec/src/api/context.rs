//! Per-request identity for tracing and replies: request-id, client-request-id, service root.

use http::{HeaderMap, HeaderName};
use std::sync::{Arc, OnceLock};

#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    /// The client's own id when it sent a sane one, else the request-id (as Graph does).
    pub client_request_id: String,
    /// Absolute service root at the public address, e.g. `https://h:8080/beta`.
    pub service_root: String,
}

const MAX_CLIENT_REQUEST_ID: usize = 128;

/// The ids' header names, parsed once rather than on every request.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("request-id");
pub const CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("client-request-id");

impl RequestContext {
    /// A request's ids, and its service root under `origin` (`scheme://host[:port]`).
    pub fn new(headers: &HeaderMap, origin: &str) -> RequestContext {
        RequestContext::with_service_root(headers, [origin, super::route::SERVICE_ROOT].concat())
    }

    /// A request's ids, and its `service_root` (`scheme://host[:port]/beta`).
    pub fn with_service_root(headers: &HeaderMap, service_root: String) -> RequestContext {
        // Written through the uuid's own encoder rather than `Display`, which goes through the
        // formatting machinery; the text is the same.
        let request_id =
            String::from(&*uuid::Uuid::new_v4().hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()));
        let client_request_id = headers
            .get(CLIENT_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= MAX_CLIENT_REQUEST_ID && v.bytes().all(|b| b.is_ascii_graphic()))
            .map(str::to_string)
            .unwrap_or_else(|| request_id.clone());
        RequestContext { request_id, client_request_id, service_root }
    }

    /// The `scheme://host[:port]` links point at.
    pub fn origin(&self) -> &str {
        self.service_root.strip_suffix("/beta").unwrap_or(&self.service_root)
    }

    /// The host[:port] links point at.
    pub fn public_host(&self) -> &str {
        self.origin().split_once("://").map_or(self.origin(), |(_, host)| host)
    }
}

/// The caller's tenant, noted once the caller is authenticated, for the request's log line and
/// its journal entry (both written after the handler, which owns the principal, has finished).
#[derive(Debug, Clone, Default)]
pub struct CallerTenant(Arc<OnceLock<String>>);

impl CallerTenant {
    pub fn get(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }

    /// Notes `tenant` as the caller's tenant of the request whose extensions are `extensions`.
    pub fn note(extensions: &http::Extensions, tenant: &str) {
        if let Some(CallerTenant(slot)) = extensions.get::<CallerTenant>() {
            let _ = slot.set(tenant.to_string());
        }
        tracing::Span::current().record("tenant", tenant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_client_request_id_and_builds_root() {
        let mut h = HeaderMap::new();
        h.insert("client-request-id", "abc-123".parse().unwrap());
        let ctx = RequestContext::new(&h, "http://example.test:8080");
        assert_eq!(ctx.client_request_id, "abc-123");
        assert_eq!(ctx.service_root, "http://example.test:8080/beta");
        assert_eq!(ctx.origin(), "http://example.test:8080");
        assert_eq!(ctx.public_host(), "example.test:8080");
        assert!(uuid::Uuid::parse_str(&ctx.request_id).is_ok());
    }

    #[test]
    fn falls_back_on_a_hostile_client_request_id() {
        let mut h = HeaderMap::new();
        h.insert("client-request-id", "a b".parse().unwrap());
        let ctx = RequestContext::new(&h, "https://localhost");
        assert_eq!(ctx.client_request_id, ctx.request_id);
    }
}
