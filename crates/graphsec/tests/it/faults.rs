//! Injected faults on the SQLite write path: whichever step fails, every client's answer matches
//! what the database holds, and the server says what state it is in.

use crate::support::*;
use graphsec::config::AuthChoice;
use graphsec::store::sqlite::faults::{Fault, Faults, Step};
use graphsec::store::{AuditQuery, Store};
use reqwest::Method;
use serde_json::json;

fn faults(server: &TestServer) -> &Faults {
    match &server.store {
        Store::Sqlite(store) => store.faults(),
        Store::Postgres(_) => panic!("fault injection is for the SQLite store"),
    }
}

async fn audit_rows(server: &TestServer, id: &str, operation: &str) -> usize {
    let query = AuditQuery {
        profile_id: Some(id.into()),
        operation: Some(operation.into()),
        limit: 100,
        ..AuditQuery::default()
    };
    server.store.audit(query).await.unwrap().len()
}

/// Sends one request per id at once (so the writer groups them); each id with its answer's status.
async fn send_all(server: &TestServer, token: &str, method: Method, ids: &[String]) -> Vec<(String, u16)> {
    let requests = ids.iter().map(|id| {
        let request = match method {
            Method::POST => server.request(Method::POST, COLLECTION, token).json(&json!({"id": id})),
            _ => server.request(method.clone(), &item(id), token).json(&json!({"displayName": "patched"})),
        };
        let id = id.clone();
        tokio::spawn(async move { (id, request.send().await.unwrap().status().as_u16()) })
    });
    let mut answers = Vec::new();
    for request in requests.collect::<Vec<_>>() {
        answers.push(request.await.unwrap());
    }
    answers
}

async fn version(server: &TestServer, token: &str, id: &str) -> Option<u64> {
    let response = server.request(Method::GET, &item(id), token).send().await.unwrap();
    match response.status().as_u16() {
        404 => None,
        200 => Some(
            response.json::<serde_json::Value>().await.unwrap()["@odata.etag"].as_str().unwrap()[3..]
                .trim_end_matches('"')
                .parse()
                .unwrap(),
        ),
        other => panic!("GET {id} answered {other}"),
    }
}

/// A created profile exists, with one audit row, exactly when its client was told 201.
async fn assert_creates_as_told(server: &TestServer, token: &str, answers: &[(String, u16)]) {
    for (id, status) in answers {
        let (stored, audited) = (version(server, token, id).await, audit_rows(server, id, "create").await);
        match status {
            201 => assert_eq!((stored, audited), (Some(1), 1), "{id} was answered 201"),
            _ => assert_eq!((stored, audited), (None, 0), "{id} was answered {status}"),
        }
    }
}

