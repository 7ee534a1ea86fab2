//! The test-control API under `/_graphsec/`, a path Graph never uses (docs/emulator.md): reset the
//! data, seed profiles, read the request journal, mint tokens. With `--auth off` anyone may call
//! it; with local authentication only an admin token of the local key (`graphsec token --admin`,
//! or the token an `--in-memory` server prints), never an external issuer's token.

use super::error::GraphError;
use super::journal::Journal;
use crate::app::AppState;
use crate::auth::local::TokenRequest;
use axum::extract::{FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

pub const RESET: &str = "/_graphsec/reset";
pub const SEED: &str = "/_graphsec/seed";
pub const REQUESTS: &str = "/_graphsec/requests";
pub const TOKENS: &str = "/_graphsec/tokens";
/// Any other path under the prefix, and the prefix alone.
pub const OTHER: &str = "/_graphsec/{*rest}";
pub const PREFIX_ALONE: &str = "/_graphsec/";

/// Most profiles one `POST /_graphsec/seed?generate=N` makes: they are built in memory first.
pub const MAX_GENERATE: u64 = 10_000;
/// Longest lifetime of a minted token.
pub const MAX_TTL_SECONDS: u64 = 365 * 86_400;
/// Longest tenant or subject of a minted token.
const MAX_CLAIM_CHARS: usize = 256;
/// Profiles per transaction when seeding.
const SEED_BATCH: usize = 5_000;

/// A caller allowed to use the test-control API. Not throttled and never disturbed by chaos
/// mode: a test suite resets and inspects the emulator whatever load it puts on the API.
pub struct Admin;

impl FromRequestParts<Arc<AppState>> for Admin {
    type Rejection = GraphError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<AppState>) -> Result<Self, GraphError> {
        let principal = super::extract::authenticate(app, &parts.headers).await?;
        if !principal.admin {
            return Err(GraphError::forbidden(
                "The test-control API needs an admin token of this server (graphsec token --admin).",
            ));
        }
        Ok(Admin)
    }
}

/// `POST /_graphsec/reset[?tenant=T]`: deletes every profile and audit entry (or the tenant's) in
/// one transaction, and the journal's entries (or the tenant's).
pub async fn reset(_: Admin, State(app): State<Arc<AppState>>, request: Request) -> Result<Response, GraphError> {
    let mut params = Params::parse(request.uri().query(), &["tenant"])?;
    let tenant = params.take("tenant");
    let profiles = app.store.reset(tenant.as_deref()).await?;
    if let Some(journal) = &app.journal {
        journal.clear(tenant.as_deref());
    }
    Ok(json_response(json!({"deletedProfiles": profiles})))
}

/// `POST /_graphsec/seed`: profiles from an NDJSON body (as `graphsec import` takes), or made up
/// with `?generate=N[&tenant=T&seed=S&domain=D]` (as `graphsec generate` makes them).
pub async fn seed(_: Admin, State(app): State<Arc<AppState>>, request: Request) -> Result<Response, GraphError> {
    let mut params = Params::parse(request.uri().query(), &["generate", "tenant", "seed", "domain"])?;
    let tenant = params.take("tenant").unwrap_or_else(|| app.default_tenant.clone());
    let (parts, body) = request.into_parts();
    let body = super::body::read(&parts.headers, body, app.max_body_bytes).await?;
    let lines = match params.take("generate") {
        Some(count) => {
            if !body.is_empty() {
                return Err(GraphError::bad_request("Send either a body or ?generate=N, not both."));
            }
            let count = params.number("generate", &count, 1..=MAX_GENERATE)?;
            generated(count, &tenant, &mut params)?
        }
        None if params.has_any() => {
            return Err(GraphError::bad_request("seed and domain go with ?generate=N."));
        }
        None if body.is_empty() => {
            return Err(GraphError::bad_request("Send newline-delimited JSON profiles, or ?generate=N."));
        }
        None => body,
    };
    let report =
        crate::import::load(&app.store, std::io::Cursor::new(lines), &tenant, SEED_BATCH).await.map_err(|e| {
            match e.downcast::<crate::store::StoreError>() {
                Ok(store) => GraphError::from(store),
                Err(e) if e.downcast_ref::<crate::import::InvalidLine>().is_some() => {
                    GraphError::bad_request(e.to_string())
                }
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "seeding failed");
                    GraphError::internal()
                }
            }
        })?;
    Ok(json_response(json!({"inserted": report.inserted, "skipped": report.skipped})))
}

