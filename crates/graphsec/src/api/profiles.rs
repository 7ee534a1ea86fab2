//! The operations on `/beta/security/userSecurityProfiles` (docs/wire-format.md §4). Each handler takes
//! what its extractors checked, calls the store and renders; the rules live in `domain`, the SQL
//! in `store`.

use super::budget::{PAGE_OVERHEAD_BYTES, ROW_OVERHEAD_BYTES, Reservation, SMALL_RESPONSE_BYTES};
use super::context::RequestContext;
use super::error::GraphError;
use super::extract::{OfCollection, OfCount, OfEntity, Options, Precondition, ProfileBody, Reader, Writer, invalid};
use super::page::{Page, PageBody};
use super::prefer::Preferences;
use super::query::{self, QueryOptions};
use super::render;
use crate::app::AppState;
use crate::auth::Principal;
use crate::domain::write::{Create, Delete, Refusal, Update};
use crate::domain::{datetime, skiptoken};
use crate::store::{Actor, ListPage, ListRequest, Scope, StoredProfile, WriteCommand, WriteOutcome};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use std::sync::Arc;

/// Who asked for a write, for the audit trail, and the gate of the request it belongs to.
fn actor(principal: &Principal, ctx: &RequestContext) -> Actor {
    Actor {
        caller: principal.caller.clone(),
        app: principal.app.clone(),
        request_id: ctx.request_id.clone(),
        gate: super::observe::current_write_gate(),
    }
}

fn item_url(ctx: &RequestContext, id: &str) -> String {
    format!("{}/security/userSecurityProfiles/{}", ctx.service_root, query::encode(id).replace('/', "%2F"))
}

pub async fn list(
    State(app): State<Arc<AppState>>,
    ctx: RequestContext,
    Reader(principal): Reader,
    Options(options, _): Options<OfCollection>,
    prefs: Preferences,
) -> Result<Response, GraphError> {
    let scope = principal.scope();
    let mut order =
        options.orderby.clone().unwrap_or_else(|| odata::OrderBy::default_order(crate::domain::members::schema()));
    if scope == Scope::AllTenants {
        // Ids are unique within a tenant only: across tenants the tenant breaks the tie, or a page
        // boundary between two profiles with one id would skip the second.
        order = order.then_by(crate::domain::members::TENANT);
    }
    let filter_text = options.filter.as_ref().map(odata::Filter::canonical).unwrap_or_default();
    let scope_text = scope_identity(&scope);
    let identity = skiptoken::QueryIdentity { scope: &scope_text, filter: &filter_text, order: &order.canonical() };
    let key = app.store.skiptoken_key();
    let after = resume_position(key, &identity, &options, &order)?;
    // As in Graph, $top is the page size; Prefer: odata.maxpagesize can only lower it.
    let mut limit = options.top.unwrap_or(app.page_size);
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
        true => Some(app.store.count(scope.clone(), request.filter.clone()).await?),
        false => None,
    };
    let (page, reservation) = fetch_within_budget(&app, &scope, &request).await?;
    let next_link = page.next.as_ref().map(|next| {
        let position = serde_json::to_value(next).unwrap_or_default();
        next_link(&ctx, &options, &skiptoken::encode(key, &identity, position))
    });
    let body = PageBody::new(&ctx, page.rows, &Page { count, next_link, select: options.select.as_ref() }, reservation)
        .map_err(|_| GraphError::internal())?;
    let mut response = render::odata_response_body(StatusCode::OK, Body::new(body));
    if let Some(size) = prefs.max_page_size
        && let Ok(v) = HeaderValue::from_str(&format!("odata.maxpagesize={size}"))
    {
        response.headers_mut().insert("Preference-Applied", v);
    }
    Ok(response)
}