/// A PATCH was applied once, with one audit row, exactly when its client was told 200.
async fn assert_patches_as_told(server: &TestServer, token: &str, answers: &[(String, u16)]) {
    for (id, status) in answers {
        let (stored, audited) = (version(server, token, id).await, audit_rows(server, id, "update").await);
        match status {
            200 => assert_eq!((stored, audited), (Some(2), 1), "{id} was answered 200"),
            _ => assert_eq!((stored, audited), (Some(1), 0), "{id} was answered {status}"),
        }
    }
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

#[tokio::test]
async fn a_failure_before_commit_leaves_each_write_as_its_client_was_told() {
    for (step, skip) in [(Step::Begin, 0), (Step::Statement, 1), (Step::Commit, 0)] {
        let server = TestServer::start(Backend::Sqlite).await;
        let token = server.token(TENANT_A, READ_WRITE);
        let creates = ids("c", 12);
        send_all(&server, &token, Method::POST, &creates[..6]).await;
        faults(&server).arm(step, Fault::Io, skip, 2);
        let mut answers = send_all(&server, &token, Method::POST, &creates[6..]).await;
        answers.extend(send_all(&server, &token, Method::PATCH, &creates[..6]).await);
        faults(&server).clear();

        assert!(answers.iter().any(|(_, status)| *status == 500), "{step:?}: the fault never failed a write");
        assert!(answers.iter().all(|(_, status)| matches!(status, 200 | 201 | 500)), "{step:?}: {answers:?}");
        let (created, patched): (Vec<_>, Vec<_>) = answers.into_iter().partition(|(id, _)| creates[6..].contains(id));
        assert_creates_as_told(&server, &token, &created).await;
        assert_patches_as_told(&server, &token, &patched).await;
        server.stop().await;
    }
}

/// A committed group is never applied a second time, whatever fails after its commit.
#[tokio::test]
async fn a_failure_after_commit_is_never_replayed() {
    let server = TestServer::start(Backend::Sqlite).await;
    let token = server.token(TENANT_A, READ_WRITE);
    let profiles = ids("p", 10);
    faults(&server).arm(Step::AfterCommit, Fault::Io, 0, 100);
    let created = send_all(&server, &token, Method::POST, &profiles).await;
    assert!(created.iter().all(|(_, status)| *status == 201), "{created:?}");
    assert_creates_as_told(&server, &token, &created).await;
    let patched = send_all(&server, &token, Method::PATCH, &profiles).await;
    assert!(patched.iter().all(|(_, status)| *status == 200), "{patched:?}");
    assert_patches_as_told(&server, &token, &patched).await;
    faults(&server).clear();
    server.stop().await;
}

#[tokio::test]
async fn a_lock_held_by_another_process_answers_503_with_retry_after() {
    let server = TestServer::start(Backend::Sqlite).await;
    let token = server.token(TENANT_A, READ_WRITE);
    faults(&server).arm(Step::Begin, Fault::Busy, 0, 1);
    let response = server.request(Method::POST, COLLECTION, &token).json(&json!({"id": "a"})).send().await.unwrap();
    assert_eq!(response.headers()["retry-after"], "1");
    expect_error(response, 503, "serviceNotAvailable").await;
    assert_eq!(version(&server, &token, "a").await, None);
    server.create(&token, json!({"id": "a"})).await;
    server.stop().await;
}

#[tokio::test]
async fn a_full_disk_answers_507_and_writes_resume_once_there_is_room() {
    let server = TestServer::start(Backend::Sqlite).await;
    let token = server.token(TENANT_A, READ_WRITE);
    server.create(&token, json!({"id": "kept"})).await;
    faults(&server).arm(Step::Statement, Fault::DiskFull, 0, 3);
    for id in ["a", "b", "c"] {
        let response = server.request(Method::POST, COLLECTION, &token).json(&json!({"id": id})).send().await.unwrap();
        expect_error(response, 507, "insufficientStorage").await;
        let ready = server.client.get(server.url("/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 200, "a full disk passes: the server stays ready");
        assert_eq!(version(&server, &token, "kept").await, Some(1), "reads go on");
    }
    server.create(&token, json!({"id": "a"})).await;
    assert_creates_as_told(&server, &token, &[("a".into(), 201), ("b".into(), 507)]).await;
    server.stop().await;
}

/// A failed fsync and a dead writer each fail the store: writes answer 503 with `Retry-After`,
/// `/readyz` answers 503, reads go on, the server exits with an error, and a restart on the same
/// data directory takes writes again.
#[tokio::test]
async fn a_failed_sync_or_a_dead_writer_stops_writes_until_a_restart() {
    for (step, fault) in [(Step::Sync, Fault::Io), (Step::Statement, Fault::Panic)] {
        let fixture = Fixture::new(Backend::Sqlite);
        let server = TestServer::start_config(fixture.config(AuthChoice::Local)).await;
        let token = server.token(TENANT_A, READ_WRITE);
        server.create(&token, json!({"id": "kept"})).await;
        faults(&server).arm(step, fault, 0, 1);
        for id in ["a", "b"] {
            let response =
                server.request(Method::POST, COLLECTION, &token).json(&json!({"id": id})).send().await.unwrap();
            assert_eq!(response.headers()["retry-after"], "30", "{step:?} {fault:?}");
            expect_error(response, 503, "serviceNotAvailable").await;
        }
        let ready = server.client.get(server.url("/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 503, "{step:?} {fault:?}: /readyz");
        assert_eq!(version(&server, &token, "kept").await, Some(1), "reads go on");
        assert!(server.stop_with_result().await.is_err(), "{step:?} {fault:?}: the server exits with an error");

        let server = TestServer::start_config(fixture.config(AuthChoice::Local)).await;
        server.create(&token, json!({"id": "b"})).await;
        assert_eq!(version(&server, &token, "kept").await, Some(1));
        server.stop().await;
    }
}

#[tokio::test]
async fn a_second_server_on_a_data_directory_is_refused() {
    let fixture = Fixture::new(Backend::Sqlite);
    let server = TestServer::start_config(fixture.config(AuthChoice::Local)).await;
    let dir = fixture.temp.path().display().to_string();

    let error = graphsec::app::Server::bind(&fixture.config(AuthChoice::Local)).await.err().expect("refused");
    let message = format!("{error:#}");
    assert!(message.contains(&dir) && message.contains(&std::process::id().to_string()), "{message}");

    let mut second = std::process::Command::new(env!("CARGO_BIN_EXE_graphsec"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", &dir])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            second.kill().unwrap();
            panic!("a second server on {dir} kept running");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(!status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains(&dir) && stderr.contains("pid"), "{stderr}");

    // The other commands work beside the running server.
    let audit = std::process::Command::new(env!("CARGO_BIN_EXE_graphsec"))
        .args(["audit", "--data-dir", &dir])
        .output()
        .unwrap();
    assert!(audit.status.success(), "{}", String::from_utf8_lossy(&audit.stderr));
    server.stop().await;
}

/// A write still queued when its request times out is dropped: the client is told to retry, and
/// nothing of it is written. A write already being committed holds its request until its outcome
/// is known, and that outcome is what the client is told.
#[tokio::test]
async fn a_write_whose_request_timed_out_is_not_committed_afterwards() {
    let fixture = Fixture::new(Backend::Sqlite);
    let mut config = fixture.config(AuthChoice::Local);
    config.request_timeout = 1;
    let server = TestServer::start_config(config).await;
    let token = server.token(TENANT_A, READ_WRITE);
    faults(&server).arm(Step::Begin, Fault::Stall(std::time::Duration::from_millis(2500)), 0, 1);
    let post = |id: &'static str| server.request(Method::POST, COLLECTION, &token).json(&json!({"id": id})).send();
    let taken_up = tokio::spawn(post("taken-up"));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let queued = post("queued").await.unwrap();

    let body = expect_error(queued, 503, "serviceNotAvailable").await;
    assert_eq!(body["error"]["innerError"]["code"], "requestTimeout");
    assert_eq!(taken_up.await.unwrap().unwrap().status(), 201, "answered with what was committed, after its timeout");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_creates_as_told(&server, &token, &[("taken-up".into(), 201), ("queued".into(), 503)]).await;

    // A $batch item has the batch's deadline and a gate of its own.
    faults(&server).arm(Step::Begin, Fault::Stall(std::time::Duration::from_millis(2500)), 0, 1);
    let blocker = tokio::spawn(post("blocker"));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let batch = json!({"requests": [{"id": "1", "method": "POST", "url": "/security/userSecurityProfiles",
        "headers": {"Content-Type": "application/json"}, "body": {"id": "batched"}}]});
    let answer: serde_json::Value =
        server.request(Method::POST, "/beta/$batch", &token).json(&batch).send().await.unwrap().json().await.unwrap();
    assert_eq!(answer["responses"][0]["status"], 503, "{answer}");
    assert_eq!(blocker.await.unwrap().unwrap().status(), 201);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_creates_as_told(&server, &token, &[("blocker".into(), 201), ("batched".into(), 503)]).await;
    server.stop().await;
}
