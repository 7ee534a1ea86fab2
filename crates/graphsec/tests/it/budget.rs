//! The response memory budget (`--response-memory-mb`): large answers take their size from it
//! until they are sent, wait a bounded time for room, and are refused with 503 and Retry-After
//! when it is short; small answers never wait for it.
//! The answers are read as they stream over a real socket: the budget is about bytes in flight.

use crate::support::*;
use graphsec::config::AuthChoice;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

backend_tests!(
    a_page_larger_than_the_budget_is_refused_at_once_and_light_requests_go_on,
    batch_items_take_the_budget_one_by_one,
    concurrent_heavy_requests_share_the_budget_and_give_it_all_back
);

/// Each profile's stored document is a little over 2 KB.
const ROW_PADDING: usize = 2000;

/// A server whose budget is `budget_mb` and whose heavy requests wait at most a second for it.
async fn start(backend: Backend, budget_mb: u32) -> (Fixture, TestServer) {
    let fixture = Fixture::new(backend);
    let mut config = fixture.config(AuthChoice::Local);
    config.response_memory_mb = budget_mb;
    config.response_memory_wait = 1;
    config.max_body_bytes = 4 << 20;
    let server = TestServer::start_config(config).await;
    (fixture, server)
}

/// Creates `n` profiles `p0000`.. through batches of 20 POSTs.
async fn seed(server: &TestServer, token: &str, n: usize) {
    for first in (0..n).step_by(20) {
        let requests: Vec<Value> = (first..n.min(first + 20))
            .map(|i| {
                json!({"id": i.to_string(), "method": "POST", "url": "/security/userSecurityProfiles",
                       "headers": {"Content-Type": "application/json"},
                       "body": {"id": format!("p{i:04}"), "displayName": "x".repeat(ROW_PADDING)}})
            })
            .collect();
        let (status, body) = batch(server, token, json!({ "requests": requests })).await;
        assert_eq!(status, 200);
        assert!(body["responses"].as_array().unwrap().iter().all(|r| r["status"] == 201), "{body}");
    }
}

async fn batch(server: &TestServer, token: &str, body: Value) -> (u16, Value) {
    let response = server.over_socket(Method::POST, "/beta/$batch", token).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn list(top: usize) -> String {
    format!("{COLLECTION}?$top={top}")
}

/// The same list as a batch item's url (relative to `/beta`).
fn item_list(top: usize) -> String {
    format!("/security/userSecurityProfiles?$top={top}")
}

fn statuses(body: &Value) -> Vec<u64> {
    body["responses"].as_array().unwrap().iter().map(|r| r["status"].as_u64().unwrap()).collect()
}

/// Waits until every reservation has been given back (the last chunks are dropped by hyper just
/// after the client has read them).
async fn assert_budget_returned(server: &TestServer) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.budget.in_use_bytes() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.budget.in_use_bytes(), 0, "the budget leaked");
}

