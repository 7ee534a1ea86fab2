//! The operations on `/beta/security/userSecurityProfiles` (SPEC section 2). Each handler parses,
//! authorises, calls the store and renders; the rules live in `domain`, the SQL in `store`.

use super::body;
use super::budget::{PAGE_OVERHEAD_BYTES, ROW_OVERHEAD_BYTES, SMALL_RESPONSE_BYTES};
use super::context::RequestContext;
use super::error::GraphError;
use super::page::{Page, PageBody};
use super::prefer::Preferences;
use super::query::{self, QueryOptions, Target};
use super::render;
use crate::app::AppState;
use crate::auth::Principal;
use crate::domain::etag::IfMatch;
use crate::domain::profile::{self, ValidationError};
use crate::domain::write::{Create, Delete, Refusal, Update};
use crate::domain::{datetime, skiptoken};
use crate::store::{Actor, ListRequest, Scope, StoredProfile, WriteCommand, WriteOutcome};
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use std::sync::Arc;

pub struct Call<'a> {
    pub app: &'a Arc<AppState>,
    pub ctx: &'a RequestContext,
    pub principal: &'a Principal,
    pub headers: &'a HeaderMap,
    pub query: Option<&'a str>,
}

impl Call<'_> {
    fn require_read(&self) -> Result<(), GraphError> {
        if self.principal.can_read {
            Ok(())
        } else {
            Err(GraphError::forbidden(format!(
                "Insufficient privileges: {} or {} is required.",
                crate::auth::READ_ALL,
                crate::auth::READ_WRITE_ALL
            )))
        }
    }

    fn require_write(&self) -> Result<(), GraphError> {
        if self.principal.can_write {
            Ok(())
        } else {
            Err(GraphError::forbidden(format!("Insufficient privileges: {} is required.", crate::auth::READ_WRITE_ALL)))
        }
    }

    fn if_match(&self) -> Result<Option<IfMatch>, GraphError> {
        let Some(value) = self.headers.get(header::IF_MATCH) else {
            return Ok(None);
        };
        let text = value
            .to_str()
            .map_err(|_| GraphError::bad_request("If-Match is not valid text.").with_inner("malformedEntityTag"))?;
        IfMatch::parse(text).map(Some).map_err(|m| GraphError::bad_request(m).with_inner("malformedEntityTag"))
    }

    fn actor(&self) -> Actor {
        Actor {
            caller: self.principal.caller.clone(),
            app: self.principal.app.clone(),
            request_id: self.ctx.request_id.clone(),
            gate: super::current_write_gate(),
        }
    }

    fn item_url(&self, id: &str) -> String {
        format!("{}/security/userSecurityProfiles/{}", self.ctx.service_root, query::encode(id).replace('/', "%2F"))
    }
}

