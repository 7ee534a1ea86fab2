//! Cross-origin requests from browser pages (docs/errors.md §4): preflights, and the headers a
//! page may read on every answer, errors included.

use crate::support::*;
use graphsec::config::AuthChoice;
use reqwest::Method;
use serde_json::json;

const PAGE: &str = "https://console.example";

#[tokio::test]
async fn a_preflight_from_any_origin_is_answered_without_a_token() {
    let server = TestServer::start(Backend::Sqlite).await;
    let response = server
        .unauthenticated(Method::OPTIONS, &item("p"))
        .header("Origin", PAGE)
        .header("Access-Control-Request-Method", "PATCH")
        .header("Access-Control-Request-Headers", "authorization,content-type,if-match,prefer")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    let methods = headers["access-control-allow-methods"].to_str().unwrap();
    assert!(["GET", "POST", "PATCH", "DELETE"].iter().all(|m| methods.contains(m)), "{methods}");
    let allowed = headers["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    for name in ["authorization", "content-type", "if-match", "prefer", "client-request-id"] {
        assert!(allowed.contains(name), "{name} in {allowed}");
    }
    assert!(headers.contains_key("access-control-max-age"));
}

#[tokio::test]
async fn every_answer_to_a_page_names_the_headers_it_may_read_errors_included() {
    let fixture = Fixture::new(Backend::Sqlite);
    let mut config = fixture.config(AuthChoice::Local);
    config.rate_limit = Some(1);
    config.rate_limit_burst = Some(1);
    let server = TestServer::start_config(config).await;
    let token = server.token(TENANT_A, READ_WRITE);
    let created = server
        .request(Method::POST, COLLECTION, &token)
        .header("Origin", PAGE)
        .json(&json!({"id": "p"}))
        .send()
        .await
        .unwrap();
    let throttled = server.request(Method::GET, &item("p"), &token).header("Origin", PAGE).send().await.unwrap();
    let unauthenticated = server.request(Method::GET, &item("p"), "bad").header("Origin", PAGE).send().await.unwrap();
    for (response, status) in [(created, 201), (throttled, 429), (unauthenticated, 401)] {
        assert_eq!(response.status(), status);
        let headers = response.headers();
        assert_eq!(headers["access-control-allow-origin"], "*", "{status}");
        let exposed = headers["access-control-expose-headers"].to_str().unwrap();
        for name in ["ETag", "Location", "request-id", "client-request-id", "Retry-After", "WWW-Authenticate"] {
            assert!(exposed.contains(name), "{status}: {name} in {exposed}");
        }
    }
    let same_origin = server.request(Method::GET, COLLECTION, "bad").send().await.unwrap();
    assert!(!same_origin.headers().contains_key("access-control-allow-origin"), "no Origin, no CORS headers");
}

#[tokio::test]
async fn only_the_configured_origins_are_let_in() {
    let fixture = Fixture::new(Backend::Sqlite);
    let mut config = fixture.config(AuthChoice::Local);
    config.cors_origins = format!("{PAGE}, https://other.example");
    let server = TestServer::start_config(config).await;
    let token = server.token(TENANT_A, READ);
    let allowed = server.request(Method::GET, COLLECTION, &token).header("Origin", PAGE).send().await.unwrap();
    assert_eq!(allowed.headers()["access-control-allow-origin"], PAGE);
    assert_eq!(allowed.headers()["vary"], "Origin");
    let stranger =
        server.request(Method::GET, COLLECTION, &token).header("Origin", "https://evil.example").send().await.unwrap();
    assert!(!stranger.headers().contains_key("access-control-allow-origin"));
    let preflight = server
        .unauthenticated(Method::OPTIONS, COLLECTION)
        .header("Origin", "https://evil.example")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 405, "a stranger's preflight is not answered as one");
    assert!(!preflight.headers().contains_key("access-control-allow-origin"));

    let other = Fixture::new(Backend::Sqlite);
    let mut config = other.config(AuthChoice::Local);
    config.cors_origins = String::new();
    let closed = TestServer::start_config(config).await;
    let preflight = closed
        .unauthenticated(Method::OPTIONS, COLLECTION)
        .header("Origin", PAGE)
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 405, "--cors-origins '' lets no page in");
}
