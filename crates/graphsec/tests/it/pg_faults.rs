//! PostgreSQL trouble, injected for real, gets the status a Graph client's retry logic expects:
//! a lost connection is retried once on another one, whatever the database or the network did is
//! a 503 with `Retry-After` (never a 500, never a 400), and only a list or count query that used
//! up `--query-timeout` itself is the client's `queryTooExpensive`.

use crate::pg_proxy::{Cut, Proxy};
use crate::support::*;
use graphsec::config::{AuthChoice, ServeConfig};
use graphsec::store::AuditQuery;
use reqwest::{Method, Response};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use std::time::{Duration, Instant};

/// The fixture of a PostgreSQL-only test (these tests are ignored without `GRAPHSEC_TEST_POSTGRES`).
fn pg_fixture() -> Fixture {
    Fixture::new(Backend::Postgres)
}

fn schema(fixture: &Fixture) -> String {
    fixture.schema().expect("a PostgreSQL fixture").to_string()
}

/// The server's database URL: its sessions are named after the fixture's schema, so a test finds
/// its own backends (never another test's); `via` sends them through a proxy's port instead.
fn database_url(fixture: &Fixture, via: Option<u16>) -> String {
    let mut url = reqwest::Url::parse(&postgres_url().unwrap()).unwrap();
    url.query_pairs_mut().append_pair("application_name", &schema(fixture));
    if via.is_some() {
        url.set_port(via).unwrap();
    }
    url.to_string()
}

/// The real database's address, for the proxy.
fn upstream() -> String {
    let url = reqwest::Url::parse(&postgres_url().unwrap()).unwrap();
    format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))
}

/// A server whose pool waits 2 s for a connection, and so (below half the query timeout) 2 s
/// for a lock.
async fn start(fixture: &Fixture, via: Option<u16>, tweak: impl FnOnce(&mut ServeConfig)) -> TestServer {
    let mut config = fixture.config(AuthChoice::Local);
    config.storage.database_url = Some(database_url(fixture, via));
    config.storage.database_timeout = 2;
    tweak(&mut config);
    TestServer::start_config(config).await
}

async fn admin() -> PgConnection {
    PgConnection::connect(&postgres_url().unwrap()).await.expect("admin connection")
}

/// Ends every session of this test's server, as `pg_terminate_backend` does to a failing-over or
/// restarted database; returns how many there were.
async fn terminate(admin: &mut PgConnection, app: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(app)
    .fetch_one(admin)
    .await
    .unwrap()
}

const RUNNING: &str = "FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND query LIKE $2";

