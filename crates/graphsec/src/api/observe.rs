//! The outermost layer of every request, `$batch` items included: it answers browsers'
//! preflights, gives the request its ids, bounds it in time, renders a [`GraphError`] into
//! Graph's error body, adds the headers every answer carries (CORS ones included), and records
//! the answer in the log and the metrics.

use super::context::{CallerTenant, RequestContext};
use super::cors;
use super::error::GraphError;
use crate::app::AppState;
use crate::store::gate::WriteGate;
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use http::HeaderValue;
use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tracing::{Instrument, Level};

/// The request layer, Graph's path rules and the panic guard as one service in front of the
/// route table: stacked middleware would box a future, clone and box the service below, and
/// move the request once per layer, on every request.
#[derive(Clone)]
pub(crate) struct Layered {
    pub(crate) app: Arc<AppState>,
    pub(crate) table: Router,
}

impl tower::Service<Request> for Layered {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The route table is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let (app, table) = (self.app.clone(), self.table.clone());
        Box::pin(async move { Ok(observe(app, table, request).await) })
    }
}

/// A panic in the `handling` of a request is answered 500; the request layer, outside the
/// guard, still gives the answer its ids and its log line.
async fn guarded(handling: impl Future<Output = Response>) -> Response {
    match AssertUnwindSafe(handling).catch_unwind().await {
        Ok(response) => response,
        Err(panic) => panicked(&*panic),
    }
}

fn panicked(panic: &(dyn Any + Send)) -> Response {
    let what = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message");
    GraphError::internal().caused_by(format_args!("the request handler panicked: {what}")).into_response()
}

/// What a `$batch` item takes from its batch: a deadline it must also meet, and the origin its
/// links point at.
#[derive(Debug, Clone)]
pub(crate) struct Enclosing {
    pub deadline: tokio::time::Instant,
    pub origin: String,
}

async fn observe(app: Arc<AppState>, table: Router, mut request: Request) -> Response {
    let cors = app.cors.as_deref().and_then(|origins| Some((origins, cors::allowed_origin(origins, &request)?)));
    if let Some((origins, allowed)) = &cors
        && cors::is_preflight(&request)
    {
        return cors::preflight(allowed.clone(), origins);
    }
    let enclosing = request.extensions_mut().remove::<Enclosing>();
    let ctx = match &enclosing {
        Some(enclosing) => RequestContext::new(request.headers(), &enclosing.origin),
        None => {
            let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| peer.ip());
            RequestContext::with_service_root(
                request.headers(),
                app.public_url.service_root(request.headers(), peer, app.tls),
            )
        }
    };
    // A span per request is only kept for debugging: at `info` the request's one log line says
    // all, and failures are told on that line.
    let span = tracing::debug_span!("request", request_id = %ctx.request_id, tenant = tracing::field::Empty);
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let mut deadline = tokio::time::Instant::now() + app.request_timeout;
    if let Some(enclosing) = enclosing {
        deadline = deadline.min(enclosing.deadline);
    }
    let tenant = CallerTenant::default();
    request.extensions_mut().insert(tenant.clone());
    request.extensions_mut().insert(ctx.clone());
    let recording =
        app.journal.as_ref().and_then(|_| super::journal::Recording::start(&mut request, &ctx.request_id, &tenant));
    let (mut response, error) =
        match within_deadline(deadline, guarded(super::normalize::normalize(&app, table, request)).instrument(span))
            .await
        {
            Some(mut response) => {
                let error = response.extensions_mut().remove::<GraphError>();
                (response, error)
            }
            None => {
                let timeout = GraphError::request_timeout(app.request_timeout)
                    .caused_by(format_args!("no answer within {:?}", app.request_timeout));
                (Response::default(), Some(timeout))
            }
        };
    if let Some(error) = &error {
        response = error.render(&ctx);
    }
    add_request_ids(response.headers_mut(), &ctx);
    add_standard_headers(response.headers_mut(), app.tls);
    if let Some((origins, allowed)) = cors {
        cors::expose(response.headers_mut(), allowed, origins);
    }
    let answered = Answered { method: &method, path: &path, status: response.status(), started };
    answered.count();
    answered.log(&ctx, tenant.get(), error.as_ref().and_then(|e| e.cause.as_deref()));
    if let (Some(journal), Some(recording)) = (&app.journal, recording) {
        recording.finish(journal, response.status());
    }
    response
}

/// What Graph sends on every answer: no caching by clients or proxies (answers depend on the
/// caller's token), and over TLS the instruction to keep using it.
fn add_standard_headers(headers: &mut http::HeaderMap, tls: bool) {
    headers.entry(http::header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-cache"));
    if tls {
        headers.insert(http::header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
}

/// What the log and the metrics say of an answered request.
struct Answered<'a> {
    method: &'a http::Method,
    path: &'a str,
    status: http::StatusCode,
    started: Instant,
}

impl Answered<'_> {
    fn count(&self) {
        if crate::telemetry::enabled() {
            let operation = crate::telemetry::operation(self.method, self.path);
            let status = self.status.as_str().to_string();
            metrics::counter!("graphsec_requests_total", "operation" => operation, "status" => status.clone())
                .increment(1);
            metrics::histogram!("graphsec_request_duration_seconds", "operation" => operation, "status" => status)
                .record(self.started.elapsed().as_secs_f64());
        }
    }

    /// The request's line: at `info`, or, when the server failed it, at `error` (a 500) or
    /// `warn` (any other 5xx), with what went wrong.
    fn log(&self, ctx: &RequestContext, tenant: Option<&str>, cause: Option<&str>) {
        let micros = self.started.elapsed().as_micros() as u64;
        macro_rules! line {
            ($level:expr) => {
                tracing::event!(
                    $level,
                    request_id = %ctx.request_id,
                    tenant,
                    method = %self.method,
                    path = %self.path,
                    status = self.status.as_u16(),
                    micros,
                    error = cause,
                    "handled"
                )
            };
        }
        match self.status {
            http::StatusCode::INTERNAL_SERVER_ERROR => line!(Level::ERROR),
            status if status.is_server_error() => line!(Level::WARN),
            _ => line!(Level::INFO),
        }
    }
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

pub(crate) fn add_request_ids(headers: &mut http::HeaderMap, ctx: &RequestContext) {
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
        headers.insert(super::context::REQUEST_ID, v);
    }
    if let Ok(v) = HeaderValue::from_str(&ctx.client_request_id) {
        headers.insert(super::context::CLIENT_REQUEST_ID, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_is_answered_500_with_what_it_said() {
        let answered = |response: Response| {
            let error = response.extensions().get::<GraphError>().expect("the error, for the request layer to render");
            (response.status(), error.cause.clone())
        };
        let (status, cause) = answered(guarded(async { panic!("boom {}", 7) }).await);
        assert_eq!(status, http::StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(cause.as_deref(), Some("the request handler panicked: boom 7"));
        let (_, cause) = answered(guarded(async { std::panic::panic_any(3u8) }).await);
        assert_eq!(cause.as_deref(), Some("the request handler panicked: no message"));
        let fine = guarded(async { http::StatusCode::NO_CONTENT.into_response() }).await;
        assert_eq!(fine.status(), http::StatusCode::NO_CONTENT);
    }
}
