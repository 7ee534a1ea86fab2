//! What a handler takes from a request, each refused with a Graph error: the caller (chaos,
//! authentication, throttling, permissions), `If-Match`, `Prefer`, the JSON body and the query
//! options. A handler lists them in the order their checks must run.

use super::context::RequestContext;
use super::error::GraphError;
use super::prefer::Preferences;
use super::query::{self, QueryOptions, Target};
use crate::app::{AppState, AuthMode};
use crate::auth::{self, Principal};
use crate::domain::etag::IfMatch;
use crate::domain::profile::{self, ProfileInput, ValidationError};
use axum::extract::{FromRequest, FromRequestParts, Request};
use bytes::Bytes;
use http::header;
use http::request::Parts;
use std::marker::PhantomData;
use std::sync::Arc;

/// The request layer's context, taken rather than copied: a handler takes it once.
impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = GraphError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, GraphError> {
        parts.extensions.remove::<RequestContext>().ok_or_else(GraphError::internal)
    }
}

/// An authenticated caller, not throttled: a `$batch` is only let in; each of its items is
/// throttled as if it had come alone.
pub struct Authenticated(pub Principal);

impl FromRequestParts<Arc<AppState>> for Authenticated {
    type Rejection = GraphError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<AppState>) -> Result<Self, GraphError> {
        if let Some(chaos) = &app.chaos {
            chaos.disturb().await?;
        }
        let principal = authenticate(app, &parts.headers).await?;
        if let Some(tenant) = &principal.tenant {
            super::context::CallerTenant::note(&parts.extensions, tenant);
        }
        Ok(Authenticated(principal))
    }
}

/// A caller let in to the API: authenticated and within its rate limit.
pub struct Caller(pub Principal);

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = GraphError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<AppState>) -> Result<Self, GraphError> {
        let Authenticated(principal) = Authenticated::from_request_parts(parts, app).await?;
        if let Some(throttle) = &app.throttle {
            throttle.check(&principal)?;
        }
        Ok(Caller(principal))
    }
}

/// A caller allowed to read profiles.
pub struct Reader(pub Principal);

impl FromRequestParts<Arc<AppState>> for Reader {
    type Rejection = GraphError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<AppState>) -> Result<Self, GraphError> {
        let Caller(principal) = Caller::from_request_parts(parts, app).await?;
        if !principal.can_read {
            return Err(GraphError::forbidden(format!(
                "Insufficient privileges: {} or {} is required.",
                auth::READ_ALL,
                auth::READ_WRITE_ALL
            )));
        }
        Ok(Reader(principal))
    }
}

/// A caller allowed to change profiles.
pub struct Writer(pub Principal);

impl FromRequestParts<Arc<AppState>> for Writer {
    type Rejection = GraphError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<AppState>) -> Result<Self, GraphError> {
        let Caller(principal) = Caller::from_request_parts(parts, app).await?;
        if !principal.can_write {
            return Err(GraphError::forbidden(format!(
                "Insufficient privileges: {} is required.",
                auth::READ_WRITE_ALL
            )));
        }
        Ok(Writer(principal))
    }
}

/// A configured external issuer's token is checked against that issuer only; any other token
/// must be one of the local key's.
pub(crate) async fn authenticate(app: &AppState, headers: &http::HeaderMap) -> Result<Principal, GraphError> {
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

/// The `If-Match` header, if sent.
pub struct Precondition(pub Option<IfMatch>);

impl<S: Send + Sync> FromRequestParts<S> for Precondition {
    type Rejection = GraphError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, GraphError> {
        let Some(value) = parts.headers.get(header::IF_MATCH) else {
            return Ok(Precondition(None));
        };
        let text = value
            .to_str()
            .map_err(|_| GraphError::bad_request("If-Match is not valid text.").with_inner("malformedEntityTag"))?;
        let if_match = IfMatch::parse(text).map_err(|m| GraphError::bad_request(m).with_inner("malformedEntityTag"))?;
        Ok(Precondition(Some(if_match)))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Preferences {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Preferences::from_headers(&parts.headers))
    }
}

/// The resource the query options are parsed for.
pub trait QueryTarget {
    const TARGET: Target;
}

pub enum OfCollection {}
pub enum OfEntity {}
pub enum OfCount {}

impl QueryTarget for OfCollection {
    const TARGET: Target = Target::Collection;
}
impl QueryTarget for OfEntity {
    const TARGET: Target = Target::Entity;
}
impl QueryTarget for OfCount {
    const TARGET: Target = Target::Count;
}

/// The system query options, parsed for the resource `T`.
pub struct Options<T>(pub QueryOptions, pub PhantomData<T>);

impl<S: Send + Sync, T: QueryTarget> FromRequestParts<S> for Options<T> {
    type Rejection = GraphError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, GraphError> {
        query::parse(parts.uri.query(), T::TARGET).map(|options| Options(options, PhantomData))
    }
}

/// A JSON request body within the size limit (gzip inflated).
pub struct JsonBody(pub Bytes);

impl FromRequest<Arc<AppState>> for JsonBody {
    type Rejection = GraphError;

    async fn from_request(request: Request, app: &Arc<AppState>) -> Result<Self, GraphError> {
        let (parts, body) = request.into_parts();
        super::body::read_json(&parts.headers, body, app.max_body_bytes).await.map(JsonBody)
    }
}

/// A request body that is a valid userSecurityProfile (or a part of one, for a PATCH).
pub struct ProfileBody(pub ProfileInput);

impl FromRequest<Arc<AppState>> for ProfileBody {
    type Rejection = GraphError;

    async fn from_request(request: Request, app: &Arc<AppState>) -> Result<Self, GraphError> {
        let JsonBody(bytes) = JsonBody::from_request(request, app).await?;
        profile::parse_input(&bytes).map(ProfileBody).map_err(invalid)
    }
}

pub fn invalid(e: ValidationError) -> GraphError {
    GraphError::bad_request(e.message).with_inner(e.inner_code)
}