/// Waits until `n` statements of this test's server that match `query_like` are running.
async fn wait_running(admin: &mut PgConnection, app: &str, query_like: &str, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) {RUNNING}")))
            .bind(app)
            .bind(query_like)
            .fetch_one(&mut *admin)
            .await
            .unwrap();
        if count >= n {
            return;
        }
        assert!(Instant::now() < deadline, "the statements never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends `request` while cancelling (`pg_cancel_backend`) this test's server's running statements
/// that match `query_like` every 50 ms: a cancel that reaches a session between two protocol
/// messages is ignored by PostgreSQL, so one is not enough.
async fn send_cancelling(request: TestRequest, admin: &mut PgConnection, app: &str, query_like: &str) -> Response {
    let send = request.send();
    tokio::pin!(send);
    loop {
        tokio::select! {
            response = &mut send => return response.unwrap(),
            () = tokio::time::sleep(Duration::from_millis(50)) => {
                sqlx::query(sqlx::AssertSqlSafe(format!("SELECT pg_cancel_backend(pid) {RUNNING}")))
                    .bind(app)
                    .bind(query_like)
                    .execute(&mut *admin)
                    .await
                    .unwrap();
            }
        }
    }
}

/// A 503 that a client's retry logic acts on: Graph's `serviceNotAvailable` with `Retry-After`.
async fn expect_unavailable(response: Response, what: &str) {
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    assert_eq!(status, 503, "{what}: {body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "serviceNotAvailable", "{what}: {body}");
    assert!(retry_after.is_some_and(|s| s.parse::<u64>().is_ok()), "{what}: 503 without Retry-After");
}

async fn expect_status(request: TestRequest, status: u16, what: &str) -> Response {
    let response = request.send().await.unwrap();
    if response.status().as_u16() != status {
        panic!("{what}: expected {status}, got {} {}", response.status(), response.text().await.unwrap());
    }
    response
}

fn etag(response: &Response) -> String {
    response.headers()["etag"].to_str().unwrap().to_string()
}

fn patch(server: &TestServer, token: &str, id: &str, name: &str) -> TestRequest {
    server.request(Method::PATCH, &item(id), token).json(&json!({"displayName": name}))
}

fn post(server: &TestServer, token: &str, id: &str) -> TestRequest {
    server.request(Method::POST, COLLECTION, token).json(&json!({"id": id}))
}

fn filtered(server: &TestServer, token: &str) -> TestRequest {
    server.request(Method::GET, &format!("{COLLECTION}?$filter=startswith(id,'p')"), token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(graphsec_test_postgres), ignore = "needs GRAPHSEC_TEST_POSTGRES")]
async fn terminated_backends_are_retried_on_a_fresh_connection() {
    let fixture = pg_fixture();
    let (server, app) = (start(&fixture, None, |_| {}).await, schema(&fixture));
    let token = server.token(TENANT_A, READ_WRITE);
    server.create(&token, json!({"id": "p1"})).await;
    let mut killer = admin().await;
    for round in 0..4 {
        let requests = [
            server.request(Method::GET, &item("p1"), &token),
            post(&server, &token, &format!("n{round}")),
            patch(&server, &token, "p1", &format!("round {round}")),
            filtered(&server, &token),
            server.request(Method::GET, &format!("{COLLECTION}/$count"), &token),
            server.unauthenticated(Method::GET, "/readyz"),
        ];
        for (i, request) in requests.into_iter().enumerate() {
            assert!(terminate(&mut killer, &app).await > 0, "no session of the server to terminate");
            let response = request.send().await.unwrap();
            let status = response.status();
            assert!(status.is_success(), "round {round}, request {i}: {status} {}", response.text().await.unwrap());
        }
    }
    let response = expect_status(server.request(Method::GET, &item("p1"), &token), 200, "GET").await;
    assert_eq!(etag(&response), "W/\"5\"", "each PATCH applied exactly once");

    // Sessions ended in the middle of a statement (held up by a table lock, so that the kill
    // lands there), with the lock gone by the time the store tries again.
    let mut locker = admin().await;
    sqlx::query("BEGIN").execute(&mut locker).await.unwrap();
    let lock = format!("LOCK TABLE \"{app}\".profiles IN ACCESS EXCLUSIVE MODE");
    sqlx::query(sqlx::AssertSqlSafe(lock)).execute(&mut locker).await.unwrap();
    let kill_then_unlock = async {
        wait_running(&mut killer, &app, "%profiles%", 3).await;
        assert!(terminate(&mut killer, &app).await >= 3);
        sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    };
    let (get, posted, patched, ()) = tokio::join!(
        server.request(Method::GET, &item("p1"), &token).send(),
        post(&server, &token, "in-flight").send(),
        patch(&server, &token, "p1", "in flight").send(),
        kill_then_unlock,
    );
    for (what, response, status) in [("GET", get, 200), ("POST", posted, 201), ("PATCH", patched, 200)] {
        let response = response.unwrap();
        assert_eq!(response.status(), status, "{what} killed mid-statement: {}", response.text().await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(graphsec_test_postgres), ignore = "needs GRAPHSEC_TEST_POSTGRES")]
async fn terminating_backends_every_200ms_answers_only_2xx_or_503_with_retry_after() {
    let fixture = pg_fixture();
    let (server, app) = (start(&fixture, None, |_| {}).await, schema(&fixture));
    let token = server.token(TENANT_A, READ_WRITE);
    server.create(&token, json!({"id": "p1"})).await;
    let deadline = Instant::now() + Duration::from_secs(3);
    let terminator = tokio::spawn(async move {
        let mut admin = admin().await;
        let mut terminated = 0;
        while Instant::now() < deadline {
            terminated += terminate(&mut admin, &app).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        terminated
    });
    let mut clients = Vec::new();
    for c in 0..4 {
        let (client, base, token) = (server.client.clone(), server.base.clone(), token.clone());
        clients.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for i in 0usize.. {
                if Instant::now() >= deadline {
                    break;
                }
                let request = match i % 3 {
                    0 => client.get(format!("{base}{}", item("p1"))),
                    1 => client.post(format!("{base}{COLLECTION}")).json(&json!({"id": format!("c{c}-{i}")})),
                    _ => client.patch(format!("{base}{}", item("p1"))).json(&json!({"displayName": format!("{c}")})),
                };
                let response = request.bearer_auth(&token).send().await.unwrap();
                let retry_after = response.headers().contains_key("retry-after");
                answers.push((i % 3, response.status().as_u16(), retry_after, response.text().await.unwrap()));
            }
            answers
        }));
    }
    let mut succeeded = 0;
    for client in clients {
        for (kind, status, retry_after, body) in client.await.unwrap() {
            let fine = (200..300).contains(&status) || (status == 503 && retry_after);
            assert!(fine, "request kind {kind} answered {status} (Retry-After: {retry_after}): {body}");
            succeeded += usize::from(status < 300);
        }
    }
    assert!(terminator.await.unwrap() > 10, "too few sessions were terminated to prove anything");
    assert!(succeeded > 20, "only {succeeded} requests succeeded");
    expect_status(server.unauthenticated(Method::GET, "/readyz"), 200, "readyz after the storm").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(graphsec_test_postgres), ignore = "needs GRAPHSEC_TEST_POSTGRES")]
