//! Success payloads in Graph's wire format. Stored documents are already canonical JSON, so
//! without `$select` they are spliced in as text rather than parsed and re-serialised.

use super::context::RequestContext;
use crate::domain::etag;
use crate::store::StoredProfile;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::Value;
use std::fmt::Write;

pub const ODATA_JSON: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";
const ENTITY_TYPE: &str = "#microsoft.graph.userSecurityProfile";

pub fn odata_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ODATA_JSON));
    headers.insert("OData-Version", HeaderValue::from_static("4.0"));
    response
}

/// `$select=*` is the same as no `$select`.
fn partial(select: Option<&odata::Select>) -> Option<&odata::Select> {
    select.filter(|s| !s.is_all())
}

/// `{root}/$metadata#security/userSecurityProfiles` plus the `(a,b)` of a `$select`.
pub fn context_url(ctx: &RequestContext, select: Option<&odata::Select>) -> String {
    let select = partial(select);
    let mut url = format!("{}/$metadata#security/userSecurityProfiles", ctx.service_root);
    if let Some(select) = select {
        let _ = write!(url, "({})", select.names().join(","));
    }
    url
}

/// Writes one entity's members (annotations first) into `out`, which ends just after `{`.
fn write_members(
    out: &mut String,
    profile: &StoredProfile,
    select: Option<&odata::Select>,
) -> Result<(), serde_json::Error> {
    let _ =
        write!(out, "\"@odata.type\":\"{ENTITY_TYPE}\",\"@odata.etag\":{}", Value::from(etag::format(profile.version)));
    match partial(select) {
        None => {
            // The stored text is a non-empty JSON object: `{...}`.
            out.push(',');
            out.push_str(&profile.doc[1..]);
        }
        Some(select) => {
            let doc: serde_json::Map<String, Value> = serde_json::from_str(&profile.doc)?;
            for name in select.names() {
                if let Some(value) = doc.get(name) {
                    let _ = write!(out, ",{}:{}", Value::from(name.as_str()), value);
                }
            }
            out.push('}');
        }
    }
    Ok(())
}

pub fn entity(
    ctx: &RequestContext,
    profile: &StoredProfile,
    select: Option<&odata::Select>,
) -> Result<String, serde_json::Error> {
    let mut out = String::with_capacity(profile.doc.len() + 256);
    let _ = write!(out, "{{\"@odata.context\":{},", Value::from(format!("{}/$entity", context_url(ctx, select))));
    write_members(&mut out, profile, select)?;
    Ok(out)
}

pub struct CollectionPage<'a> {
    pub rows: &'a [StoredProfile],
    pub count: Option<i64>,
    pub next_link: Option<String>,
    pub select: Option<&'a odata::Select>,
}

pub fn collection(ctx: &RequestContext, page: &CollectionPage<'_>) -> Result<String, serde_json::Error> {
    let size: usize = page.rows.iter().map(|r| r.doc.len() + 96).sum();
    let mut out = String::with_capacity(size + 512);
    let _ = write!(out, "{{\"@odata.context\":{}", Value::from(context_url(ctx, page.select)));
    if let Some(count) = page.count {
        let _ = write!(out, ",\"@odata.count\":{count}");
    }
    if let Some(link) = &page.next_link {
        let _ = write!(out, ",\"@odata.nextLink\":{}", Value::from(link.as_str()));
    }
    out.push_str(",\"value\":[");
    for (i, row) in page.rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        write_members(&mut out, row, page.select)?;
    }
    out.push_str("]}");
    Ok(out)
}

pub fn etag_header(version: i64) -> HeaderValue {
    HeaderValue::from_str(&etag::format(version)).unwrap_or_else(|_| HeaderValue::from_static("W/\"0\""))
}
