//! Every error leaves the server as Graph's error JSON (docs/errors.md §1).

use super::context::RequestContext;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

#[derive(Debug, Clone)]
pub struct GraphError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub inner_code: Option<&'static str>,
    /// Seconds for a `Retry-After` header (429, 503).
    pub retry_after: Option<u64>,
    /// The `Allow` header of a 405.
    pub allow: Option<Box<str>>,
    /// What went wrong inside the server, for its log only: never sent to the client.
    pub cause: Option<Box<str>>,
}

impl GraphError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        GraphError {
            status,
            code,
            message: message.into(),
            inner_code: None,
            retry_after: None,
            allow: None,
            cause: None,
        }
    }

    pub fn with_inner(mut self, inner_code: &'static str) -> Self {
        self.inner_code = Some(inner_code);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub fn invalid_query(message: impl Into<String>) -> Self {
        Self::bad_request(message).with_inner("invalidQueryOption")
    }

    pub fn not_supported(message: impl Into<String>) -> Self {
        Self::bad_request(message).with_inner("notSupported")
    }

    pub fn segment_not_found(segment: &str) -> Self {
        Self::bad_request(format!("Resource not found for the segment '{segment}'."))
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", message).with_inner("accessDenied")
    }

    pub fn not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "itemNotFound",
            format!("The userSecurityProfile with id '{id}' was not found."),
        )
    }

    pub fn method_not_allowed(allowed: &[http::Method]) -> Self {
        let mut e = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        );
        e.allow = Some(allowed.iter().map(http::Method::as_str).collect::<Vec<_>>().join(", ").into());
        e
    }

    pub fn conflict(id: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "nameAlreadyExists",
            format!("A userSecurityProfile with id '{id}' already exists."),
        )
    }

    pub fn precondition_failed() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "resourceModified",
            "The resource has changed since it was read: the If-Match header does not match its current ETag.",
        )
        .with_inner("entityTagDoesNotMatch")
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BadRequest",
            format!("The request body is larger than the limit of {limit} bytes."),
        )
        .with_inner("requestEntityTooLarge")
    }

    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "BadRequest", message).with_inner("unsupportedMediaType")
    }

    pub fn too_many_requests(retry_after_seconds: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Too many requests. Please retry after the time in the Retry-After header.",
        )
        .with_inner("throttledRequest");
        e.retry_after = Some(retry_after_seconds);
        e
    }

    pub fn uri_too_long(limit: usize) -> Self {
        Self::new(
            StatusCode::URI_TOO_LONG,
            "BadRequest",
            format!("The request URL is longer than the limit of {limit} bytes."),
        )
        .with_inner("requestUriTooLong")
    }

    pub fn headers_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "BadRequest",
            format!("The request headers are larger than the limit of {limit} bytes."),
        )
        .with_inner("requestHeadersTooLarge")
    }

    pub fn request_timeout(limit: std::time::Duration) -> Self {
        let mut e = Self::unavailable(format!("The request did not complete within {} s.", limit.as_secs()))
            .with_inner("requestTimeout");
        e.retry_after = Some(1);
        e
    }

    pub fn failed_dependency() -> Self {
        Self::new(StatusCode::FAILED_DEPENDENCY, "FailedDependency", "A request this one depends on did not succeed.")
    }

    pub fn gateway_timeout() -> Self {
        Self::new(StatusCode::GATEWAY_TIMEOUT, "GatewayTimeout", "The request timed out upstream.").with_retry_after(1)
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Notes what went wrong inside the server; the request's log line carries it.
    pub fn caused_by(mut self, cause: impl std::fmt::Display) -> Self {
        self.cause = Some(cause.to_string().into());
        self
    }

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "generalException", "An internal server error occurred.")
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "serviceNotAvailable", message)
    }

    /// Graph's error JSON for this error, as seen by the request `ctx`.
    pub fn body(&self, ctx: &RequestContext) -> String {
        let mut inner = serde_json::Map::new();
        if let Some(code) = self.inner_code {
            inner.insert("code".into(), code.into());
        }
        inner.insert("date".into(), crate::domain::datetime::now()[..19].to_string().into());
        inner.insert("request-id".into(), ctx.request_id.clone().into());
        inner.insert("client-request-id".into(), ctx.client_request_id.clone().into());
        serde_json::json!({
            "error": { "code": self.code, "message": self.message, "innerError": inner }
        })
        .to_string()
    }

    /// The status line and headers of this error, with its body left to [`GraphError::render`].
    fn head(&self) -> Response {
        let mut response = (self.status, [(header::CONTENT_TYPE, "application/json")]).into_response();
        if let Some(allow) = self.allow.as_deref().and_then(|a| HeaderValue::from_str(a).ok()) {
            response.headers_mut().insert(header::ALLOW, allow);
        }
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"graphsec\", error=\"invalid_token\""),
            );
        }
        response
    }

    /// The whole error response; the request-id headers are added by the request layer.
    pub fn render(&self, ctx: &RequestContext) -> Response {
        let mut response = self.head();
        response.headers_mut().remove(header::CONTENT_LENGTH);
        *response.body_mut() = Body::from(self.body(ctx));
        response.extensions_mut().insert(super::render::CanonicalJson);
        response
    }
}

/// A handler or extractor answers with the error; the request layer
/// ([`super::observe`]), which knows the request's ids, renders its body.
impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let mut response = self.head();
        response.extensions_mut().insert(self);
        response
    }
}

impl From<crate::store::StoreError> for GraphError {
    fn from(e: crate::store::StoreError) -> Self {
        let cause = e.to_string();
        let error = match e {
            crate::store::StoreError::Closed => GraphError::unavailable("The service is shutting down."),
            crate::store::StoreError::DiskFull => GraphError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "insufficientStorage",
                "The server's disk is full; nothing was written. Retry once space has been freed.",
            ),
            crate::store::StoreError::Busy => {
                GraphError::unavailable("The database is busy: a lock is held elsewhere. Retry shortly.")
                    .with_retry_after(1)
            }
            crate::store::StoreError::Unavailable(_) => {
                GraphError::unavailable("The database is not available right now; retry shortly.").with_retry_after(1)
            }
            crate::store::StoreError::OutcomeUnknown(_) => GraphError::unavailable(
                "The connection to the database was lost while the write was being committed, so it may or may not \
                 have been stored; read the resource before writing it again.",
            )
            .with_retry_after(1),
            crate::store::StoreError::Failed(_) => GraphError::unavailable(
                "The server cannot store writes until it is restarted (see its log); reads still work.",
            )
            .with_retry_after(30),
            crate::store::StoreError::QueryTimeout(_) => GraphError::bad_request(
                "The query ran too long and was stopped; use a more selective $filter or a smaller $top.",
            )
            .with_inner("queryTooExpensive"),
            _ => GraphError::internal(),
        };
        error.caused_by(cause)
    }
}