/// The sort key a `$skiptoken` resumes after, checked to belong to this very query.
fn resume_position(
    key: &[u8],
    identity: &skiptoken::QueryIdentity<'_>,
    options: &QueryOptions,
    order: &odata::OrderBy,
) -> Result<Option<odata::SortKey>, GraphError> {
    let Some(token) = &options.skiptoken else {
        return Ok(None);
    };
    let position = skiptoken::decode(key, identity, token).map_err(GraphError::invalid_query)?;
    let sort_key: odata::SortKey = serde_json::from_value(position)
        .ok()
        .filter(|k| order.validate_key(k).is_ok())
        .ok_or_else(|| GraphError::invalid_query("The $skiptoken does not fit this query."))?;
    Ok(Some(sort_key))
}

/// Reads a page with its size reserved in the response memory budget. The reservation is taken
/// before the rows are fetched, so that requests waiting for the budget hold no rows. Rows larger
/// than estimated are dropped, if the rest is not free at once, and fetched again once their
/// whole size is reserved: a request never waits while holding rows.
async fn fetch_within_budget(
    app: &AppState,
    scope: &Scope,
    request: &ListRequest,
) -> Result<(ListPage, Reservation), GraphError> {
    let budget = &app.budget;
    let mut reservation = budget.reserve(budget.page_estimate(request.limit)).await?;
    for attempt in 1..=2 {
        let page = app.store.list(scope.clone(), request.clone()).await?;
        let bytes = page.rows.iter().map(|r| r.doc.len() + ROW_OVERHEAD_BYTES).sum::<usize>() + PAGE_OVERHEAD_BYTES;
        budget.observe_rows(page.rows.len(), bytes);
        if reservation.try_resize(bytes)? {
            return Ok((page, reservation));
        }
        drop(page);
        if attempt == 1 {
            reservation = budget.reserve_exact(bytes).await?;
        }
    }
    // The rows grew again between the two reads: the budget is too busy for this page.
    Err(budget.busy())
}

fn scope_identity(scope: &Scope) -> String {
    match scope {
        Scope::Tenant(t) => format!("tenant:{t}"),
        Scope::AllTenants => "all".into(),
    }
}

