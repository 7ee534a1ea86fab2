//! The connection loop: plain or TLS sockets, a cap on open connections, slow-loris protection
//! (header read timeout), bounded header sizes, and a graceful shutdown that lets in-flight
//! requests finish.

use crate::api::error::GraphError;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    /// hyper's read buffer, which bounds the request line and headers together.
    pub max_header_bytes: usize,
    /// How long a shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
}

pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).max_buf_size(limits.max_header_bytes);
    let http = Arc::new(http);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, max = limits.max_connections, "connection refused: too many open connections");
            tokio::spawn(refuse_overloaded(stream));
            continue;
        };
        // The peer's address decides whether its forwarded headers are believed.
        let service = TowerToHyperService::new(router.clone().map_request(move |mut request: http::Request<_>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        }));
        let (http, watcher, tls, timeout) = (http.clone(), graceful.watcher(), tls.clone(), limits.header_read_timeout);
        tokio::spawn(async move {
            let _slot = slot;
            match tls {
                None => {
                    let _ = watcher.watch(http.serve_connection(TokioIo::new(stream), service)).await;
                }
                Some(_) if speaks_plain_http(&stream, timeout).await => {
                    tracing::debug!(%peer, "plain HTTP sent to the HTTPS port");
                    refuse_plain_http(stream).await;
                }
                Some(acceptor) => match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => {
                        let _ = watcher.watch(http.serve_connection(TokioIo::new(stream), service)).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                },
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("in-flight requests did not finish within the shutdown grace period");
    }
}

/// Whether a client on the HTTPS port began with a plain HTTP request line instead of a TLS
/// handshake (whose first byte is 0x16).
async fn speaks_plain_http(stream: &tokio::net::TcpStream, within: Duration) -> bool {
    let mut first = [0u8; 1];
    matches!(tokio::time::timeout(within, stream.peek(&mut first)).await, Ok(Ok(1)) if first[0].is_ascii_uppercase())
}

/// Tells a plain HTTP client, in plain HTTP, to use https://, then closes.
async fn refuse_plain_http(mut stream: tokio::net::TcpStream) {
    let body = "This port speaks HTTPS: use https:// instead of http://.\n";
    let response = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.write_all(response.as_bytes())).await;
    let _ = stream.shutdown().await;
}

/// Over the connection cap: one short Graph error, then close.
async fn refuse_overloaded<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let ctx = crate::api::context::RequestContext::new(&http::HeaderMap::new(), "http://localhost");
    let body = GraphError::unavailable("The server has too many open connections; retry shortly.").body(&ctx);
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nrequest-id: {id}\r\nclient-request-id: {id}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len(),
        id = ctx.request_id,
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.write_all(response.as_bytes())).await;
    let _ = stream.shutdown().await;
}