async fn a_held_table_lock_answers_503_promptly_and_readiness_follows() {
    let fixture = pg_fixture();
    let (server, schema) = (start(&fixture, None, |_| {}).await, schema(&fixture));
    let token = server.token(TENANT_A, READ_WRITE);
    server.create(&token, json!({"id": "p1"})).await;
    let mut locker = admin().await;
    sqlx::query("BEGIN").execute(&mut locker).await.unwrap();
    let lock = format!("LOCK TABLE \"{schema}\".profiles IN ACCESS EXCLUSIVE MODE");
    sqlx::query(sqlx::AssertSqlSafe(lock)).execute(&mut locker).await.unwrap();

    let started = Instant::now();
    let (get, patched, posted, listed, ready) = tokio::join!(
        server.request(Method::GET, &item("p1"), &token).send(),
        patch(&server, &token, "p1", "locked").send(),
        post(&server, &token, "p2").send(),
        filtered(&server, &token).send(),
        server.unauthenticated(Method::GET, "/readyz").send(),
    );
    // The lock waits 2 s (lock_timeout), not the 12 s the lock is held for nor the request timeout.
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    expect_unavailable(get.unwrap(), "GET by id").await;
    expect_unavailable(patched.unwrap(), "PATCH").await;
    expect_unavailable(posted.unwrap(), "POST").await;
    expect_unavailable(listed.unwrap(), "filtered list").await;
    expect_error(ready.unwrap(), 503, "serviceNotAvailable").await;

    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    expect_status(server.request(Method::GET, &item("p1"), &token), 200, "GET after the lock").await;
    expect_status(patch(&server, &token, "p1", "free"), 200, "PATCH after the lock").await;
    expect_status(post(&server, &token, "p2"), 201, "POST after the lock").await;
    expect_status(filtered(&server, &token), 200, "list after the lock").await;
    expect_status(server.unauthenticated(Method::GET, "/readyz"), 200, "readyz after the lock").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(graphsec_test_postgres), ignore = "needs GRAPHSEC_TEST_POSTGRES")]
