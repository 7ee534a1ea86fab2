//! `kill -9` under concurrent writes loses no acknowledged write and leaves a database that opens.

use crate::support::*;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn kill_9_loses_no_acknowledged_write() {
    let temp = tempfile::tempdir().unwrap();
    let token = mint(temp.path(), TENANT_A, READ_WRITE, false);
    let client = reqwest::Client::new();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = start_binary(port, &["--data-dir", temp.path().to_str().unwrap()]);
    wait_ready(&client, &base).await;

    // Writers create new profiles and bump a per-writer counter profile until the process dies.
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let counters: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(vec![0; 6]));
    let mut writers = Vec::new();
    for w in 0..6usize {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        let (acknowledged, counters) = (acknowledged.clone(), counters.clone());
        writers.push(tokio::spawn(async move {
            let counter_url = format!("{base}{}", item(&format!("counter{w}")));
            let created = client
                .post(format!("{base}{COLLECTION}"))
                .bearer_auth(&token)
                .json(&json!({"id": format!("counter{w}"), "n": 0}))
                .send()
                .await;
            if !created.is_ok_and(|r| r.status() == 201) {
                return;
            }
            for i in 0u64.. {
                let id = format!("w{w}-{i}");
                let response = client
                    .post(format!("{base}{COLLECTION}"))
                    .bearer_auth(&token)
                    .json(&json!({"id": id}))
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status() == 201 => acknowledged.lock().unwrap().push(id),
                    _ => return,
                }
                let response = client.patch(&counter_url).bearer_auth(&token).json(&json!({"n": i + 1})).send().await;
                match response {
                    Ok(r) if r.status() == 200 => counters.lock().unwrap()[w] = i + 1,
                    _ => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    let counters = counters.lock().unwrap().clone();
    assert!(acknowledged.len() > 50, "the load was too small to mean anything: {}", acknowledged.len());

    let mut child = start_binary(port, &["--data-dir", temp.path().to_str().unwrap()]);
    wait_ready(&client, &base).await;
    for id in &acknowledged {
        let response = client.get(format!("{base}{}", item(id))).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), 200, "acknowledged create of {id} was lost");
    }
    for (w, n) in counters.iter().enumerate() {
        let body: serde_json::Value = client
            .get(format!("{base}{}", item(&format!("counter{w}"))))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let stored = body["n"].as_u64().unwrap();
        // The last PATCH may have committed without its answer arriving; never less.
        assert!(stored == *n || stored == n + 1, "counter{w}: acknowledged {n}, stored {stored}");
    }
    let count = client
        .get(format!("{base}{COLLECTION}/$count"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(count.parse::<usize>().unwrap() >= acknowledged.len() + 6);
    child.kill().unwrap();
    child.wait().unwrap();
}
