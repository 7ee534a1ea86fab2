//! Every 4xx body a client can provoke.

use super::*;
use graphsec::config::AuthChoice;

backend_tests!(bad_requests, authentication_and_authorisation, missing_conflicting_and_stale, limits_of_a_request);

async fn bad_requests(backend: Backend) {
    let (server, token) = seeded(backend).await;
    let patch = |body: &str| Ask::new(Method::PATCH, item("bea")).token(&token).json(body);
    pin_exchange(&server, "400_invalid_json", patch("{")).await;
    pin_exchange(&server, "400_invalid_property_value", patch(r#"{"displayName": 1}"#)).await;
    pin_exchange(&server, "400_invalid_enum_value", patch(r#"{"accounts": [{"status": "sleeping"}]}"#)).await;
    let filter = Ask::get(format!("{COLLECTION}?$filter=displayName eq")).token(&token);
    pin_exchange(&server, "400_invalid_filter", filter).await;
    pin_exchange(&server, "400_invalid_query_option", Ask::get(format!("{COLLECTION}?$top=0")).token(&token)).await;
    pin_exchange(&server, "400_not_supported", Ask::get(format!("{COLLECTION}?$expand=accounts")).token(&token)).await;
    let segment = Ask::get("/beta/security/alerts").token(&token);
    pin_exchange(&server, "400_unknown_segment", segment).await;
    let if_match = patch(r#"{"displayName": "x"}"#).header("if-match", "seven");
    pin_exchange(&server, "400_malformed_if_match", if_match).await;
    let gzip = patch(r#"{"displayName": "x"}"#).header("content-encoding", "gzip");
    pin_exchange(&server, "400_invalid_gzip", gzip).await;
    let empty = Ask::new(Method::POST, COLLECTION).token(&token).header("content-type", "application/json");
    pin_exchange(&server, "400_empty_body", empty).await;
}

async fn authentication_and_authorisation(backend: Backend) {
    let (server, token) = seeded(backend).await;
    pin_exchange(&server, "401_no_token", Ask::get(COLLECTION)).await;
    let garbage = Ask::get(COLLECTION).header("authorization", "Bearer not-a-jwt");
    pin_exchange(&server, "401_bad_token", garbage).await;
    let other_key = mint(tempfile::tempdir().unwrap().path(), TENANT_A, READ_WRITE, false);
    pin_exchange(&server, "401_foreign_signature", Ask::get(COLLECTION).token(&other_key)).await;
    let reader = server.token(TENANT_A, READ);
    let write = Ask::new(Method::PATCH, item("bea")).token(&reader).json(r#"{"displayName": "x"}"#);
    pin_exchange(&server, "403_read_only_token_writes", write).await;
    let nothing = server.token(TENANT_A, "User.Read");
    pin_exchange(&server, "403_no_read_permission", Ask::get(COLLECTION).token(&nothing)).await;
    let foreign = format!(r#"{{"id": "foreign", "azureTenantId": "{TENANT_B}"}}"#);
    let create = Ask::new(Method::POST, COLLECTION).token(&token).json(&foreign);
    pin_exchange(&server, "403_foreign_tenant", create).await;
    // Another tenant's token does not see tenant A's profile at all.
    let other_tenant = server.token(TENANT_B, READ_WRITE);
    pin_exchange(&server, "404_other_tenants_profile", Ask::get(item("bea")).token(&other_tenant)).await;
}

async fn missing_conflicting_and_stale(backend: Backend) {
    let (server, token) = seeded(backend).await;
    pin_exchange(&server, "404_not_found", Ask::get(item("missing")).token(&token)).await;
    let patch = Ask::new(Method::PATCH, item("missing")).token(&token).json("{}");
    pin_exchange(&server, "404_patch_not_found", patch).await;
    pin_exchange(&server, "405_method_not_allowed", Ask::new(Method::PUT, item("bea")).token(&token)).await;
    pin_exchange(&server, "405_healthz", Ask::new(Method::DELETE, "/healthz")).await;
    let duplicate = Ask::new(Method::POST, COLLECTION).token(&token).json(r#"{"id": "bea"}"#);
    pin_exchange(&server, "409_duplicate_id", duplicate).await;
    let stale = Ask::new(Method::PATCH, item("bea"))
        .token(&token)
        .json(r#"{"displayName": "x"}"#)
        .header("if-match", "W/\"7\"");
    pin_exchange(&server, "412_if_match_mismatch", stale).await;
}

async fn limits_of_a_request(backend: Backend) {
    let (server, token) = seeded(backend).await;
    let big = format!(r#"{{"displayName": "{}"}}"#, "x".repeat(1024 * 1024 + 1));
    let too_large = Ask::new(Method::PATCH, item("bea")).token(&token).json(&big);
    pin_exchange(&server, "413_body_too_large", too_large).await;
    let long = format!("{COLLECTION}?$filter=displayName eq '{}'", "x".repeat(20 * 1024));
    pin_exchange(&server, "414_uri_too_long", Ask::get(long).token(&token)).await;
    let text =
        Ask::new(Method::PATCH, item("bea")).token(&token).header("content-type", "text/plain").body(b"x".to_vec());
    pin_exchange(&server, "415_unsupported_media_type", text).await;
    let no_type = Ask::new(Method::PATCH, item("bea")).token(&token).body(b"{}".to_vec());
    pin_exchange(&server, "415_no_content_type", no_type).await;
    let brotli = Ask::new(Method::PATCH, item("bea")).token(&token).json("{}").header("content-encoding", "br");
    pin_exchange(&server, "415_unsupported_encoding", brotli).await;
    let padded = Ask::get(COLLECTION).token(&token).header("x-padding", "p".repeat(70 * 1024));
    pin_exchange(&server, "431_headers_too_large", padded).await;
}

/// A tenant over its rate answers 429 with Retry-After.
#[tokio::test]
async fn throttled() {
    let fixture = Fixture::new(Backend::Sqlite);
    let mut config = fixture.config(AuthChoice::Local);
    config.rate_limit = Some(1);
    config.rate_limit_burst = Some(1);
    let server = TestServer::start_config(config).await;
    let token = server.token(TENANT_A, READ_WRITE);
    assert_eq!(exchange(&server, Ask::get(COLLECTION).token(&token)).await.status(), 200);
    pin_exchange(&server, "429_throttled", Ask::get(COLLECTION).token(&token)).await;
}

/// Requests the HTTP/1 connection itself refuses before any handler sees them.
#[tokio::test]
async fn refused_by_the_transport() {
    let server = TestServer::start(Backend::Sqlite).await;
    let huge = format!("GET /healthz HTTP/1.1\r\nHost: graphsec.test\r\nx-padding: {}\r\n\r\n", "p".repeat(200 * 1024));
    pin_raw("431_head_over_the_read_buffer", &raw_exchange(&server, &huge).await);
    pin_raw("400_malformed_request_line", &raw_exchange(&server, "NOT HTTP AT ALL\r\n\r\n").await);
}
