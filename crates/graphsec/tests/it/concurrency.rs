//! docs/concurrency.md: versions, conditional updates under contention, no lost writes.

use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(
    concurrent_conditional_updates_have_exactly_one_winner_per_version,
    unconditional_concurrent_patches_of_different_members_are_all_kept
);

async fn concurrent_conditional_updates_have_exactly_one_winner_per_version(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.token(TENANT_A, READ_WRITE);
    server.create(&token, json!({"id": "hot"})).await;
    let mut successes = 0;
    for round in 1..=5 {
        let etag = format!("W/\"{round}\"");
        let attempts = (0..8).map(|writer| {
            let request = server
                .request(Method::PATCH, &item("hot"), &token)
                .header("If-Match", etag.clone())
                .json(&json!({"displayName": format!("round {round} writer {writer}")}));
            async move { request.send().await.unwrap().status().as_u16() }
        });
        let statuses = futures_join_all(attempts).await;
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "round {round}: {statuses:?}");
        assert!(statuses.iter().all(|s| *s == 200 || *s == 412), "{statuses:?}");
        successes += 1;
    }
    let body: Value = server.get_json(&item("hot"), &token).await;
    assert_eq!(body["@odata.etag"], format!("W/\"{}\"", successes + 1));
}

async fn unconditional_concurrent_patches_of_different_members_are_all_kept(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.token(TENANT_A, READ_WRITE);
    server.create(&token, json!({"id": "shared"})).await;
    let writes = (0..20).map(|i| {
        let request = server.request(Method::PATCH, &item("shared"), &token).json(&json!({format!("member{i}"): i}));
        async move { request.send().await.unwrap().status().as_u16() }
    });
    let statuses = futures_join_all(writes).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let body: Value = server.get_json(&item("shared"), &token).await;
    for i in 0..20 {
        assert_eq!(body[format!("member{i}")], i, "write {i} was lost");
    }
    assert_eq!(body["@odata.etag"], "W/\"21\"");
}

/// Runs futures concurrently on the current task set.
async fn futures_join_all<F: std::future::Future<Output = u16> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<u16> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}
