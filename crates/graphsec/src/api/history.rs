//! `GET /_graphsec/profiles/{id}/history`: one profile's audit trail, newest first, for the web
//! console and any other reader (docs/console.md §3). Unlike the rest of `/_graphsec/`, it needs
//! no admin token: a token that may read profiles reads the trail of its own tenant's profiles.

use super::context::RequestContext;
use super::error::GraphError;
use super::extract::Reader;
use crate::app::AppState;
use crate::domain::skiptoken;
use crate::store::{AuditRecord, HistoryPage, HistoryPosition, HistoryQuery, Scope};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::Uri;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};
use std::sync::Arc;

pub const HISTORY: &str = "/_graphsec/profiles/{id}/history";
const PREFIX: &str = "/_graphsec/profiles/";
const SUFFIX: &str = "/history";
/// Entries per page without `$top`, and the most `$top` may ask for.
pub const DEFAULT_TOP: u32 = 20;
pub const MAX_TOP: u32 = 100;
/// What a history skiptoken is bound to beside the tenant and the profile.
const ORDER: &str = "newest first";

pub async fn history(
    State(app): State<Arc<AppState>>,
    ctx: RequestContext,
    Reader(principal): Reader,
    uri: Uri,
) -> Result<Response, GraphError> {
    let id = profile_id(uri.path())?;
    let options = Options::parse(uri.query())?;
    let scope = principal.scope();
    let scope_text = match &scope {
        Scope::Tenant(t) => format!("tenant:{t}"),
        Scope::AllTenants => "all".into(),
    };
    let filter = format!("history:{id}");
    let identity = skiptoken::QueryIdentity { scope: &scope_text, filter: &filter, order: ORDER };
    let key = app.store.skiptoken_key();
    let after = options.skiptoken.as_deref().map(|token| position(key, &identity, token)).transpose()?;
    let query = HistoryQuery { scope, profile_id: id.clone(), after, top: options.top };

    let budget = &app.budget;
    let mut reservation = budget.reserve(budget.page_estimate(query.top as usize + 1)).await?;
    for attempt in 1..=2 {
        let HistoryPage { records, next } = app.store.history(query.clone()).await?;
        let next_link = next
            .map(|next| skiptoken::encode(key, &identity, json!(next)))
            .map(|token| next_link(&ctx, &id, options.top, &token));
        let body = page(&records, next_link).to_string().into_bytes();
        drop(records);
        if reservation.try_resize(body.len())? {
            let body = axum::body::Body::from(reservation.attach_rest(body));
            return Ok(([(http::header::CONTENT_TYPE, "application/json")], body).into_response());
        }
        if attempt == 1 {
            reservation = budget.reserve_exact(body.len()).await?;
        }
    }
    // The entries grew between the two reads: the budget is too busy for this page.
    Err(budget.busy())
}

fn page(records: &[AuditRecord], next_link: Option<String>) -> Value {
    let mut page = serde_json::Map::new();
    if let Some(link) = next_link {
        page.insert("@odata.nextLink".into(), link.into());
    }
    page.insert("value".into(), serde_json::to_value(records).unwrap_or_default());
    Value::Object(page)
}

/// The profile id of the path, percent-decoded.
fn profile_id(path: &str) -> Result<String, GraphError> {
    let raw = path.strip_prefix(PREFIX).and_then(|p| p.strip_suffix(SUFFIX)).unwrap_or_default();
    percent_decode_str(raw)
        .decode_utf8()
        .map(|id| id.into_owned())
        .ok()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| GraphError::segment_not_found(raw))
}

fn next_link(ctx: &RequestContext, id: &str, top: u32, token: &str) -> String {
    let id = super::query::encode(id).replace('/', "%2F");
    format!("{}{PREFIX}{id}{SUFFIX}?$top={top}&$skiptoken={token}", ctx.origin())
}

/// Where a skiptoken resumes, checked to belong to this tenant and profile.
fn position(key: &[u8], identity: &skiptoken::QueryIdentity<'_>, token: &str) -> Result<HistoryPosition, GraphError> {
    let value = skiptoken::decode(key, identity, token).map_err(GraphError::invalid_query)?;
    serde_json::from_value::<HistoryPosition>(value)
        .map_err(|_| GraphError::invalid_query("The $skiptoken does not fit this query."))
}

/// `$top` and `$skiptoken`, spelled with or without `$` and in any case, as OData options are.
#[derive(Debug, PartialEq, Eq)]
struct Options {
    top: u32,
    skiptoken: Option<String>,
}

impl Options {
    fn parse(query: Option<&str>) -> Result<Options, GraphError> {
        let mut top = None;
        let mut skiptoken = None;
        for pair in query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (name, value) = (decode(name)?, decode(value)?);
            let bare = name.strip_prefix('$').unwrap_or(&name).to_ascii_lowercase();
            let slot = match bare.as_str() {
                "top" => &mut top,
                "skiptoken" => &mut skiptoken,
                _ => {
                    return Err(GraphError::invalid_query(format!(
                        "The query parameter '{name}' is not supported here: use $top and $skiptoken."
                    )));
                }
            };
            if slot.replace(value).is_some() {
                return Err(GraphError::invalid_query(format!(
                    "The query option '${bare}' is specified more than once."
                )));
            }
        }
        let top = match top {
            None => DEFAULT_TOP,
            Some(text) => text.parse::<u32>().ok().filter(|t| (1..=MAX_TOP).contains(t)).ok_or_else(|| {
                GraphError::invalid_query(format!("Invalid $top '{text}': it must be an integer from 1 to {MAX_TOP}."))
            })?,
        };
        if skiptoken.as_deref() == Some("") {
            return Err(GraphError::invalid_query("The $skiptoken is empty; follow @odata.nextLink as given."));
        }
        Ok(Options { top, skiptoken })
    }
}

fn decode(text: &str) -> Result<String, GraphError> {
    percent_decode_str(&text.replace('+', " "))
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| GraphError::invalid_query("The query string is not valid UTF-8 after percent-decoding."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_take_top_and_skiptoken_in_any_spelling() {
        assert_eq!(Options::parse(None).unwrap(), Options { top: DEFAULT_TOP, skiptoken: None });
        assert_eq!(
            Options::parse(Some("%24top=5&SkipToken=a.b")).unwrap(),
            Options { top: 5, skiptoken: Some("a.b".into()) }
        );
        for bad in ["$top=0", "$top=101", "$top=", "$top=x", "$top=1&top=2", "$skiptoken=", "$filter=a", "x=1"] {
            assert!(Options::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_are_percent_decoded() {
        assert_eq!(profile_id("/_graphsec/profiles/a%2Fb%20c/history").unwrap(), "a/b c");
        assert!(profile_id("/_graphsec/profiles/%FF/history").is_err());
    }
}
