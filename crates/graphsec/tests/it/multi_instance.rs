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
        let body = read_json(&client, &format!("{base}{}", item("contended")), &token).await;
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

/// One acknowledged PATCH: the profile, the member it added, and its request-id.
#[derive(Debug, Clone)]
struct Acknowledged {
    profile: usize,
    member: String,
    request_id: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(graphsec_test_postgres), ignore = "needs GRAPHSEC_TEST_POSTGRES")]
async fn sixty_four_clients_patching_ten_profiles_through_two_instances_lose_no_acknowledged_change() {
    const PROFILES: usize = 10;
    const CLIENTS: usize = 64;
    const ROUNDS: usize = 6;
    let instances = Instances::start(2).await;
    let token = instances.token();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    for p in 0..PROFILES {
        let created = client
            .post(format!("{}{COLLECTION}", instances.bases[p % 2]))
            .bearer_auth(&token)
            .json(&json!({"id": format!("hot{p}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
    }
    // Even clients PATCH without If-Match (each change must land), odd ones with the ETag they
    // just read (each change lands or is refused with 412); every PATCH adds a member of its own.
    let acknowledged: Arc<Mutex<Vec<Acknowledged>>> = Arc::default();
    let refused: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (client, token, bases) = (client.clone(), token.clone(), instances.bases.clone());
        let (acknowledged, refused) = (acknowledged.clone(), refused.clone());
        clients.push(tokio::spawn(async move {
            for round in 0..ROUNDS {
                let profile = (c + round) % PROFILES;
                let url = format!("{}{}", bases[(c + round) % 2], item(&format!("hot{profile}")));
                let member = format!("c{c}r{round}");
                let mut patch = client.patch(&url).bearer_auth(&token).json(&json!({member.clone(): round}));
                if c % 2 == 1 {
                    let current = client.get(&url).bearer_auth(&token).send().await.unwrap();
                    assert_eq!(current.status(), 200);
                    patch = patch.header("If-Match", current.headers()["etag"].to_str().unwrap());
                }
                let response = patch.send().await.unwrap();
                let status = response.status();
                let request_id = response.headers()["request-id"].to_str().unwrap().to_string();
                match status {
                    StatusCode::OK => acknowledged.lock().unwrap().push(Acknowledged { profile, member, request_id }),
                    StatusCode::PRECONDITION_FAILED if c % 2 == 1 => refused.lock().unwrap().push((profile, member)),
                    other => panic!("client {c} round {round}: {other} {}", response.text().await.unwrap()),
                }
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    let refused = refused.lock().unwrap().clone();
    assert_eq!(acknowledged.len() + refused.len(), CLIENTS * ROUNDS);
    assert!(!refused.is_empty(), "the conditional clients never contended; the test proves nothing");

    let schema = instances.fixture.schema().expect("a PostgreSQL fixture").to_string();
    let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&required_postgres_url()).await.unwrap();
    let audit = format!("SELECT profile_id, request_id FROM \"{schema}\".audit_log WHERE operation = 'update'");
    let audited: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(audit)).fetch_all(&mut db).await.unwrap();
    let audited: BTreeSet<(String, String)> = audited.into_iter().collect();
    let expected: BTreeSet<(String, String)> =
        acknowledged.iter().map(|a| (format!("hot{}", a.profile), a.request_id.clone())).collect();
    assert_eq!(audited, expected, "the audit trail is exactly the acknowledged PATCHes, each once");

    for p in 0..PROFILES {
        let body = read_json(&client, &format!("{}{}", instances.bases[p % 2], item(&format!("hot{p}"))), &token).await;
        let mine: Vec<&Acknowledged> = acknowledged.iter().filter(|a| a.profile == p).collect();
        for a in &mine {
            assert!(body.get(&a.member).is_some(), "hot{p}: the acknowledged change {} was lost", a.member);
        }
        for (_, member) in refused.iter().filter(|(profile, _)| *profile == p) {
            assert!(body.get(member).is_none(), "hot{p}: the refused change {member} was stored");
        }
        assert_eq!(body["@odata.etag"], format!("W/\"{}\"", mine.len() + 1), "hot{p}: one version per change");
    }
}

/// The JSON body of a GET on one instance.
async fn read_json(client: &reqwest::Client, url: &str, token: &str) -> Value {
    client.get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap()
}