pub async fn list(call: Call<'_>) -> Result<Response, GraphError> {
    call.require_read()?;
    let options = query::parse(call.query, Target::Collection)?;
    let prefs = Preferences::from_headers(call.headers);
    let scope = call.principal.scope();
    let order = options.orderby.clone().unwrap_or_else(odata::OrderBy::default_order);
    let filter_text = options.filter.as_ref().map(odata::Filter::canonical).unwrap_or_default();
    let scope_text = scope_identity(&scope);
    let identity = skiptoken::QueryIdentity { scope: &scope_text, filter: &filter_text, order: &order.canonical() };
    let key = call.app.store.skiptoken_key();

    let after = match &options.skiptoken {
        None => None,
        Some(token) => {
            let position = skiptoken::decode(key, &identity, token).map_err(GraphError::invalid_query)?;
            let sort_key: odata::SortKey = serde_json::from_value(position)
                .ok()
                .filter(|k| order.validate_key(k).is_ok())
                .ok_or_else(|| GraphError::invalid_query("The $skiptoken does not fit this query."))?;
            Some(sort_key)
        }
    };
    // As in Graph, $top is the page size; Prefer: odata.maxpagesize can only lower it.
    let mut limit = options.top.unwrap_or(call.app.page_size);
    if let Some(max) = prefs.max_page_size {
        limit = limit.min(max);
    }
    let request = ListRequest {
        filter: options.filter.clone(),
        order,
        after,
        skip: if options.skiptoken.is_some() { 0 } else { options.skip.unwrap_or(0) },
        limit,
    };
    let count = match options.count {
        true => Some(call.app.store.count(scope.clone(), request.filter.clone()).await?),
        false => None,
    };
    // Reserved before the rows are fetched, so that requests waiting for the budget hold no rows.
    // Rows larger than estimated are dropped, if the rest is not free at once, and fetched again
    // once their whole size is reserved: a request never waits while holding rows.
    let budget = &call.app.budget;
    let mut reservation = budget.reserve(budget.page_estimate(limit)).await?;
    let mut fetches = 0;
    let page = loop {
        fetches += 1;
        let page = call.app.store.list(scope.clone(), request.clone()).await?;
        let bytes = page.rows.iter().map(|r| r.doc.len() + ROW_OVERHEAD_BYTES).sum::<usize>() + PAGE_OVERHEAD_BYTES;
        budget.observe_rows(page.rows.len(), bytes);
        if reservation.try_resize(bytes)? {
            break page;
        }
        drop(page);
        if fetches == 2 {
            // The rows grew again between the two reads: the budget is too busy for this page.
            return Err(budget.busy());
        }
        reservation = budget.reserve_exact(bytes).await?;
    };

    let next_link = page.next.as_ref().map(|next| {
        let position = serde_json::to_value(next).unwrap_or_default();
        next_link(&call, &options, &skiptoken::encode(key, &identity, position))
    });
    let body =
        PageBody::new(call.ctx, page.rows, &Page { count, next_link, select: options.select.as_ref() }, reservation)
            .map_err(|_| GraphError::internal())?;
    let mut response = render::odata_response_body(StatusCode::OK, Body::new(body));
    if let Some(size) = prefs.max_page_size
        && let Ok(v) = HeaderValue::from_str(&format!("odata.maxpagesize={size}"))
    {
        response.headers_mut().insert("Preference-Applied", v);
    }
    Ok(response)
}

fn scope_identity(scope: &Scope) -> String {
    match scope {
        Scope::Tenant(t) => format!("tenant:{t}"),
        Scope::AllTenants => "all".into(),
    }
}

/// The same request with the page position advanced: every original option except `$skip`
/// (already applied) and the old `$skiptoken`.
fn next_link(call: &Call<'_>, options: &QueryOptions, token: &str) -> String {
    let mut url = format!("{}/security/userSecurityProfiles?", call.ctx.service_root);
    for (name, value) in &options.raw {
        if matches!(*name, "skip" | "skiptoken") {
            continue;
        }
        url.push('$');
        url.push_str(name);
        url.push('=');
        url.push_str(&query::encode(value));
        url.push('&');
    }
    url.push_str("$skiptoken=");
    url.push_str(token);
    url
}