async fn cancelled_statements_answer_503_not_query_too_expensive() {
    let fixture = pg_fixture();
    // A 5 s lock timeout, so that an answer within 4 s can only be the cancel's doing.
    let server = start(&fixture, None, |config| config.storage.database_timeout = 5).await;
    let schema = schema(&fixture);
    let token = server.token(TENANT_A, READ_WRITE);
    server.create(&token, json!({"id": "p1"})).await;
    let mut locker = admin().await;
    sqlx::query("BEGIN").execute(&mut locker).await.unwrap();
    let lock = format!("LOCK TABLE \"{schema}\".profiles IN ACCESS EXCLUSIVE MODE");
    sqlx::query(sqlx::AssertSqlSafe(lock)).execute(&mut locker).await.unwrap();

    // Both statements queue behind the lock and are cancelled from outside before their lock
    // timeout: a failure the client did not cause.
    let started = Instant::now();
    let (mut canceller, mut other_canceller) = (admin().await, admin().await);
    let (get, listed) = tokio::join!(
        send_cancelling(server.request(Method::GET, &item("p1"), &token), &mut canceller, &schema, "%profiles%"),
        send_cancelling(filtered(&server, &token), &mut other_canceller, &schema, "%profiles%"),
    );
    assert!(started.elapsed() < Duration::from_secs(4), "the cancel did not end them: {:?}", started.elapsed());
    expect_unavailable(get, "cancelled GET by id").await;
    expect_unavailable(listed, "cancelled list").await;
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    expect_status(filtered(&server, &token), 200, "list after the lock").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(graphsec_test_postgres), ignore = "needs GRAPHSEC_TEST_POSTGRES")]
async fn only_a_scan_that_used_up_query_timeout_is_query_too_expensive() {
    let fixture = pg_fixture();
    let (schema, app) = (schema(&fixture), schema(&fixture));
    let server = start(&fixture, None, |config| config.storage.query_timeout = 1).await;
    let token = server.token(TENANT_A, READ_WRITE);
    server.create(&token, json!({"id": "p1"})).await;
    // 5,000 rows with 2,000-character names: 200 `contains` terms take seconds to scan them.
    let bulk = format!(
        "INSERT INTO \"{schema}\".profiles (tenant, id, version, display_name, doc, wire) \
         SELECT $1, 'bulk' || g, 1, repeat('abcdefghij', 200), jsonb_build_object('id', 'bulk' || g), \
         jsonb_build_object('id', 'bulk' || g)::text FROM generate_series(1, 5000) g"
    );
    sqlx::query(sqlx::AssertSqlSafe(bulk)).bind(TENANT_A).execute(&mut admin().await).await.unwrap();
    let terms: Vec<String> = (0..200).map(|i| format!("contains(displayName,'zz{i}')")).collect();
    let filter = terms.join(" or ").replace(' ', "%20");
    let costly = [format!("{COLLECTION}?$filter={filter}"), format!("{COLLECTION}/$count?$filter={filter}")];
    for path in &costly {
        let started = Instant::now();
        let response = server.request(Method::GET, path, &token).send().await.unwrap();
        let body = expect_error(response, 400, "BadRequest").await;
        assert_eq!(body["error"]["innerError"]["code"], "queryTooExpensive");
        assert!(started.elapsed() < Duration::from_secs(4), "stopped after {:?}", started.elapsed());
    }
    // The same scan cancelled from outside before its time is up is not the client's fault.
    let mut canceller = admin().await;
    for path in &costly {
        let request = server.request(Method::GET, path, &token);
        expect_unavailable(send_cancelling(request, &mut canceller, &app, "%strpos%").await, "cancelled scan").await;
    }
    expect_status(server.request(Method::GET, &item("p1"), &token), 200, "point read").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(graphsec_test_postgres), ignore = "needs GRAPHSEC_TEST_POSTGRES")]
async fn losing_the_database_answers_503_until_it_is_back() {
    let fixture = pg_fixture();
    let mut proxy = Proxy::start(upstream()).await;
    let server = start(&fixture, Some(proxy.port), |_| {}).await;
    let token = server.token(TENANT_A, READ_WRITE);
    server.create(&token, json!({"id": "p1"})).await;

    proxy.stop().await;
    let started = Instant::now();
    let (get, patched, posted, listed, ready) = tokio::join!(
        server.request(Method::GET, &item("p1"), &token).send(),
        patch(&server, &token, "p1", "offline").send(),
        post(&server, &token, "p2").send(),
        filtered(&server, &token).send(),
        server.unauthenticated(Method::GET, "/readyz").send(),
    );
    // At most the retry's wait for a connection (2 s) after the first try's.
    assert!(started.elapsed() < Duration::from_secs(8), "took {:?}", started.elapsed());
    expect_unavailable(get.unwrap(), "GET by id").await;
    expect_unavailable(patched.unwrap(), "PATCH").await;
    expect_unavailable(posted.unwrap(), "POST").await;
    expect_unavailable(listed.unwrap(), "filtered list").await;
    expect_error(ready.unwrap(), 503, "serviceNotAvailable").await;

    proxy.listen().await;
    expect_status(server.request(Method::GET, &item("p1"), &token), 200, "GET once back").await;
    expect_status(patch(&server, &token, "p1", "online"), 200, "PATCH once back").await;
    expect_status(post(&server, &token, "p2"), 201, "POST once back").await;
    expect_status(filtered(&server, &token), 200, "list once back").await;
    expect_status(server.unauthenticated(Method::GET, "/readyz"), 200, "readyz once back").await;
}

async fn audit_rows(server: &TestServer, id: &str, operation: &str) -> usize {
    let query =
        AuditQuery { profile_id: Some(id.into()), operation: Some(operation.into()), limit: 100, ..Default::default() };
    server.store.audit(query).await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(graphsec_test_postgres), ignore = "needs GRAPHSEC_TEST_POSTGRES")]
