//! Graph's path rules in front of the route table: the request-target's size limits, then the
//! path (case-insensitive segments, `('id')` keys, `%24`-encoded `$`) rewritten to the one
//! spelling the table knows, or refused as an unknown segment.

use super::error::GraphError;
use super::route;
use crate::app::AppState;
use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::Method;
use http::uri::{PathAndQuery, Uri};
use tower::ServiceExt;

/// Answers `request` from the route `table`, once its path is in the table's spelling.
pub(crate) async fn normalize(app: &AppState, table: Router, request: Request) -> Response {
    // The test-control API and the console are graphsec's own, outside Graph's path rules.
    let request = if route::PLAIN_PATHS.contains(&request.uri().path())
        || request.uri().path().starts_with(super::journal::CONTROL_PREFIX)
        || super::console::is_console_path(request.uri().path())
    {
        request
    } else {
        match canonical(app, request).await {
            Ok(request) => request,
            Err(error) => return error.into_response(),
        }
    };
    match table.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

async fn canonical(app: &AppState, request: Request) -> Result<Request, GraphError> {
    let target_len = request.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target_len > app.max_url_bytes {
        return Err(GraphError::uri_too_long(app.max_url_bytes));
    }
    let header_bytes: usize = request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    if header_bytes > app.max_header_bytes {
        return Err(GraphError::headers_too_large(app.max_header_bytes));
    }
    let route = route::parse(request.uri().path()).map_err(|s| GraphError::segment_not_found(&s.0))?;
    let (mut parts, mut body) = request.into_parts();
    if !matches!(parts.method, Method::POST | Method::PATCH) {
        // A body nobody reads would be left on the socket, and closing over unread bytes makes
        // the kernel reset the connection and cut off the answer.
        super::body::discard(std::mem::take(&mut body), app.max_body_bytes).await;
    }
    if route.is_canonical(parts.uri.path()) {
        return Ok(Request::from_parts(parts, body));
    }
    let path_and_query = match parts.uri.query() {
        Some(query) => format!("{}?{query}", route.canonical_path()),
        None => route.canonical_path(),
    };
    let mut uri = parts.uri.into_parts();
    uri.path_and_query = Some(PathAndQuery::try_from(path_and_query).map_err(|_| GraphError::internal())?);
    parts.uri = Uri::from_parts(uri).map_err(|_| GraphError::internal())?;
    Ok(Request::from_parts(parts, body))
}
