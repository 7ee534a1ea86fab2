//! Server limits and TLS: slow clients, too many connections, oversized URLs and headers, HTTPS.

use crate::support::*;
use graphsec::config::AuthChoice;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn read_all(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut buf = Vec::new();
    match tokio::time::timeout(within, stream.read_to_end(&mut buf)).await {
        Ok(_) => Some(String::from_utf8_lossy(&buf).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test]
async fn a_slow_client_is_cut_off_after_the_header_read_timeout() {
    let fixture = Fixture::new(Backend::Sqlite);
    let mut config = fixture.config(AuthChoice::Local);
    config.header_read_timeout = 1;
    let server = TestServer::start_config(config).await;
    let mut stream = TcpStream::connect(server.base.trim_start_matches("http://")).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
    let started = Instant::now();
    let answer = read_all(&mut stream, Duration::from_secs(5)).await.expect("the server closed the connection");
    assert!(started.elapsed() < Duration::from_secs(4));
    // hyper closes such a connection without an answer (a request it never read has none).
    assert_eq!(answer, "", "the slow request was not served");
}

#[tokio::test]
async fn connections_over_the_cap_get_503_and_the_rest_are_served() {
    let fixture = Fixture::new(Backend::Sqlite);
    let mut config = fixture.config(AuthChoice::Local);
    config.max_connections = 2;
    let server = TestServer::start_config(config).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let _idle_a = TcpStream::connect(&addr).await.unwrap();
    let _idle_b = TcpStream::connect(&addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(&addr).await.unwrap();
    third.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let answer = read_all(&mut third, Duration::from_secs(5)).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.to_ascii_lowercase().contains("\r\nretry-after: 1\r\n"), "{head}");
    let body: serde_json::Value = serde_json::from_str(body).expect("Graph's error JSON");
    assert_eq!(body["error"]["code"], "serviceNotAvailable");
    let request_id = body["error"]["innerError"]["request-id"].as_str().expect("a request-id");
    assert!(head.contains(&format!("request-id: {request_id}")), "{head}");
    assert!(body["error"]["innerError"]["date"].is_string());
    drop(_idle_a);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let response = reqwest::Client::new().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200, "a freed slot serves again");
}

#[tokio::test]
async fn oversized_urls_are_414_and_oversized_headers_431() {
    let server = TestServer::start(Backend::Sqlite).await;
    let token = server.token(TENANT_A, READ_WRITE);
    let long = format!("{COLLECTION}?$filter=displayName eq '{}'", "x".repeat(20 * 1024));
    let response = server.request(reqwest::Method::GET, &long, &token).send().await.unwrap();
    let body = expect_error(response, 414, "BadRequest").await;
    assert_eq!(body["error"]["innerError"]["code"], "requestUriTooLong");
    let response = server
        .request(reqwest::Method::GET, COLLECTION, &token)
        .header("x-padding", "p".repeat(70 * 1024))
        .send()
        .await;
    let body = expect_error(response.unwrap(), 431, "BadRequest").await;
    assert_eq!(body["error"]["innerError"]["code"], "requestHeadersTooLarge");
    // The server is still healthy afterwards.
    assert_eq!(server.request(reqwest::Method::GET, COLLECTION, &token).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn https_with_a_development_certificate() {
    let fixture = Fixture::new(Backend::Sqlite);
    let tls_dir = fixture.temp.path().join("tls");
    graphsec::tls::write_development_certificate(&tls_dir, &["localhost".into()]).unwrap();
    let mut config = fixture.config(AuthChoice::Local);
    config.tls_cert = Some(tls_dir.join("cert.pem"));
    config.tls_key = Some(tls_dir.join("key.pem"));
    let server = TestServer::start_config(config).await;
    let port = server.base.rsplit(':').next().unwrap().to_string();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(tls_dir.join("cert.pem")).unwrap()).unwrap();
    let client = reqwest::Client::builder().add_root_certificate(ca).build().unwrap();
    let token = server.token(TENANT_A, READ_WRITE);
    let response = client
        .post(format!("https://localhost:{port}{COLLECTION}"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"id": "secure"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["strict-transport-security"], "max-age=31536000", "over TLS only");
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["@odata.context"].as_str().unwrap().starts_with(&format!("https://localhost:{port}/beta/")));
    // Plain HTTP to the TLS port is not served, and the client is told why.
    let plain = reqwest::get(format!("http://localhost:{port}/healthz")).await.unwrap();
    assert_eq!(plain.status(), 400);
    assert!(plain.text().await.unwrap().contains("use https://"));
}