pub async fn count(call: Call<'_>) -> Result<Response, GraphError> {
    call.require_read()?;
    let options = query::parse(call.query, Target::Count)?;
    let n = call.app.store.count(call.principal.scope(), options.filter).await?;
    let mut response = (StatusCode::OK, n.to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain;charset=utf-8"));
    response.headers_mut().insert("OData-Version", HeaderValue::from_static("4.0"));
    Ok(response)
}

pub async fn get(call: Call<'_>, id: &str) -> Result<Response, GraphError> {
    call.require_read()?;
    let options = query::parse(call.query, Target::Entity)?;
    let profile = call.app.store.get(&call.principal.scope(), id).await?.ok_or_else(|| GraphError::not_found(id))?;
    entity_response(&call, StatusCode::OK, &profile, options.select.as_ref(), true).await
}

pub async fn create(call: Call<'_>, body: Body) -> Result<Response, GraphError> {
    call.require_write()?;
    let bytes = body::read_json(call.headers, body, call.app.max_body_bytes).await?;
    let input = profile::parse_input(&bytes).map_err(invalid)?;
    let create =
        Create::decide(input, &call.principal.scope(), &call.app.default_tenant, datetime::now()).map_err(refused)?;
    let id = create.id().to_string();
    match call.app.store.write(WriteCommand::Create(create), call.actor()).await? {
        WriteOutcome::Written(stored) => {
            let prefs = Preferences::from_headers(call.headers);
            let mut response = if prefs.return_minimal == Some(true) {
                minimal_response(&stored, "return=minimal")
            } else {
                entity_response(&call, StatusCode::CREATED, &stored, None, false).await?
            };
            if let Ok(location) = HeaderValue::from_str(&call.item_url(&id)) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            Ok(response)
        }
        WriteOutcome::Conflict => Err(GraphError::conflict(&id)),
        other => Err(unexpected(other)),
    }
}

pub async fn update(call: Call<'_>, id: &str, body: Body) -> Result<Response, GraphError> {
    call.require_write()?;
    let if_match = call.if_match()?;
    let bytes = body::read_json(call.headers, body, call.app.max_body_bytes).await?;
    let input = profile::parse_input(&bytes).map_err(invalid)?;
    let command = WriteCommand::Update(Update {
        scope: call.principal.scope(),
        id: id.to_string(),
        if_match,
        input,
        now: datetime::now(),
    });
    match call.app.store.write(command, call.actor()).await? {
        WriteOutcome::Written(stored) => {
            let prefs = Preferences::from_headers(call.headers);
            match prefs.return_minimal {
                Some(true) => Ok(minimal_response(&stored, "return=minimal")),
                representation => {
                    let mut response = entity_response(&call, StatusCode::OK, &stored, None, false).await?;
                    if representation == Some(false) {
                        response
                            .headers_mut()
                            .insert("Preference-Applied", HeaderValue::from_static("return=representation"));
                    }
                    Ok(response)
                }
            }
        }
        WriteOutcome::NotFound => Err(GraphError::not_found(id)),
        WriteOutcome::PreconditionFailed => Err(GraphError::precondition_failed()),
        WriteOutcome::Invalid(e) => Err(invalid(e)),
        WriteOutcome::ForeignTenant => Err(foreign_tenant()),
        WriteOutcome::Conflict => Err(GraphError::conflict(id)),
        other => Err(unexpected(other)),
    }
}

pub async fn delete(call: Call<'_>, id: &str) -> Result<Response, GraphError> {
    call.require_write()?;
    let if_match = call.if_match()?;
    let command = WriteCommand::Delete(Delete {
        scope: call.principal.scope(),
        id: id.to_string(),
        if_match,
        now: datetime::now(),
    });
    match call.app.store.write(command, call.actor()).await? {
        WriteOutcome::Deleted => Ok(StatusCode::NO_CONTENT.into_response()),
        WriteOutcome::NotFound => Err(GraphError::not_found(id)),
        WriteOutcome::PreconditionFailed => Err(GraphError::precondition_failed()),
        other => Err(unexpected(other)),
    }
}

/// A profile is small, unless dynamic properties have made it large: then a read takes its size
/// from the budget like a page. The answer to a write does not: refusing it would hide that the
/// write has been made.
async fn entity_response(
    call: &Call<'_>,
    status: StatusCode,
    profile: &StoredProfile,
    select: Option<&odata::Select>,
    budgeted: bool,
) -> Result<Response, GraphError> {
    let body = render::entity(call.ctx, profile, select).map_err(|_| GraphError::internal())?;
    let mut response = if !budgeted || body.len() <= SMALL_RESPONSE_BYTES {
        render::odata_response(status, body)
    } else {
        let mut reservation = call.app.budget.reserve_exact(body.len()).await?;
        render::odata_response_body(status, Body::from(reservation.attach_rest(body)))
    };
    response.headers_mut().insert(header::ETAG, render::etag_header(profile.version));
    Ok(response)
}

fn minimal_response(profile: &StoredProfile, applied: &'static str) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::ETAG, render::etag_header(profile.version));
    response.headers_mut().insert("Preference-Applied", HeaderValue::from_static(applied));
    response
}

fn invalid(e: ValidationError) -> GraphError {
    GraphError::bad_request(e.message).with_inner(e.inner_code)
}

/// A create the domain refused.
fn refused(refusal: Refusal) -> GraphError {
    match refusal {
        Refusal::Invalid(e) => invalid(e),
        Refusal::ForeignTenant => foreign_tenant(),
        other => unexpected(other.into()),
    }
}

fn foreign_tenant() -> GraphError {
    GraphError::forbidden("azureTenantId must be the tenant of the caller's token.")
}

fn unexpected(outcome: WriteOutcome) -> GraphError {
    tracing::error!(?outcome, "unexpected store outcome");
    GraphError::internal()
}
