//! Answers are gzip-compressed for clients that accept it (docs/errors.md §4), above a
//! kilobyte, `$batch` answers whole.

use crate::support::*;
use graphsec::config::AuthChoice;
use reqwest::Method;
use serde_json::{Value, json};
use std::io::Read;

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).expect("a gzip stream");
    out
}

async fn seeded() -> (TestServer, String) {
    let server = TestServer::start_with(Backend::Sqlite, AuthChoice::Local).await;
    let token = server.token(TENANT_A, READ_WRITE);
    for n in 0..20 {
        server.create(&token, json!({"id": format!("p{n}"), "displayName": "Alex Wilber", "tags": ["HVA"]})).await;
    }
    (server, token)
}

#[tokio::test]
async fn a_large_answer_is_gzipped_for_a_client_that_accepts_it() {
    let (server, token) = seeded().await;
    let plain = server.over_socket(Method::GET, COLLECTION, &token).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain_bytes = plain.bytes().await.unwrap();
    assert!(plain_bytes.len() > 1024);

    let gzipped =
        server.over_socket(Method::GET, COLLECTION, &token).header("Accept-Encoding", "gzip").send().await.unwrap();
    assert_eq!(gzipped.status(), 200);
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    assert!(gzipped.headers()["vary"].to_str().unwrap().to_ascii_lowercase().contains("accept-encoding"));
    assert!(gzipped.headers().contains_key("request-id"), "the request layer's headers stay");
    let compressed = gzipped.bytes().await.unwrap();
    assert!(compressed.len() * 3 < plain_bytes.len(), "{} of {}", compressed.len(), plain_bytes.len());
    let page: Value = serde_json::from_slice(&gunzip(&compressed)).unwrap();
    let plain_page: Value = serde_json::from_slice(&plain_bytes).unwrap();
    assert_eq!(page["value"], plain_page["value"]);
}

#[tokio::test]
async fn small_answers_and_other_encodings_are_sent_as_they_are() {
    let (server, token) = seeded().await;
    let small =
        server.request(Method::GET, &item("p1"), &token).header("Accept-Encoding", "gzip").send().await.unwrap();
    assert_eq!(small.status(), 200);
    assert!(small.headers().get("content-encoding").is_none());
    let other = server.request(Method::GET, COLLECTION, &token).header("Accept-Encoding", "br").send().await.unwrap();
    assert!(other.headers().get("content-encoding").is_none());
    let refused =
        server.request(Method::GET, COLLECTION, &token).header("Accept-Encoding", "gzip;q=0").send().await.unwrap();
    assert!(refused.headers().get("content-encoding").is_none());
}

#[tokio::test]
async fn a_batch_answer_is_gzipped_whole_and_its_items_are_not() {
    let (server, token) = seeded().await;
    let requests: Vec<Value> = (0..10)
        .map(|n| json!({"id": n.to_string(), "method": "GET", "url": format!("/security/userSecurityProfiles/p{n}")}))
        .collect();
    let answer = server
        .request(Method::POST, "/beta/$batch", &token)
        .header("Accept-Encoding", "gzip")
        .json(&json!({"requests": requests}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-encoding"], "gzip");
    let body: Value = serde_json::from_slice(&gunzip(&answer.bytes().await.unwrap())).unwrap();
    let responses = body["responses"].as_array().unwrap();
    assert_eq!(responses.len(), 10);
    for response in responses {
        assert_eq!(response["status"], 200, "{response}");
        assert!(response["headers"].get("Content-Encoding").is_none(), "{response}");
        assert_eq!(response["body"]["displayName"], "Alex Wilber");
    }
}
