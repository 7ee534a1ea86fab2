//! The HTTP surface. [`router`] builds it: the request layer ([`observe`]) around Graph's path
//! rules ([`normalize`]) around a route table whose handlers take what they need through
//! extractors ([`extract`]).

pub mod batch;
pub mod body;
pub mod budget;
pub mod chaos;
pub mod console;
pub mod context;
pub mod control;
pub mod cors;
mod envelope;
pub mod error;
pub mod extract;
pub mod history;
pub mod journal;
pub mod normalize;
pub(crate) mod observe;
pub mod openapi;
mod openapi_control;
mod openapi_history;
pub mod page;
pub mod prefer;
pub mod profiles;
pub mod public_url;
pub mod query;
pub mod render;
pub mod route;
pub mod service;
pub mod throttle;

use crate::app::AppState;
use axum::Router;
use axum::routing::{MethodRouter, get, post};
use error::GraphError;
use route::Route;
use std::sync::Arc;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::SizeAbove;

/// The whole API as one service: every request, and each item of a `$batch`, passes through the
/// same layers and route table. Answers are gzip-compressed for clients that accept it, as
/// Graph's are; a `$batch` item's answer is compressed with its batch's.
pub fn router(state: Arc<AppState>) -> Router {
    let items = Router::new().fallback_service(layered(state.clone(), routes(None)));
    // Compression wraps the one service directly: as a router layer it would box the service
    // and its future once more on every request.
    Router::new().fallback_service(tower::Layer::layer(&compression(), layered(state, routes(Some(items)))))
}

/// Below a kilobyte, compressing costs more time than the bytes it saves; the fastest level
/// keeps the cost per answer small while still shrinking JSON several times.
fn compression() -> CompressionLayer<SizeAbove> {
    CompressionLayer::new()
        .no_br()
        .no_deflate()
        .no_zstd()
        .quality(tower_http::CompressionLevel::Fastest)
        .compress_when(SizeAbove::new(1024))
}

/// `$batch` items run through `batch_items`; a router for items has no `$batch` (a batch cannot
/// hold another).
fn routes(batch_items: Option<Router>) -> Router<Arc<AppState>> {
    let mut table = Router::new()
        .route(route::HEALTHZ, plain(get(service::healthz)))
        .route(route::READYZ, plain(get(service::readyz)))
        .route(route::OPENAPI, plain(get(service::openapi)))
        .route(route::SERVICE_ROOT, resource(&Route::ServiceDocument, get(service::service_document)))
        .route(route::METADATA, resource(&Route::Metadata, get(service::metadata)))
        .route(route::SECURITY, resource(&Route::Security, get(service::security)))
        .route(route::COLLECTION_PATH, resource(&Route::Collection, get(profiles::list).post(profiles::create)))
        .route(route::COUNT, resource(&Route::Count, get(profiles::count)))
        .route(
            route::ITEM,
            resource(&Route::Item(String::new()), get(profiles::get).patch(profiles::update).delete(profiles::delete)),
        );
    if let Some(items) = batch_items {
        let run = post(batch::run).layer(axum::Extension(batch::ItemService(items)));
        table = table
            .route(route::BATCH, resource(&Route::Batch, run))
            .route(control::RESET, refuse_others(post(control::reset), &[http::Method::POST]))
            .route(control::SEED, refuse_others(post(control::seed), &[http::Method::POST]))
            .route(control::TOKENS, refuse_others(post(control::tokens), &[http::Method::POST]))
            .route(
                control::REQUESTS,
                refuse_others(
                    get(control::requests).delete(control::clear_requests),
                    &[http::Method::GET, http::Method::DELETE],
                ),
            )
            .route(history::HISTORY, refuse_others(get(history::history), &[http::Method::GET]))
            .route(console::ROOT, plain(get(console::index)))
            .route(console::HOME, plain(get(console::index)))
            .route(console::HOME_SLASH, plain(get(console::index)))
            .route(console::FILES, plain(get(console::file)))
            .route(control::OTHER, axum::routing::any(control::unknown))
            .route(control::PREFIX_ALONE, axum::routing::any(control::unknown));
    }
    table.fallback(|| async { GraphError::internal() })
}

/// A resource answers 405, with `Allow`, to any method it does not list (`HEAD` included,
/// which axum would otherwise serve as a body-less `GET`).
fn resource(route: &Route, methods: MethodRouter<Arc<AppState>>) -> MethodRouter<Arc<AppState>> {
    refuse_others(methods, route.methods())
}

/// The operator's endpoints answer `GET` only.
fn plain(methods: MethodRouter<Arc<AppState>>) -> MethodRouter<Arc<AppState>> {
    refuse_others(methods, &[http::Method::GET])
}

fn refuse_others(
    methods: MethodRouter<Arc<AppState>>,
    allowed: &'static [http::Method],
) -> MethodRouter<Arc<AppState>> {
    let refuse = move || async move { GraphError::method_not_allowed(allowed) };
    methods.on(axum::routing::MethodFilter::HEAD, refuse).fallback(refuse)
}

/// The layers every request passes ([`observe::Layered`]): the request layer around a panic
/// guard around Graph's path rules, in front of the route table.
fn layered(state: Arc<AppState>, routes: Router<Arc<AppState>>) -> observe::Layered {
    let table = routes.with_state(state.clone());
    observe::Layered { app: state, table }
}