/// `graphsec generate`'s lines for `?generate=N`.
fn generated(count: u64, tenant: &str, params: &mut Params) -> Result<bytes::Bytes, GraphError> {
    let seed = match params.take("seed") {
        Some(seed) => params.number("seed", &seed, 0..=u64::MAX)?,
        None => 0,
    };
    let domain = params.take("domain").unwrap_or_else(|| "contoso.com".into());
    if domain.is_empty() || domain.len() > MAX_CLAIM_CHARS {
        return Err(GraphError::bad_request("domain must be a domain name."));
    }
    let args = crate::config::GenerateArgs {
        count,
        tenant: tenant.to_string(),
        domain,
        seed,
        now: "2026-01-01T00:00:00Z".into(),
    };
    let mut lines = Vec::new();
    crate::generate::run(&args, &mut lines).map_err(|e| GraphError::bad_request(format!("{e:#}")))?;
    Ok(lines.into())
}

/// `GET /_graphsec/requests[?tenant=T&since=TIME]`: the journal, oldest first.
pub async fn requests(_: Admin, State(app): State<Arc<AppState>>, request: Request) -> Result<Response, GraphError> {
    let journal = enabled(&app)?;
    let mut params = Params::parse(request.uri().query(), &["tenant", "since"])?;
    let tenant = params.take("tenant");
    let since = params
        .take("since")
        .map(|since| crate::domain::datetime::normalize(&since))
        .transpose()
        .map_err(|e| GraphError::bad_request(format!("since: {e}")))?;
    // The copy and its JSON are counted in the response memory budget, so that concurrent reads
    // of a full journal wait for each other rather than multiply its size in memory.
    let mut reservation = app.budget.reserve(journal.size_bytes().saturating_mul(2)).await?;
    let entries = journal.entries(tenant.as_deref(), since.as_deref());
    let body = serde_json::to_vec(&JournalPage { value: &entries }).map_err(|_| GraphError::internal())?;
    drop(entries);
    if !reservation.try_resize(body.len())? {
        return Err(app.budget.busy());
    }
    let body = axum::body::Body::from(reservation.attach_rest(body));
    Ok(([(http::header::CONTENT_TYPE, "application/json")], body).into_response())
}

#[derive(serde::Serialize)]
struct JournalPage<'a> {
    value: &'a [super::journal::Entry],
}

/// `DELETE /_graphsec/requests`: empties the journal.
pub async fn clear_requests(
    _: Admin,
    State(app): State<Arc<AppState>>,
    request: Request,
) -> Result<Response, GraphError> {
    let journal = enabled(&app)?;
    Params::parse(request.uri().query(), &[])?;
    journal.clear(None);
    Ok(http::StatusCode::NO_CONTENT.into_response())
}

fn enabled(app: &AppState) -> Result<&Journal, GraphError> {
    app.journal.as_deref().ok_or_else(|| GraphError::bad_request("The request journal is off (--journal-size 0)."))
}

