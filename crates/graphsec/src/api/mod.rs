//! The HTTP surface: one entry point that routes, authenticates and dispatches every request.

pub mod batch;
pub mod body;
pub mod budget;
pub mod chaos;
pub mod context;
mod envelope;
pub mod error;
pub mod openapi;
pub mod page;
pub mod prefer;
pub mod profiles;
pub mod query;
pub mod render;
pub mod route;
pub mod throttle;

use crate::app::{AppState, AuthMode};
use crate::auth::{self, Principal};
use crate::store::gate::WriteGate;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use context::RequestContext;
use error::GraphError;
use http::{HeaderValue, Method, StatusCode, header};
use route::Route;
use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument;

/// Every request enters here: it gets a request-id, a log span, Graph error rendering and the
/// request-id headers on the way out.
pub async fn handle(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let ctx = RequestContext::new(request.headers(), app.tls);
    let span = tracing::info_span!("request", request_id = %ctx.request_id);
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let deadline = tokio::time::Instant::now() + app.request_timeout;
    let outcome = within_deadline(deadline, dispatch(&app, &ctx, request).instrument(span.clone())).await;
    let mut response = match outcome {
        Some(Ok(response)) => response,
        Some(Err(error)) => error.render(&ctx),
        None => {
            span.in_scope(|| tracing::warn!(timeout = ?app.request_timeout, "request timed out"));
            GraphError::request_timeout(app.request_timeout).render(&ctx)
        }
    };
    add_request_ids(response.headers_mut(), &ctx);
    if crate::telemetry::enabled() {
        let operation = crate::telemetry::operation(&method, &path);
        let status = response.status().as_str().to_string();
        metrics::counter!("graphsec_requests_total", "operation" => operation, "status" => status.clone()).increment(1);
        metrics::histogram!("graphsec_request_duration_seconds", "operation" => operation, "status" => status)
            .record(started.elapsed().as_secs_f64());
    }
    span.in_scope(|| {
        tracing::info!(
            %method,
            path = %path,
            status = response.status().as_u16(),
            micros = started.elapsed().as_micros() as u64,
            "handled"
        );
    });
    response
}

tokio::task_local! {
    /// The write gate of the request (or `$batch` item) being handled.
    static WRITE_GATE: Arc<WriteGate>;
}

/// The write gate of the request this task is handling, if any.
pub(crate) fn current_write_gate() -> Option<Arc<WriteGate>> {
    WRITE_GATE.try_with(Arc::clone).ok()
}

/// Runs the handling of one request (or `$batch` item) with a write gate of its own, until
/// `deadline`: `None` when the time ran out before any of its writes was taken up (none of them
/// will be made). Once one was, the handling runs to its end, so that the client is told the
/// outcome of what was written.
pub(crate) async fn within_deadline<T>(
    deadline: tokio::time::Instant,
    handling: impl std::future::Future<Output = T>,
) -> Option<T> {
    let gate = Arc::new(WriteGate::default());
    let handling = WRITE_GATE.scope(gate.clone(), handling);
    tokio::pin!(handling);
    match tokio::time::timeout_at(deadline, &mut handling).await {
        Ok(outcome) => Some(outcome),
        Err(_) if gate.abandon() => None,
        Err(_) => Some(handling.await),
    }
}

fn add_request_ids(headers: &mut http::HeaderMap, ctx: &RequestContext) {
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
        headers.insert("request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&ctx.client_request_id) {
        headers.insert("client-request-id", v);
    }
}

