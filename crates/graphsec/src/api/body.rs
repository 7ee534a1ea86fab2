//! Reading a JSON request body: content type, `Content-Encoding: gzip`, and the size limit, which
//! holds for the inflated body too (a small gzip bomb costs nothing).

use super::error::GraphError;
use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, header};
use http_body_util::{BodyExt, Limited};
use std::io::Read;

pub async fn read_json(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, GraphError> {
    check_content_type(headers)?;
    read(headers, body, limit).await
}

/// A request body of any content type, gzip inflated, within `limit` bytes.
pub async fn read(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, GraphError> {
    let gzip =
        match headers.get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase()) {
            None => false,
            Some(e) if e == "identity" || e.is_empty() => false,
            Some(e) if e == "gzip" => true,
            Some(other) => {
                return Err(GraphError::unsupported_media_type(format!(
                    "Content-Encoding '{other}' is not supported; send gzip or an uncompressed body."
                )));
            }
        };
    if let Some(length) = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        && length > limit as u64
    {
        return Err(GraphError::payload_too_large(limit));
    }
    let raw = Limited::new(body, limit).collect().await.map_err(|e| {
        if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
            GraphError::payload_too_large(limit)
        } else {
            GraphError::bad_request("The request body could not be read.")
        }
    })?;
    let raw = raw.to_bytes();
    if !gzip {
        return Ok(raw);
    }
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(&raw[..]).take(limit as u64 + 1).read_to_end(&mut inflated).map_err(|_| {
        GraphError::bad_request("The request body is not valid gzip.").with_inner("invalidContentEncoding")
    })?;
    if inflated.len() > limit {
        return Err(GraphError::payload_too_large(limit));
    }
    Ok(Bytes::from(inflated))
}

fn check_content_type(headers: &HeaderMap) -> Result<(), GraphError> {
    let value = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let media_type = value.split(';').next().unwrap_or_default().trim();
    if media_type.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else if media_type.is_empty() {
        Err(GraphError::unsupported_media_type("A Content-Type of application/json is required."))
    } else {
        Err(GraphError::unsupported_media_type(format!(
            "Content-Type '{media_type}' is not supported; use application/json."
        )))
    }
}

/// Reads and drops up to `limit` bytes of a body the request does not use.
pub async fn discard(body: Body, limit: usize) {
    let _ = Limited::new(body, limit).collect().await;
}
