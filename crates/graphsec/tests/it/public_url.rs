//! The address links point at (docs/operations.md §7): the request's own by default,
//! `--public-url` when set, and what a trusted proxy forwarded.

use crate::support::*;
use graphsec::config::AuthChoice;
use reqwest::Method;
use serde_json::{Value, json};

const PUBLIC: &str = "https://graph.example.com";

/// Two profiles and a page size of one, so that a list has a nextLink.
async fn server_with(public_url: Option<&str>, trusted_proxies: &str) -> (TestServer, String) {
    let fixture = Fixture::new(Backend::Sqlite);
    let mut config = fixture.config(AuthChoice::Local);
    config.public_url = public_url.map(str::to_string);
    config.trusted_proxies = trusted_proxies.to_string();
    config.page_size = 1;
    let mut server = TestServer::start_config(config).await;
    let token = server.token(TENANT_A, READ_WRITE);
    server.create(&token, json!({"id": "a"})).await;
    server.create(&token, json!({"id": "b"})).await;
    server.own_fixture(fixture);
    (server, token)
}

/// The first page of the collection, asked over the socket with `headers`.
async fn first_page(server: &TestServer, token: &str, headers: &[(&'static str, &'static str)]) -> Value {
    let mut request = server.over_socket(Method::GET, COLLECTION, token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().json().await.unwrap()
}

fn links(page: &Value) -> [&str; 2] {
    [page["@odata.context"].as_str().unwrap(), page["@odata.nextLink"].as_str().unwrap()]
}

#[tokio::test]
async fn links_point_at_the_public_url_whatever_the_request_says() {
    let (server, token) = server_with(Some(PUBLIC), "").await;
    let page = first_page(&server, &token, &[("X-Forwarded-Host", "elsewhere.test")]).await;
    for link in links(&page) {
        assert!(link.starts_with("https://graph.example.com/beta/"), "{link}");
    }
    let created = server.request(Method::POST, COLLECTION, &token).json(&json!({"id": "c"})).send().await.unwrap();
    assert_eq!(created.headers()["location"], "https://graph.example.com/beta/security/userSecurityProfiles/c");
    let minimal = server
        .request(Method::POST, COLLECTION, &token)
        .header("Prefer", "return=minimal")
        .json(&json!({"id": "d"}))
        .send()
        .await
        .unwrap();
    assert_eq!(minimal.headers()["odata-entityid"], "https://graph.example.com/beta/security/userSecurityProfiles/d");
}

#[tokio::test]
async fn batch_items_link_to_the_public_url_and_may_name_it() {
    let (server, token) = server_with(Some(PUBLIC), "").await;
    let batch = json!({"requests": [
        {"id": "1", "method": "GET", "url": "/security/userSecurityProfiles"},
        {"id": "2", "method": "GET", "url": "https://graph.example.com/beta/security/userSecurityProfiles/a"},
    ]});
    let answer: Value =
        server.request(Method::POST, "/beta/$batch", &token).json(&batch).send().await.unwrap().json().await.unwrap();
    let by_id = |id: &str| answer["responses"].as_array().unwrap().iter().find(|r| r["id"] == id).unwrap().clone();
    for link in links(&by_id("1")["body"]) {
        assert!(link.starts_with("https://graph.example.com/beta/"), "{link}");
    }
    assert_eq!(by_id("2")["status"], 200, "{answer}");
    assert!(by_id("2")["body"]["@odata.context"].as_str().unwrap().starts_with(PUBLIC));
    let elsewhere = json!({"requests": [
        {"id": "1", "method": "GET", "url": format!("{}/beta/security/userSecurityProfiles/a", server.base)},
    ]});
    let refused = server.request(Method::POST, "/beta/$batch", &token).json(&elsewhere).send().await.unwrap();
    expect_error(refused, 400, "BadRequest").await;
}

#[tokio::test]
async fn forwarded_headers_count_only_from_trusted_proxies() {
    let (trusting, token) = server_with(None, "127.0.0.0/8").await;
    let forwarded = [
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "api.example.com"),
        ("Forwarded", "for=192.0.2.1;proto=https;host=api.example.com:8443"),
    ];
    let page = first_page(&trusting, &token, &forwarded[..2]).await;
    assert_eq!(links(&page).map(|l| l.split("/beta").next().unwrap()), ["https://api.example.com"; 2]);
    let page = first_page(&trusting, &token, &forwarded).await;
    assert_eq!(links(&page).map(|l| l.split("/beta").next().unwrap()), ["https://api.example.com:8443"; 2]);

    // A client is not a proxy: in-process requests have no trusted peer, and a server that
    // trusts another network ignores the headers.
    let page: Value = trusting
        .request(Method::GET, COLLECTION, &token)
        .header("X-Forwarded-Host", "api.example.com")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(links(&page)[1].starts_with("http://127.0.0.1:"), "{page}");
    let (distrusting, token) = server_with(None, "10.0.0.0/8").await;
    let page = first_page(&distrusting, &token, &forwarded).await;
    let own = distrusting.base.clone();
    assert!(links(&page).iter().all(|l| l.starts_with(&own)), "{page}");
}

#[tokio::test]
async fn a_malformed_public_url_or_proxy_list_stops_the_start() {
    let fixture = Fixture::new(Backend::Sqlite);
    for (public_url, proxies, expected) in [
        (Some("graph.example.com"), "", "--public-url takes scheme://host[:port]"),
        (Some("https://graph.example.com/beta"), "", "--public-url takes scheme://host[:port]"),
        (None, "10.0.0.0/33", "--trusted-proxies takes addresses or networks"),
    ] {
        let mut config = fixture.config(AuthChoice::Local);
        config.public_url = public_url.map(str::to_string);
        config.trusted_proxies = proxies.to_string();
        let error = graphsec::app::Server::bind(&config).await.err().expect("refused").to_string();
        assert!(error.contains(expected), "{error}");
    }
}