/// The same request with the page position advanced: every original option except `$skip`
/// (already applied) and the old `$skiptoken`.
fn next_link(ctx: &RequestContext, options: &QueryOptions, token: &str) -> String {
    let mut url = format!("{}/security/userSecurityProfiles?", ctx.service_root);
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

pub async fn count(
    State(app): State<Arc<AppState>>,
    Reader(principal): Reader,
    Options(options, _): Options<OfCount>,
) -> Result<Response, GraphError> {
    let n = app.store.count(principal.scope(), options.filter).await?;
    let mut response = (StatusCode::OK, n.to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain;charset=utf-8"));
    response.headers_mut().insert(render::ODATA_VERSION, HeaderValue::from_static("4.0"));
    Ok(response)
}

pub async fn get(
    State(app): State<Arc<AppState>>,
    ctx: RequestContext,
    Reader(principal): Reader,
    Options(options, _): Options<OfEntity>,
    Path(id): Path<String>,
) -> Result<Response, GraphError> {
    let profile = app.store.get(&principal.scope(), &id).await?.ok_or_else(|| GraphError::not_found(&id))?;
    entity_response(&app, &ctx, StatusCode::OK, &profile, options.select.as_ref(), true).await
}

pub async fn create(
    State(app): State<Arc<AppState>>,
    ctx: RequestContext,
    Writer(principal): Writer,
    prefs: Preferences,
    ProfileBody(input): ProfileBody,
) -> Result<Response, GraphError> {
    let create = Create::decide(input, &principal.scope(), &app.default_tenant, datetime::now()).map_err(refused)?;
    let id = create.id().to_string();
    match app.store.write(WriteCommand::Create(create), actor(&principal, &ctx)).await? {
        WriteOutcome::Written(stored) => {
            let mut response = written_response(&app, &ctx, StatusCode::CREATED, &stored, &prefs).await?;
            if let Ok(location) = HeaderValue::from_str(&item_url(&ctx, &id)) {
                // Without a body, OData names the created entity in OData-EntityId as well.
                if response.status() == StatusCode::NO_CONTENT {
                    response.headers_mut().insert("OData-EntityId", location.clone());
                }
                response.headers_mut().insert(header::LOCATION, location);
            }
            Ok(response)
        }
        WriteOutcome::Conflict => Err(GraphError::conflict(&id)),
        other => Err(unexpected(other)),
    }
}

pub async fn update(
    State(app): State<Arc<AppState>>,
    ctx: RequestContext,
    Writer(principal): Writer,
    Precondition(if_match): Precondition,
    prefs: Preferences,
    Path(id): Path<String>,
    ProfileBody(input): ProfileBody,
) -> Result<Response, GraphError> {
    let command = WriteCommand::Update(Update {
        scope: principal.scope(),
        id: id.clone(),
        if_match,
        input,
        now: datetime::now(),
    });
    match app.store.write(command, actor(&principal, &ctx)).await? {
        WriteOutcome::Written(stored) => written_response(&app, &ctx, StatusCode::OK, &stored, &prefs).await,
        WriteOutcome::NotFound => Err(GraphError::not_found(&id)),
        WriteOutcome::PreconditionFailed => Err(GraphError::precondition_failed()),
        WriteOutcome::Invalid(e) => Err(invalid(e)),
        WriteOutcome::ForeignTenant => Err(foreign_tenant()),
        WriteOutcome::Conflict => Err(GraphError::conflict(&id)),
        other => Err(unexpected(other)),
    }
}

pub async fn delete(
    State(app): State<Arc<AppState>>,
    ctx: RequestContext,
    Writer(principal): Writer,
    Precondition(if_match): Precondition,
    Path(id): Path<String>,
) -> Result<Response, GraphError> {
    let command =
        WriteCommand::Delete(Delete { scope: principal.scope(), id: id.clone(), if_match, now: datetime::now() });
    match app.store.write(command, actor(&principal, &ctx)).await? {
        WriteOutcome::Deleted => Ok(StatusCode::NO_CONTENT.into_response()),
        WriteOutcome::NotFound => Err(GraphError::not_found(&id)),
        WriteOutcome::PreconditionFailed => Err(GraphError::precondition_failed()),
        other => Err(unexpected(other)),
    }
}

/// The answer to a create or an update, as `Prefer: return=` asks: the entity (the default), or
/// no content.
async fn written_response(
    app: &AppState,
    ctx: &RequestContext,
    status: StatusCode,
    stored: &StoredProfile,
    prefs: &Preferences,
) -> Result<Response, GraphError> {
    match prefs.return_minimal {
        Some(true) => Ok(minimal_response(stored, "return=minimal")),
        representation => {
            let mut response = entity_response(app, ctx, status, stored, None, false).await?;
            if representation == Some(false) {
                response.headers_mut().insert("Preference-Applied", HeaderValue::from_static("return=representation"));
            }
            Ok(response)
        }
    }
}

/// A profile is small, unless dynamic properties have made it large: then a read takes its size
/// from the budget like a page. The answer to a write does not: refusing it would hide that the
/// write has been made.
async fn entity_response(
    app: &AppState,
    ctx: &RequestContext,
    status: StatusCode,
    profile: &StoredProfile,
    select: Option<&odata::Select>,
    budgeted: bool,
) -> Result<Response, GraphError> {
    let body = render::entity(ctx, profile, select).map_err(|_| GraphError::internal())?;
    let mut response = if !budgeted || body.len() <= SMALL_RESPONSE_BYTES {
        render::odata_response(status, body)
    } else {
        let mut reservation = app.budget.reserve_exact(body.len()).await?;
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
    GraphError::internal().caused_by(format_args!("unexpected store outcome {outcome:?}"))
}