async fn dispatch(app: &Arc<AppState>, ctx: &RequestContext, request: Request) -> Result<Response, GraphError> {
    let path = request.uri().path();
    if matches!(path, "/healthz" | "/readyz" | "/openapi.json") && request.method() != Method::GET {
        return Err(GraphError::method_not_allowed(&[Method::GET]));
    }
    if path == "/healthz" {
        return Ok((StatusCode::OK, "ok").into_response());
    }
    if path == "/readyz" {
        return match app.store.ping().await {
            Ok(()) => Ok((StatusCode::OK, "ready").into_response()),
            Err(crate::store::StoreError::Failed(reason)) => {
                Err(GraphError::unavailable(format!("Writes cannot be stored until graphsec is restarted: {reason}")))
            }
            Err(e) => {
                tracing::warn!(error = %e, "readiness check failed");
                Err(GraphError::unavailable("The database is not answering."))
            }
        };
    }
    if path == "/openapi.json" {
        let mut response = (StatusCode::OK, openapi::document().to_string()).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return Ok(response);
    }
    let target_len = request.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target_len > app.max_url_bytes {
        return Err(GraphError::uri_too_long(app.max_url_bytes));
    }
    let header_bytes: usize = request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    if header_bytes > app.max_header_bytes {
        return Err(GraphError::headers_too_large(app.max_header_bytes));
    }
    let route = route::parse(path).map_err(|s| GraphError::segment_not_found(&s.0))?;
    let (parts, mut body) = request.into_parts();
    let method = parts.method;
    if !matches!(method, Method::POST | Method::PATCH) {
        // A body nobody reads would be left on the socket, and closing over unread bytes makes
        // the kernel reset the connection and cut off the answer.
        body::discard(std::mem::take(&mut body), app.max_body_bytes).await;
    }
    if !route.methods().contains(&method) {
        return Err(GraphError::method_not_allowed(route.methods()));
    }

    if route == Route::ServiceDocument {
        let body = serde_json::json!({
            "@odata.context": format!("{}/$metadata", ctx.service_root),
            "value": [{"name": "security", "kind": "Singleton", "url": "security"}]
        });
        return Ok(render::odata_response(StatusCode::OK, body.to_string()));
    }

    if route == Route::Metadata {
        let mut response = (StatusCode::OK, crate::domain::members::csdl()).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml;charset=utf-8"));
        response.headers_mut().insert("OData-Version", HeaderValue::from_static("4.0"));
        return Ok(response);
    }

    if let Some(chaos) = &app.chaos {
        chaos.disturb().await?;
    }
    let principal = authenticate(app, &parts.headers).await?;
    if route == Route::Batch {
        // Each item is authorised and throttled on its own; the batch itself only needs a token.
        return batch::run(app, &parts.headers, body).await;
    }
    if let Some(throttle) = &app.throttle {
        throttle.check(&principal)?;
    }
    let call = profiles::Call { app, ctx, principal: &principal, headers: &parts.headers, query: parts.uri.query() };
    match route {
        Route::Collection => match method {
            Method::GET => profiles::list(call).await,
            Method::POST => profiles::create(call, body).await,
            _ => Err(GraphError::method_not_allowed(&[Method::GET, Method::POST])),
        },
        Route::Count => profiles::count(call).await,
        Route::Item(id) => match method {
            Method::GET => profiles::get(call, &id).await,
            Method::PATCH => profiles::update(call, &id, body).await,
            Method::DELETE => profiles::delete(call, &id).await,
            _ => Err(GraphError::method_not_allowed(&[Method::GET, Method::PATCH, Method::DELETE])),
        },
        Route::Security => {
            let body =
                serde_json::json!({ "@odata.context": format!("{}/$metadata#security/$entity", ctx.service_root) });
            Ok(render::odata_response(StatusCode::OK, body.to_string()))
        }
        Route::ServiceDocument | Route::Metadata | Route::Batch => Err(GraphError::internal()),
    }
}

/// A configured external issuer's token is checked against that issuer only; any other token
/// must be one of the local key's.
async fn authenticate(app: &AppState, headers: &http::HeaderMap) -> Result<Principal, GraphError> {
    let AuthMode::Local { key, external } = &app.auth else {
        return Ok(Principal::unauthenticated_emulator());
    };
    let header = headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or(""));
    let token = auth::bearer_token(header).map_err(|e| GraphError::unauthenticated(e.0))?;
    if let Some(external) = external
        && let Some(principal) = external.verify(token).await.map_err(|e| GraphError::unauthenticated(e.0))?
    {
        return Ok(principal);
    }
    key.verify(token).map_err(|e| GraphError::unauthenticated(e.0))
}