/// The body of `POST /_graphsec/tokens`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenOrder {
    tenant: String,
    /// Space-separated, or a list.
    #[serde(default)]
    scopes: Option<Scopes>,
    #[serde(default)]
    app: bool,
    /// Seconds, or a duration such as `30m`.
    #[serde(default)]
    ttl: Option<Ttl>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    admin: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Scopes {
    Text(String),
    List(Vec<String>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Ttl {
    Seconds(u64),
    Text(String),
}

/// `POST /_graphsec/tokens`: a token of the local key.
pub async fn tokens(_: Admin, State(app): State<Arc<AppState>>, request: Request) -> Result<Response, GraphError> {
    Params::parse(request.uri().query(), &[])?;
    let (parts, body) = request.into_parts();
    let body = super::body::read_json(&parts.headers, body, app.max_body_bytes).await?;
    let order: TokenOrder =
        serde_json::from_slice(&body).map_err(|e| GraphError::bad_request(format!("Invalid token request: {e}")))?;
    let ttl = match order.ttl {
        None => 3600,
        Some(Ttl::Seconds(seconds)) => seconds,
        Some(Ttl::Text(text)) => crate::config::parse_duration_seconds(&text).map_err(GraphError::bad_request)?,
    };
    if !(1..=MAX_TTL_SECONDS).contains(&ttl) {
        return Err(GraphError::bad_request(format!("ttl must be from 1 second to {MAX_TTL_SECONDS} seconds.")));
    }
    let subject = order.subject.unwrap_or_else(|| "graphsec-control".into());
    for (name, value) in [("tenant", &order.tenant), ("subject", &subject)] {
        if value.trim().is_empty() || value.chars().count() > MAX_CLAIM_CHARS {
            return Err(GraphError::bad_request(format!("{name} must be 1 to {MAX_CLAIM_CHARS} characters.")));
        }
    }
    let permissions = match order.scopes {
        None => vec![crate::auth::READ_WRITE_ALL.to_string()],
        Some(Scopes::Text(text)) => text.split_whitespace().map(String::from).collect(),
        Some(Scopes::List(list)) => list,
    };
    let token = app
        .token_key
        .mint(&TokenRequest {
            tenant: order.tenant,
            permissions,
            app: order.app,
            subject,
            ttl_seconds: ttl,
            admin: order.admin,
        })
        .map_err(|e| {
            tracing::error!(error = %e, "minting a token failed");
            GraphError::internal()
        })?;
    Ok(json_response(json!({"token": token, "tokenType": "Bearer", "expiresIn": ttl})))
}

fn json_response(value: serde_json::Value) -> Response {
    ([(http::header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}

/// Any other path under `/_graphsec/`, the prefix alone included.
pub async fn unknown(request: Request) -> GraphError {
    let rest = request.uri().path().trim_start_matches(super::journal::CONTROL_PREFIX);
    GraphError::segment_not_found(rest.split('/').next().filter(|s| !s.is_empty()).unwrap_or("_graphsec"))
}

/// A control call's query parameters: each known name at most once, no others.
struct Params(HashMap<String, String>);

impl Params {
    fn parse(query: Option<&str>, known: &[&str]) -> Result<Params, GraphError> {
        let mut params = HashMap::new();
        for pair in query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (name, value) = (decode(name)?, decode(value)?);
            if !known.contains(&name.as_str()) {
                return Err(GraphError::bad_request(format!("Unknown query parameter '{name}'.")));
            }
            if params.insert(name.clone(), value).is_some() {
                return Err(GraphError::bad_request(format!("The query parameter '{name}' is given twice.")));
            }
        }
        Ok(Params(params))
    }

    fn take(&mut self, name: &str) -> Option<String> {
        self.0.remove(name)
    }

    fn has_any(&self) -> bool {
        !self.0.is_empty()
    }

    fn number(&self, name: &str, text: &str, range: std::ops::RangeInclusive<u64>) -> Result<u64, GraphError> {
        text.parse::<u64>().ok().filter(|n| range.contains(n)).ok_or_else(|| {
            GraphError::bad_request(format!("{name} must be a whole number from {} to {}.", range.start(), range.end()))
        })
    }
}

fn decode(text: &str) -> Result<String, GraphError> {
    let text = text.replace('+', " ");
    percent_encoding::percent_decode_str(&text)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| GraphError::bad_request("The query string is not valid UTF-8."))
}
