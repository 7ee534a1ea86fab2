//! Cross-origin requests from browsers, as Graph answers them: a preflight (`OPTIONS` with
//! `Access-Control-Request-Method`) from an allowed origin is answered at once, and every other
//! answer to such an origin, errors included, names the origin and the headers a page may read.

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

/// The origins whose pages may call the API (`--cors-origins`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Any origin: the API authenticates with bearer tokens, never with cookies.
    Any,
    /// Exactly these, e.g. `https://app.example.com`.
    Only(Vec<String>),
}

impl CorsOrigins {
    /// `*`, or a comma-separated list of origins; `None` for an empty value (no CORS).
    pub fn parse(text: &str) -> Option<CorsOrigins> {
        let origins: Vec<String> =
            text.split(',').map(|o| o.trim().trim_end_matches('/').to_string()).filter(|o| !o.is_empty()).collect();
        match origins.as_slice() {
            [] => None,
            [any] if any == "*" => Some(CorsOrigins::Any),
            _ => Some(CorsOrigins::Only(origins)),
        }
    }

    /// The `Access-Control-Allow-Origin` for a request from `origin`, if it is allowed.
    fn allow(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        match self {
            CorsOrigins::Any => Some(HeaderValue::from_static("*")),
            CorsOrigins::Only(list) => {
                let origin_text = origin.to_str().ok()?;
                list.iter().any(|o| o.eq_ignore_ascii_case(origin_text)).then(|| origin.clone())
            }
        }
    }
}

const ALLOW_METHODS: &str = "GET, POST, PATCH, DELETE, OPTIONS";
const ALLOW_HEADERS: &str = "Authorization, Content-Type, Content-Encoding, If-Match, Prefer, client-request-id, \
     ConsistencyLevel, SdkVersion, return-client-request-id, Retry-Attempt, Accept, Accept-Language";
const EXPOSE_HEADERS: &str = "ETag, Location, OData-EntityId, OData-Version, Preference-Applied, request-id, \
     client-request-id, Retry-After, WWW-Authenticate, Content-Encoding";
/// How long a browser may reuse a preflight's answer, in seconds.
const MAX_AGE: &str = "3600";

/// The `Access-Control-Allow-Origin` for a request, if it comes from a page `origins` allows.
pub(crate) fn allowed_origin(origins: &CorsOrigins, request: &Request) -> Option<HeaderValue> {
    origins.allow(request.headers().get(header::ORIGIN)?)
}

/// Whether the request is a browser's preflight rather than a request of its own.
pub(crate) fn is_preflight(request: &Request) -> bool {
    request.method() == Method::OPTIONS && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The answer to a preflight from an allowed origin: what the page may send.
pub(crate) fn preflight(allowed: HeaderValue, origins: &CorsOrigins) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOW_METHODS));
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOW_HEADERS));
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE));
    name_origin(headers, allowed, origins);
    response
}

/// Marks any other answer to an allowed origin: what the page may read.
pub(crate) fn expose(headers: &mut HeaderMap, allowed: HeaderValue, origins: &CorsOrigins) {
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSE_HEADERS));
    name_origin(headers, allowed, origins);
}

/// The allowed origin; when it depends on the request, caches must keep answers apart by it.
fn name_origin(headers: &mut HeaderMap, allowed: HeaderValue, origins: &CorsOrigins) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
    if matches!(origins, CorsOrigins::Only(_)) {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse_and_match() {
        assert_eq!(CorsOrigins::parse(""), None);
        assert_eq!(CorsOrigins::parse(" * "), Some(CorsOrigins::Any));
        let only = CorsOrigins::parse("https://a.example, https://b.example/").unwrap();
        let b = HeaderValue::from_static("https://B.example");
        assert_eq!(only.allow(&b), Some(b.clone()));
        assert_eq!(only.allow(&HeaderValue::from_static("https://c.example")), None);
        assert_eq!(CorsOrigins::Any.allow(&b), Some(HeaderValue::from_static("*")));
    }
}