async fn a_page_larger_than_the_budget_is_refused_at_once_and_light_requests_go_on(backend: Backend) {
    let (_fixture, server) = start(backend, 1).await;
    let token = server.token(TENANT_A, READ_WRITE);
    seed(&server, &token, 600).await;

    let started = Instant::now();
    let response = server.over_socket(Method::GET, &list(1000), &token).send().await.unwrap();
    assert!(response.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    let body = expect_error(response, 503, "serviceNotAvailable").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("$top"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(1), "refused without waiting: {:?}", started.elapsed());

    // Small answers do not need the budget; a page that fits in it is served.
    let one = server.get_json(&item("p0001"), &token).await;
    assert_eq!(one["id"], "p0001");
    let page = server.get_json(&list(5), &token).await;
    assert_eq!(page["value"].as_array().unwrap().len(), 5);
    let page = server.get_json(&list(300), &token).await;
    assert_eq!(page["value"].as_array().unwrap().len(), 300, "a page of ~650 KB fits in 1 MiB");
    let count = server.over_socket(Method::GET, &format!("{COLLECTION}/$count"), &token).send().await.unwrap();
    assert_eq!(count.text().await.unwrap(), "600");

    // A profile of 1.5 MB: writing it is answered with it (refusing that answer would hide that
    // the write was made); reading it back does not fit in the budget.
    let created = server.create(&token, json!({"id": "huge", "blob": "b".repeat(1_500_000)})).await;
    assert_eq!(created["blob"].as_str().unwrap().len(), 1_500_000);
    let response = server.over_socket(Method::GET, &item("huge"), &token).send().await.unwrap();
    expect_error(response, 503, "serviceNotAvailable").await;
    let response =
        server.over_socket(Method::GET, &format!("{}?$select=id", item("huge")), &token).send().await.unwrap();
    assert_eq!(response.status(), 200, "$select makes it small");
    assert_budget_returned(&server).await;
    assert!(server.budget.peak_bytes() <= server.budget.total_bytes());
}

async fn batch_items_take_the_budget_one_by_one(backend: Backend) {
    let (_fixture, server) = start(backend, 1).await;
    let token = server.token(TENANT_A, READ_WRITE);
    seed(&server, &token, 600).await;

    // Ten pages of ~650 KB: together far more than the budget, each within it. Items run and
    // are sent one after the other, each giving its share back before the next takes it.
    let started = Instant::now();
    let requests: Vec<Value> =
        (0..10).map(|i| json!({"id": i.to_string(), "method": "GET", "url": item_list(300)})).collect();
    let (status, body) = batch(&server, &token, json!({ "requests": requests })).await;
    assert_eq!(status, 200);
    assert_eq!(statuses(&body), vec![200; 10], "{:?}", started.elapsed());
    assert!(body["responses"].as_array().unwrap().iter().all(|r| r["body"]["value"].as_array().unwrap().len() == 300));
    assert!(started.elapsed() < Duration::from_secs(10));

    // An item larger than the budget is answered 503 inside the batch (which itself is 200), its
    // dependants 424, and the light items beside it are served.
    let (status, body) = batch(
        &server,
        &token,
        json!({"requests": [
            {"id": "big", "method": "GET", "url": item_list(1000)},
            {"id": "after-big", "method": "GET", "url": item_list(1), "dependsOn": ["big"]},
            {"id": "one", "method": "GET", "url": "/security/userSecurityProfiles/p0007"},
            {"id": "small", "method": "GET", "url": item_list(3)},
            {"id": "count", "method": "GET", "url": "/security/userSecurityProfiles/$count"}
        ]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(statuses(&body), [503, 424, 200, 200, 200]);
    let big = &body["responses"][0];
    assert!(big["headers"]["Retry-After"].as_str().unwrap().parse::<u64>().unwrap() >= 1, "{big}");
    assert_eq!(big["body"]["error"]["code"], "serviceNotAvailable");
    assert_eq!(body["responses"][2]["body"]["id"], "p0007");
    assert_eq!(body["responses"][4]["body"], "NjAw", "600, base64");

    // Answers that finish before their turn (a later item depends on them) keep their share until
    // they are written. Here the one kept back and the one that would run next do not fit
    // together: the second waits its bounded time and is refused, and nothing deadlocks.
    let started = Instant::now();
    let (status, body) = batch(
        &server,
        &token,
        json!({"requests": [
            {"id": "last", "method": "GET", "url": item_list(10), "dependsOn": ["first", "second"]},
            {"id": "first", "method": "GET", "url": item_list(300)},
            {"id": "second", "method": "GET", "url": item_list(400)}
        ]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(statuses(&body), [424, 200, 503]);
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert_budget_returned(&server).await;
}

async fn concurrent_heavy_requests_share_the_budget_and_give_it_all_back(backend: Backend) {
    let (_fixture, server) = start(backend, 2).await;
    let server = std::sync::Arc::new(server);
    let token = server.token(TENANT_A, READ_WRITE);
    seed(&server, &token, 300).await;

    // Pages of ~650 KB: three fit in the budget at once. Twelve lists and four batches of five
    // pages ask for far more; each is served or refused with 503 and Retry-After, whole.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let (server, token) = (server.clone(), token.clone());
        tasks.spawn(async move {
            if i % 4 == 0 {
                let requests: Vec<Value> =
                    (0..5).map(|n| json!({"id": n.to_string(), "method": "GET", "url": item_list(300)})).collect();
                let (status, body) = batch(&server, &token, json!({ "requests": requests })).await;
                assert_eq!(status, 200);
                for answer in body["responses"].as_array().unwrap() {
                    match answer["status"].as_u64().unwrap() {
                        200 => assert_eq!(answer["body"]["value"].as_array().unwrap().len(), 300),
                        503 => assert!(answer["headers"]["Retry-After"].is_string()),
                        other => panic!("item answered {other}"),
                    }
                }
                statuses(&body).iter().filter(|s| **s == 200).count()
            } else {
                let response = server.over_socket(Method::GET, &list(300), &token).send().await.unwrap();
                match response.status().as_u16() {
                    200 => {
                        let page: Value = response.json().await.unwrap();
                        assert_eq!(page["value"].as_array().unwrap().len(), 300);
                        1
                    }
                    503 => {
                        assert!(response.headers().contains_key("retry-after"));
                        expect_error(response, 503, "serviceNotAvailable").await;
                        0
                    }
                    other => panic!("list answered {other}"),
                }
            }
        });
    }
    let mut served = 0;
    while let Some(result) = tasks.join_next().await {
        served += result.unwrap();
    }
    assert!(served >= 3, "only {served} pages were served");
    assert!(server.budget.peak_bytes() > server.budget.total_bytes() / 2, "the pages took their size from the budget");
    assert!(server.budget.peak_bytes() <= server.budget.total_bytes());
    assert_budget_returned(&server).await;
}

#[tokio::test]
async fn a_client_that_goes_away_gives_its_budget_back() {
    let (_fixture, server) = start(Backend::Sqlite, 4).await;
    let token = server.token(TENANT_A, READ_WRITE);
    seed(&server, &token, 600).await;
    // A batch of ~27 MB, more than the kernel's socket buffers take in, whose reader stops after
    // the first bytes and closes the connection.
    let requests: Vec<Value> =
        (0..20).map(|n| json!({"id": n.to_string(), "method": "GET", "url": item_list(600)})).collect();
    let mut response = server
        .over_socket(Method::POST, "/beta/$batch", &token)
        .json(&json!({ "requests": requests }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.chunk().await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(server.budget.in_use_bytes() > 0, "the batch being sent holds part of the budget");
    drop(response);
    assert_budget_returned(&server).await;
}
