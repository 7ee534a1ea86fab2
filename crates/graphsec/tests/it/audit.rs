//! The audit trail records what a write changed, stays small whatever a request sends, and
//! forgets entries past the retention.

use crate::support::*;
use graphsec::config::AuthChoice;
use graphsec::store::{AuditQuery, AuditRecord, StoreError};
use reqwest::Method;
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};

backend_tests!(
    a_patch_that_changes_nothing_keeps_its_version_and_writes_no_audit,
    audit_entries_list_the_members_that_changed_and_stay_small,
    entries_past_the_retention_are_pruned,
    an_entry_carries_the_timestamp_of_the_write_it_records,
);

// Corrupts the row through the database file.
disk_backend_tests!(a_corrupt_audit_row_is_an_error);

async fn entries(server: &TestServer, id: &str) -> Vec<AuditRecord> {
    let query = AuditQuery { profile_id: Some(id.into()), limit: 1000, ..AuditQuery::default() };
    server.store.audit(query).await.unwrap()
}

async fn patch(server: &TestServer, token: &str, id: &str, body: Value) -> Value {
    let response = server.request(Method::PATCH, &item(id), token).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn a_patch_that_changes_nothing_keeps_its_version_and_writes_no_audit(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.token(TENANT_A, READ_WRITE);
    let created = server.create(&token, json!({"id": "a", "displayName": "Alex", "tags": ["HVA"], "note": "x"})).await;

    for unchanged in [
        json!({"displayName": "Alex"}),
        json!({"tags": ["HVA"], "absentProperty": null}),
        json!({"note": "x", "id": "a", "lastModifiedDateTime": "2020-01-01T00:00:00Z"}),
        json!({}),
    ] {
        let answer = patch(&server, &token, "a", unchanged.clone()).await;
        assert_eq!(answer["@odata.etag"], created["@odata.etag"], "{unchanged}");
        assert_eq!(answer["lastModifiedDateTime"], created["lastModifiedDateTime"], "{unchanged}");
    }
    assert_eq!(entries(&server, "a").await.len(), 1, "only the create is audited");

    let answer = patch(&server, &token, "a", json!({"displayName": "Alex W", "tags": ["HVA"]})).await;
    assert_eq!(answer["@odata.etag"], "W/\"2\"");
    let audited = entries(&server, "a").await;
    assert_eq!(audited.len(), 2);
    assert_eq!(audited[1].changed, ["displayName"], "only what changed, not what was sent");
    server.stop().await;
}

async fn audit_entries_list_the_members_that_changed_and_stay_small(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.token(TENANT_A, READ_WRITE);
    server.create(&token, json!({"id": "a", "gone": 1})).await;
    patch(&server, &token, "a", json!({"gone": null, "riskScore": "7"})).await;
    // 7,000 new dynamic properties with long names: the entry lists as many as fit in 64 KiB.
    let many: Map<String, Value> = (0..7_000).map(|i| (format!("p{i:05}{}", "x".repeat(120)), json!(1))).collect();
    patch(&server, &token, "a", Value::Object(many)).await;

    let audited = entries(&server, "a").await;
    assert_eq!(audited[1].changed, ["riskScore", "gone"], "changed members, then removed ones");
    let big = &audited[2].changed;
    let bytes: usize = big.iter().map(|name| name.len() + 3).sum();
    assert!(bytes <= 64 * 1024 + 100, "{bytes} bytes of member names");
    let note = big.last().unwrap();
    assert!(note.starts_with("... and ") && note.contains("more members"), "{note}");
    let listed = big.len() - 1;
    assert!(note.contains(&format!("and {} more", 7_000 - listed)), "{note}");
    server.stop().await;
}

async fn entries_past_the_retention_are_pruned(backend: Backend) {
    let fixture = Fixture::new(backend);
    let mut config = fixture.config(AuthChoice::Local);
    config.audit_retention = 2;
    let server = TestServer::start_config(config).await;
    let token = server.token(TENANT_A, READ_WRITE);
    server.create(&token, json!({"id": "a"})).await;
    for i in 0..20 {
        patch(&server, &token, "a", json!({"n": i})).await;
    }
    assert_eq!(entries(&server, "a").await.len(), 21);

    let deadline = Instant::now() + Duration::from_secs(10);
    while !entries(&server, "a").await.is_empty() {
        assert!(Instant::now() < deadline, "entries older than the retention were kept");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    patch(&server, &token, "a", json!({"n": "last"})).await;
    assert_eq!(entries(&server, "a").await.len(), 1, "a new entry is kept");
    server.stop().await;
}

/// An audit row whose list of changed members is not JSON is reported, not read as empty: the
/// same on both engines.
async fn a_corrupt_audit_row_is_an_error(backend: Backend) {
    let fixture = Fixture::new(backend);
    let server = TestServer::start_config(fixture.config(AuthChoice::Local)).await;
    let token = server.token(TENANT_A, READ_WRITE);
    server.create(&token, json!({"id": "a"})).await;
    let corrupt = "UPDATE audit_log SET changed = 'not json' WHERE profile_id = 'a'";
    match fixture.schema() {
        None => {
            let conn = rusqlite::Connection::open(fixture.temp.path().join("graphsec.sqlite3")).unwrap();
            assert_eq!(conn.execute(corrupt, []).unwrap(), 1);
        }
        Some(schema) => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&postgres_url().unwrap()).await.unwrap();
            let sql = format!("SET search_path = \"{schema}\"; {corrupt}");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
        }
    }
    let query = AuditQuery { profile_id: Some("a".into()), limit: 10, ..AuditQuery::default() };
    let answer = server.store.audit(query).await;
    assert!(matches!(answer, Err(StoreError::Corrupt(_))), "{answer:?}");
    server.stop().await;
}

/// A write reads the clock once: its audit entry is stamped with the time the profile records.
async fn an_entry_carries_the_timestamp_of_the_write_it_records(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.token(TENANT_A, READ_WRITE);
    let created = server.create(&token, json!({"id": "a"})).await;
    let patched = patch(&server, &token, "a", json!({"riskScore": "3"})).await;
    let audited = entries(&server, "a").await;
    assert_eq!(audited[0].at, created["lastModifiedDateTime"].as_str().unwrap());
    assert_eq!(audited[1].at, patched["lastModifiedDateTime"].as_str().unwrap());
    server.stop().await;
}
