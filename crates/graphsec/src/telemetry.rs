//! Prometheus metrics on a listener of their own (`--metrics-listen`), so scraping never competes
//! with the API port and the API never exposes internals.
//!
//! Recorded: `graphsec_requests_total` and `graphsec_request_duration_seconds` by operation and
//! status, `graphsec_store_duration_seconds` by operation, `graphsec_writer_queue_depth`,
//! `graphsec_group_commit_size`, `graphsec_throttled_total`, `graphsec_response_memory_bytes`.
//! Without `--metrics-listen` no recorder is installed and every recording is a no-op.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once and returns its handle.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let buckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)?
        .set_buckets_for_metric(
            Matcher::Full("graphsec_group_commit_size".into()),
            &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
        )?
        .build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        anyhow::bail!("a metrics recorder is already installed");
    }
    let _ = HANDLE.set(handle.clone());
    Ok(handle)
}

/// Whether a recorder is installed (skips label work when nobody scrapes).
pub fn enabled() -> bool {
    HANDLE.get().is_some()
}

/// Serves `GET /metrics` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    handle: PrometheusHandle,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let router = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let handle = handle.clone();
            async move {
                handle.run_upkeep();
                ([(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render())
            }
        }),
    );
    if let Err(e) = axum::serve(listener, router).with_graceful_shutdown(shutdown).await {
        tracing::warn!(error = %e, "metrics listener stopped");
    }
}

/// The operation a request addresses, as a low-cardinality label.
pub fn operation(method: &http::Method, path: &str) -> &'static str {
    use crate::api::route::{self, Route};
    match (route::parse(path), method.as_str()) {
        (Ok(Route::Collection), "GET") => "list",
        (Ok(Route::Collection), "POST") => "create",
        (Ok(Route::Item(_)), "GET") => "get",
        (Ok(Route::Item(_)), "PATCH") => "update",
        (Ok(Route::Item(_)), "DELETE") => "delete",
        (Ok(Route::Count), _) => "count",
        (Ok(Route::Batch), _) => "batch",
        (Ok(Route::Metadata | Route::ServiceDocument | Route::Security), _) => "metadata",
        _ if path == "/healthz" || path == "/readyz" => "health",
        _ => "other",
    }
}
