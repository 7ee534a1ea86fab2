//! The resources around the profiles: the OData service document, `$metadata`, the `security`
//! singleton, and the operator's `/healthz`, `/readyz` and `/openapi.json`.

use super::context::RequestContext;
use super::error::GraphError;
use super::extract::Caller;
use super::render;
use crate::app::AppState;
use crate::store::StoreError;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use std::sync::Arc;

pub async fn service_document(ctx: RequestContext) -> Response {
    let body = serde_json::json!({
        "@odata.context": format!("{}/$metadata", ctx.service_root),
        "value": [{"name": "security", "kind": "Singleton", "url": "security"}]
    });
    render::odata_response(StatusCode::OK, body.to_string())
}

pub async fn metadata() -> Response {
    let mut response = (StatusCode::OK, crate::domain::members::csdl()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml;charset=utf-8"));
    response.headers_mut().insert(render::ODATA_VERSION, HeaderValue::from_static("4.0"));
    response
}

/// The singleton is only a path to its collections; reading it needs a caller let in.
pub async fn security(ctx: RequestContext, _: Caller) -> Response {
    let body = serde_json::json!({ "@odata.context": format!("{}/$metadata#security/$entity", ctx.service_root) });
    render::odata_response(StatusCode::OK, body.to_string())
}

pub async fn healthz() -> Response {
    (StatusCode::OK, "ok").into_response()
}

pub async fn readyz(State(app): State<Arc<AppState>>) -> Result<Response, GraphError> {
    match app.store.ping().await {
        Ok(()) => Ok((StatusCode::OK, "ready").into_response()),
        Err(StoreError::Failed(reason)) => {
            Err(GraphError::unavailable(format!("Writes cannot be stored until graphsec is restarted: {reason}")))
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(GraphError::unavailable("The database is not answering."))
        }
    }
}

pub async fn openapi() -> Response {
    let mut response = (StatusCode::OK, super::openapi::document().to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
