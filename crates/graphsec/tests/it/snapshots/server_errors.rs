//! Every 5xx body: store faults (through the SQLite store's fault hooks), timeouts, the response
//! memory budget, the connection cap, and chaos mode's injected failures.

use super::*;
use graphsec::config::{AuthChoice, ServeConfig};
use graphsec::store::sqlite::faults::{Fault, Step};
use std::time::Duration;

fn create(token: &str, id: &str) -> Ask {
    Ask::new(Method::POST, COLLECTION).token(token).json(&format!(r#"{{"id": "{id}"}}"#))
}

async fn start(change: impl FnOnce(&mut ServeConfig)) -> (TestServer, Fixture) {
    let fixture = Fixture::new(Backend::Sqlite);
    let mut config = fixture.config(AuthChoice::Local);
    change(&mut config);
    (TestServer::start_config(config).await, fixture)
}

#[tokio::test]
async fn store_faults() {
    let server = TestServer::start(Backend::Sqlite).await;
    let token = server.token(TENANT_A, READ_WRITE);
    sqlite_faults(&server).arm(Step::Statement, Fault::Io, 0, 1);
    pin_exchange(&server, "500_store_io_error", create(&token, "a")).await;
    sqlite_faults(&server).arm(Step::Begin, Fault::Busy, 0, 1);
    pin_exchange(&server, "503_database_busy", create(&token, "b")).await;
    sqlite_faults(&server).arm(Step::Statement, Fault::DiskFull, 0, 1);
    pin_exchange(&server, "507_disk_full", create(&token, "c")).await;
    sqlite_faults(&server).arm(Step::Sync, Fault::Io, 0, 1);
    pin_exchange(&server, "503_store_failed", create(&token, "d")).await;
    pin_exchange(&server, "503_store_failed_next_write", create(&token, "e")).await;
    pin_exchange(&server, "503_readyz_store_failed", Ask::get("/readyz")).await;
    assert!(server.stop_with_result().await.is_err(), "a failed store stops the server with an error");
}

/// A write still queued when its request's time is up, alone and as a `$batch` item.
#[tokio::test]
async fn request_timeouts() {
    let (server, _fixture) = start(|c| c.request_timeout = 1).await;
    let token = server.token(TENANT_A, READ_WRITE);
    for (name, ask) in [
        ("503_request_timeout", create(&token, "queued")),
        (
            "503_request_timeout_batch_item",
            Ask::new(Method::POST, "/beta/$batch").token(&token).json(
                r#"{"requests": [{"id": "1", "method": "POST", "url": "/security/userSecurityProfiles", "headers": {"Content-Type": "application/json"}, "body": {"id": "batched"}}]}"#,
            ),
        ),
    ] {
        sqlite_faults(&server).arm(Step::Begin, Fault::Stall(Duration::from_millis(2500)), 0, 1);
        let blocker = server.request(Method::POST, COLLECTION, &token).json(&serde_json::json!({"id": name})).send();
        let blocker = tokio::spawn(blocker);
        tokio::time::sleep(Duration::from_millis(300)).await;
        pin_exchange(&server, name, ask).await;
        assert_eq!(blocker.await.unwrap().unwrap().status(), 201);
    }
}

/// A profile larger than the whole response memory budget cannot be sent.
#[tokio::test]
async fn response_larger_than_the_memory_budget() {
    let (server, _fixture) = start(|c| {
        c.response_memory_mb = 1;
        c.max_body_bytes = 4 << 20;
    })
    .await;
    let token = server.token(TENANT_A, READ_WRITE);
    server.create(&token, serde_json::json!({"id": "huge", "displayName": "x".repeat(3 << 19)})).await;
    pin_exchange(&server, "503_response_too_large", Ask::get(item("huge")).token(&token)).await;
}

/// Over the connection cap the server writes a short answer of its own and closes.
#[tokio::test]
async fn connection_cap() {
    let (server, _fixture) = start(|c| c.max_connections = 1).await;
    let _idle = tokio::net::TcpStream::connect(server.base.trim_start_matches("http://")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let answer = raw_exchange(&server, "GET /healthz HTTP/1.1\r\nHost: graphsec.test\r\n\r\n").await;
    pin_raw("503_connection_cap", &answer);
}

/// Chaos mode at a failure rate of 1 answers each request with one of four failures.
#[tokio::test]
async fn chaos_failures() {
    let (server, _fixture) = start(|c| c.chaos_rate = 1.0).await;
    let token = server.token(TENANT_A, READ_WRITE);
    let mut pinned = std::collections::BTreeSet::new();
    for _ in 0..400 {
        let answer = exchange(&server, Ask::get(COLLECTION).token(&token)).await;
        let status = answer.status();
        if pinned.insert(status) {
            pin(&format!("{status}_chaos"), &answer);
        }
        if pinned.len() == 4 {
            break;
        }
    }
    assert_eq!(pinned.into_iter().collect::<Vec<_>>(), [429, 500, 503, 504]);
}
