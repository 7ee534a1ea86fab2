//! Two `graphsec serve` processes on one PostgreSQL database behave as one service.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Instances {
    fixture: Fixture,
    children: Vec<Running>,
    bases: Vec<String>,
}

impl Instances {
    async fn start(n: usize) -> Instances {
        let fixture = Fixture::new(Backend::Postgres);
        let args = fixture.serve_args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let client = reqwest::Client::new();
        let mut instances = Instances { fixture, children: Vec::new(), bases: Vec::new() };
        for _ in 0..n {
            let port = free_port();
            instances.children.push(start_binary(port, &args));
            let base = format!("http://127.0.0.1:{port}");
            wait_ready(&client, &base).await;
            instances.bases.push(base);
        }
        instances
    }

    fn token(&self) -> String {
        mint(self.fixture.temp.path(), TENANT_A, READ_WRITE, false)
    }
}

impl Drop for Instances {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(graphsec_test_postgres), ignore = "needs GRAPHSEC_TEST_POSTGRES")]
async fn conditional_updates_through_two_instances_step_the_version_exactly_once_each() {
    let instances = Instances::start(2).await;
    let token = instances.token();
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{}{COLLECTION}", instances.bases[0]))
        .bearer_auth(&token)
        .json(&json!({"id": "contended"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    let winning_etags: Arc<Mutex<Vec<String>>> = Arc::default();
    let refused = Arc::new(Mutex::new(0u64));
    let mut clients = Vec::new();
    for c in 0..12usize {
        let (client, token, winning_etags, refused) =
            (client.clone(), token.clone(), winning_etags.clone(), refused.clone());
        let bases = instances.bases.clone();
        clients.push(tokio::spawn(async move {
            for round in 0..15usize {
                let base = &bases[(c + round) % bases.len()];
                let url = format!("{base}{}", item("contended"));
                let current = client.get(&url).bearer_auth(&token).send().await.unwrap();
                let etag = current.headers()["etag"].to_str().unwrap().to_string();
                let response = client
                    .patch(&url)
                    .bearer_auth(&token)
                    .header("If-Match", etag)
                    .json(&json!({"displayName": format!("client {c} round {round}")}))
                    .send()
                    .await
                    .unwrap();
                match response.status() {
                    StatusCode::OK => {
                        winning_etags.lock().unwrap().push(response.headers()["etag"].to_str().unwrap().to_string())
                    }
                    StatusCode::PRECONDITION_FAILED => *refused.lock().unwrap() += 1,
                    other => panic!("unexpected {other}"),
                }
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    let wins = winning_etags.lock().unwrap().clone();
    let refused = *refused.lock().unwrap();
    assert_eq!(wins.len() as u64 + refused, 12 * 15);
    assert!(refused > 0, "the clients never contended; the test proves nothing");
    // Every 200 is its own version step: versions 2..=wins+1, each exactly once.
    let distinct: BTreeSet<&String> = wins.iter().collect();
    assert_eq!(distinct.len(), wins.len(), "two successful updates produced the same version");
    let expected: BTreeSet<String> = (2..=wins.len() + 1).map(|v| format!("W/\"{v}\"")).collect();
    assert_eq!(distinct.into_iter().cloned().collect::<BTreeSet<_>>(), expected);
    for base in &instances.bases {
        let body: Value = client
            .get(format!("{base}{}", item("contended")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body["@odata.etag"], format!("W/\"{}\"", wins.len() + 1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(graphsec_test_postgres), ignore = "needs GRAPHSEC_TEST_POSTGRES")]
async fn killing_one_instance_mid_load_loses_no_acknowledged_write() {
    let mut instances = Instances::start(2).await;
    let token = instances.token();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let served_after_kill = Arc::new(Mutex::new(0u64));
    let killed_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let deadline = Instant::now() + Duration::from_millis(2500);
    let mut writers = Vec::new();
    for w in 0..8usize {
        let (client, token, acknowledged) = (client.clone(), token.clone(), acknowledged.clone());
        let (served_after_kill, killed_at) = (served_after_kill.clone(), killed_at.clone());
        let bases = instances.bases.clone();
        writers.push(tokio::spawn(async move {
            let mut i = 0usize;
            while Instant::now() < deadline {
                let id = format!("w{w}-{i}");
                let base = &bases[i % 2];
                i += 1;
                let response = client
                    .post(format!("{base}{COLLECTION}"))
                    .bearer_auth(&token)
                    .json(&json!({"id": id}))
                    .send()
                    .await;
                if let Ok(r) = response
                    && r.status() == 201
                {
                    acknowledged.lock().unwrap().push(id);
                    if killed_at.lock().unwrap().is_some() {
                        *served_after_kill.lock().unwrap() += 1;
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    instances.children[0].kill().expect("SIGKILL");
    instances.children[0].wait().unwrap();
    *killed_at.lock().unwrap() = Some(Instant::now());
    for w in writers {
        w.await.unwrap();
    }
    assert!(*served_after_kill.lock().unwrap() > 10, "the surviving instance stopped serving");
    let acknowledged = acknowledged.lock().unwrap().clone();
    let survivor = &instances.bases[1];
    for id in &acknowledged {
        let response = client.get(format!("{survivor}{}", item(id))).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), 200, "acknowledged create of {id} was lost");
    }
}
