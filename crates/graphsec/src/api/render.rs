//! Success payloads in Graph's wire format. Stored documents are already canonical JSON, so
//! without `$select` they are spliced in as text rather than parsed and re-serialised.

use super::context::RequestContext;
use crate::domain::etag;
use crate::logging::json::push_string as push_json_string;
use crate::store::StoredProfile;
use axum::body::Body;
use axum::response::Response;
use http::{HeaderName, HeaderValue, StatusCode, header};
use serde_json::Value;
use std::fmt::Write;

pub const ODATA_JSON: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";
const ENTITY_TYPE: &str = "#microsoft.graph.userSecurityProfile";
/// Header names as constants: a name given as text is parsed on every insert.
pub const ODATA_VERSION: HeaderName = HeaderName::from_static("odata-version");

/// Marks a response whose body is JSON exactly as serde_json writes it (compact, members in
/// order, canonical escapes), which a `$batch` envelope can therefore embed as it is instead of
/// parsing and re-serialising it.
#[derive(Debug, Clone, Copy)]
pub struct CanonicalJson;

pub fn odata_response(status: StatusCode, body: String) -> Response {
    odata_response_body(status, Body::from(body))
}

/// `body` must be canonical JSON (see [`CanonicalJson`]).
pub fn odata_response_body(status: StatusCode, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ODATA_JSON));
    headers.insert(ODATA_VERSION, HeaderValue::from_static("4.0"));
    response.extensions_mut().insert(CanonicalJson);
    response
}

/// `$select=*` is the same as no `$select`.
pub(super) fn partial(select: Option<&odata::Select>) -> Option<&odata::Select> {
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

/// The annotations that open every entity.
pub(super) fn write_annotations(out: &mut String, version: i64) {
    // The etag (`W/"<version>"`) as a JSON string, written straight into `out`.
    out.push_str("\"@odata.type\":\"");
    out.push_str(ENTITY_TYPE);
    out.push_str("\",\"@odata.etag\":\"W/\\\"");
    let _ = write!(out, "{version}");
    out.push_str("\\\"\"");
}

/// Writes one entity's members (annotations first) into `out`, which ends just after `{`.
pub(super) fn write_members(
    out: &mut String,
    profile: &StoredProfile,
    select: Option<&odata::Select>,
) -> Result<(), serde_json::Error> {
    write_annotations(out, profile.version);
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
    let mut context = context_url(ctx, select);
    context.push_str("/$entity");
    out.push_str("{\"@odata.context\":");
    push_json_string(&mut out, &context);
    out.push(',');
    write_members(&mut out, profile, select)?;
    Ok(out)
}

pub fn etag_header(version: i64) -> HeaderValue {
    // From the string itself, which the header value then owns, rather than from a copy.
    HeaderValue::try_from(etag::format(version)).unwrap_or_else(|_| HeaderValue::from_static("W/\"0\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_and_annotations_read_as_serde_json_writes_them() {
        for text in ["", "https://h:8080/beta/$metadata#x/$entity", "q\"b\\s\n\u{1}\u{7f}é/<>'"] {
            let mut out = String::new();
            push_json_string(&mut out, text);
            assert_eq!(out, Value::from(text).to_string(), "{text}");
        }
        for version in [0, 7, -3, i64::MAX] {
            let mut out = String::new();
            write_annotations(&mut out, version);
            let expected =
                format!("\"@odata.type\":\"{ENTITY_TYPE}\",\"@odata.etag\":{}", Value::from(etag::format(version)));
            assert_eq!(out, expected);
        }
    }
}