async fn a_write_cut_off_before_commit_is_retried_and_one_cut_off_at_commit_is_not_replayed() {
    let fixture = pg_fixture();
    let proxy = Proxy::start(upstream()).await;
    let server = start(&fixture, Some(proxy.port), |_| {}).await;
    let token = server.token(TENANT_A, READ_WRITE);
    server.create(&token, json!({"id": "p1"})).await;

    // The write's statement never reaches the database: nothing committed, so the server runs it
    // again on another connection and the client never notices.
    proxy.arm(Cut::Before("before"));
    expect_status(post(&server, &token, "before"), 201, "POST cut before it was stored").await;
    assert!(proxy.fired());
    proxy.arm(Cut::Before("before"));
    let response = expect_status(patch(&server, &token, "p1", "before"), 200, "PATCH cut before it was stored").await;
    assert!(proxy.fired());
    assert_eq!(etag(&response), "W/\"2\"");
    assert_eq!(audit_rows(&server, "before", "create").await, 1);

    // The statement reached the database, which stored it, and the answer was lost: the server
    // finds its audit row and answers with what it stored, and never applies it twice (a
    // replayed PATCH would be version 4, a replayed POST a second audit row or a 409).
    proxy.arm(Cut::After("at commit"));
    let response = expect_status(patch(&server, &token, "p1", "at commit"), 200, "PATCH cut once stored").await;
    assert!(proxy.fired());
    assert_eq!(etag(&response), "W/\"3\"");
    proxy.arm(Cut::After("at-commit"));
    let response = expect_status(post(&server, &token, "at-commit"), 201, "POST cut once stored").await;
    assert!(proxy.fired());
    assert_eq!(etag(&response), "W/\"1\"");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let response = expect_status(server.request(Method::GET, &item("p1"), &token), 200, "GET").await;
    assert_eq!(etag(&response), "W/\"3\"", "the PATCH cut once stored was applied again");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["displayName"], "at commit");
    assert_eq!(audit_rows(&server, "p1", "update").await, 2);
    assert_eq!(audit_rows(&server, "at-commit", "create").await, 1);
}

/// A write that reached the database, whose answer was lost with the database host: the server
/// cannot tell whether it was stored, so it says so with a 503 rather than guess; the database
/// holds it exactly once, which a read shows once the host is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(graphsec_test_postgres), ignore = "needs GRAPHSEC_TEST_POSTGRES")]
async fn a_write_sent_before_the_database_went_away_answers_503_and_is_stored_once() {
    let fixture = pg_fixture();
    let proxy = Proxy::start(upstream()).await;
    let server = start(&fixture, Some(proxy.port), |_| {}).await;
    let token = server.token(TENANT_A, READ_WRITE);
    server.create(&token, json!({"id": "p1"})).await;

    proxy.arm(Cut::AfterThenGone("gone away"));
    let response = patch(&server, &token, "p1", "gone away").send().await.unwrap();
    assert!(proxy.fired());
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").is_some();
    let body: Value = response.json().await.unwrap();
    assert_eq!((status, retry_after), (503, true), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("may or may not"), "{body}");

    proxy.back();
    let response = expect_status(server.request(Method::GET, &item("p1"), &token), 200, "GET once back").await;
    assert_eq!(etag(&response), "W/\"2\"", "stored once");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["displayName"], "gone away");
    assert_eq!(audit_rows(&server, "p1", "update").await, 1);
}

/// A database server out of disk (SQLSTATE 53100) is a 507, as on SQLite: nothing was written, and
/// the same write succeeds once there is room.
#[tokio::test]
#[cfg_attr(not(graphsec_test_postgres), ignore = "needs GRAPHSEC_TEST_POSTGRES")]
async fn a_full_disk_answers_507_and_writes_nothing() {
    let fixture = pg_fixture();
    let server = start(&fixture, None, |_| {}).await;
    let token = server.token(TENANT_A, READ_WRITE);
    let schema = schema(&fixture);
    let mut admin = admin().await;
    let fill = format!(
        r#"CREATE FUNCTION "{schema}".disk_is_full() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'could not extend file' USING ERRCODE = 'disk_full'; END $$;
           CREATE TRIGGER disk_is_full BEFORE INSERT ON "{schema}".profiles
           FOR EACH ROW EXECUTE FUNCTION "{schema}".disk_is_full();"#
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(fill)).execute(&mut admin).await.unwrap();
    let response = post(&server, &token, "p").send().await.unwrap();
    let body = expect_error(response, 507, "insufficientStorage").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("nothing was written"), "{body}");
    expect_status(server.request(Method::GET, &item("p"), &token), 404, "nothing was written").await;
    assert_eq!(audit_rows(&server, "p", "create").await, 0);

    let free = format!(r#"DROP TRIGGER disk_is_full ON "{schema}".profiles"#);
    sqlx::raw_sql(sqlx::AssertSqlSafe(free)).execute(&mut admin).await.unwrap();
    expect_status(post(&server, &token, "p"), 201, "the write once there is room").await;
}
