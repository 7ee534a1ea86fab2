//! The operator commands: `import`, `audit`, `token`, `migrate`, `cert` (and, in `export.rs`,
//! `generate`, `export` and `backup`).

use crate::support::*;
use graphsec::config::AuthChoice;
use reqwest::Method;
use serde_json::{Value, json};
use std::process::Command;

fn graphsec(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_graphsec")).args(args).output().expect("run graphsec")
}

#[tokio::test]
async fn import_loads_ndjson_with_post_validation_and_skips_existing_ids() {
    let fixture = Fixture::new(Backend::Sqlite);
    let dir = fixture.temp.path().display().to_string();
    let file = fixture.temp.path().join("profiles.jsonl");
    std::fs::write(
        &file,
        [
            json!({"id": "a", "tags": ["HVA"], "createdDateTime": "2020-01-01T01:00:00+01:00"}).to_string(),
            String::new(),
            json!({"id": "b", "azureTenantId": TENANT_B}).to_string(),
            json!({"id": "a"}).to_string(),
        ]
        .join("\n"),
    )
    .unwrap();
    assert!(graphsec(&["migrate", "--data-dir", &dir]).status.success(), "migrate creates the database");
    let output = graphsec(&["import", "--data-dir", &dir, "--tenant", TENANT_A, file.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("2 profiles imported, 1 skipped (id already present)"), "{stdout}");

    let server = TestServer::start_config(fixture.config(AuthChoice::Local)).await;
    let a: Value = server.get_json(&item("a"), &server.token(TENANT_A, READ)).await;
    assert_eq!(a["createdDateTime"], "2020-01-01T00:00:00.0000000Z");
    assert_eq!(a["tags"], json!(["HVA"]));
    let filtered: Value =
        server.get_json(&format!("{COLLECTION}?$filter=tags/any(t:t eq 'HVA')"), &server.token(TENANT_A, READ)).await;
    assert_eq!(filtered["value"][0]["id"], "a", "imported tags are indexed for lambdas");
    let b = server.request(Method::GET, &item("b"), &server.token(TENANT_B, READ)).send().await.unwrap();
    assert_eq!(b.status(), 200);

    std::fs::write(&file, "{\"id\": \"c\"}\n{\"displayName\": 5}\n{\"id\": \"d\"}\n").unwrap();
    let output = graphsec(&["import", "--data-dir", &dir, file.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("graphsec: line 2: "), "the bad line is named: {stderr}");
    assert!(stderr.contains("the lines before it are imported (1 profile imported, 0 skipped"), "{stderr}");
    std::fs::write(&file, "{\"id\": \"e\"}\nnot json\n").unwrap();
    let output = graphsec(&["import", "--data-dir", &dir, file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("graphsec: line 2: not valid JSON"), "{stderr}");
    assert!(!stderr.contains("Content-Type"), "a file has lines, not headers: {stderr}");
    let c = server
        .request(Method::GET, &item("c"), &server.token(graphsec::config::DEFAULT_TENANT, READ))
        .send()
        .await
        .unwrap();
    assert_eq!(c.status(), 200, "the lines before the bad one are kept, in its batch too");
    let d = server
        .request(Method::GET, &item("d"), &server.token(graphsec::config::DEFAULT_TENANT, READ))
        .send()
        .await
        .unwrap();
    assert_eq!(d.status(), 404, "nothing after the bad line is imported");
}

#[tokio::test]
async fn audit_lists_every_write_with_its_caller_and_request_id() {
    let fixture = Fixture::new(Backend::Sqlite);
    let server = TestServer::start_config(fixture.config(AuthChoice::Local)).await;
    let token = server.token(TENANT_A, READ_WRITE);
    let created = server
        .request(Method::POST, COLLECTION, &token)
        .json(&json!({"id": "x", "displayName": "d"}))
        .send()
        .await
        .unwrap();
    let create_request_id = created.headers()["request-id"].to_str().unwrap().to_string();
    server
        .request(Method::PATCH, &item("x"), &token)
        .json(&json!({"riskScore": "9", "tags": ["t"]}))
        .send()
        .await
        .unwrap();
    // Refused and failed writes leave no trace.
    server
        .request(Method::PATCH, &item("x"), &token)
        .header("If-Match", "W/\"9\"")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    server.request(Method::PATCH, &item("missing"), &token).json(&json!({})).send().await.unwrap();
    server.request(Method::DELETE, &item("x"), &token).send().await.unwrap();
    server.create(&server.token(TENANT_B, READ_WRITE), json!({"id": "other"})).await;
    server.stop().await;

    let dir = fixture.temp.path().display().to_string();
    let output = graphsec(&["audit", "--data-dir", &dir, "--tenant", TENANT_A]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let entries: Vec<Value> =
        String::from_utf8_lossy(&output.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let operations: Vec<&str> = entries.iter().map(|e| e["operation"].as_str().unwrap()).collect();
    assert_eq!(operations, ["create", "update", "delete"]);
    assert_eq!(entries[0]["requestId"], create_request_id.as_str());
    assert_eq!(entries[0]["caller"], "test");
    assert!(entries[0]["changed"].as_array().unwrap().contains(&json!("displayName")));
    assert_eq!(entries[1]["changed"], json!(["riskScore", "tags"]));
    assert!(entries.iter().all(|e| e["tenant"] == TENANT_A && e["profileId"] == "x"));

    let output = graphsec(&["audit", "--data-dir", &dir, "--operation", "create", "--limit", "10"]);
    let creates = String::from_utf8_lossy(&output.stdout).lines().count();
    assert_eq!(creates, 2, "both tenants' creates without --tenant");
}

#[tokio::test]
async fn audit_prune_deletes_the_entries_before_a_time() {
    let fixture = Fixture::new(Backend::Sqlite);
    let server = TestServer::start_config(fixture.config(AuthChoice::Local)).await;
    let token = server.token(TENANT_A, READ_WRITE);
    server.create(&token, json!({"id": "old"})).await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let between = graphsec::domain::datetime::now();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    server.create(&token, json!({"id": "new"})).await;
    server.stop().await;

    let dir = fixture.temp.path().display().to_string();
    let output = graphsec(&["audit", "prune", "--data-dir", &dir, "--before", &between]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("deleted 1 audit entries"));
    let output = graphsec(&["audit", "--data-dir", &dir]);
    let left: Vec<Value> =
        String::from_utf8_lossy(&output.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["profileId"], "new");

    let output = graphsec(&["audit", "prune", "--data-dir", &dir, "--before", "yesterday"]);
    assert!(!output.status.success(), "a time that is not one is refused");
}

#[test]
fn token_cert_and_help_tell_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    // The key a server made in its data directory.
    graphsec::auth::local::LocalKey::load_or_create(dir.path()).unwrap();
    let output = graphsec(&["token", "--data-dir", &d, "--tenant", "t1", "--app", "--ttl", "5m"]);
    assert!(output.status.success());
    let token = String::from_utf8(output.stdout).unwrap();
    assert_eq!(token.trim().split('.').count(), 3);
    let output = graphsec(&["token", "--data-dir", &d, "--tenant", "t1", "--ttl", "soon"]);
    assert!(!output.status.success());
    let output = graphsec(&["cert", "--out", &format!("{d}/tls")]);
    assert!(output.status.success());
    assert!(dir.path().join("tls/cert.pem").exists() && dir.path().join("tls/key.pem").exists());
    let help = String::from_utf8(graphsec(&["serve", "--help"]).stdout).unwrap();
    for flag in [
        "--listen",
        "--data-dir",
        "--auth",
        "--database-url",
        "--tls-cert",
        "--rate-limit",
        "--metrics-listen",
        "--log-format",
    ] {
        assert!(help.contains(flag), "serve --help lacks {flag}");
    }
    for command in ["serve", "import", "audit", "migrate", "token", "export", "backup", "generate"] {
        let help = String::from_utf8(graphsec(&[command, "--help"]).stdout).unwrap();
        assert!(!help.contains("[`"), "{command} --help shows a code reference:\n{help}");
        if command != "serve" {
            for flag in ["--durability", "--query-timeout", "--database-pool-size", "--database-timeout"] {
                assert!(!help.contains(flag), "{command} --help lists {flag}, which does nothing there");
            }
        }
    }
    // Migrating SQLite is a no-op that succeeds; migrating again too.
    for _ in 0..2 {
        assert!(graphsec(&["migrate", "--data-dir", &d]).status.success());
    }
}

/// Only `serve` makes a data directory: the other commands refuse one that is not there (or not
/// one), say which, and what to do, and create nothing.
#[test]
fn commands_refuse_a_data_directory_serve_did_not_make() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let backup = dir.path().join("backup");
    for data_dir in [&missing, &empty, &file] {
        let d = data_dir.display().to_string();
        for args in [
            vec!["token", "--data-dir", &d, "--tenant", "t1"],
            vec!["audit", "--data-dir", &d],
            vec!["audit", "prune", "--data-dir", &d, "--before", "2026-01-01T00:00:00Z"],
            vec!["import", "--data-dir", &d, file.to_str().unwrap()],
            vec!["export", "--data-dir", &d],
            vec!["backup", "--data-dir", &d, "--to", backup.to_str().unwrap()],
        ] {
            let output = graphsec(&args);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(!output.status.success(), "{args:?} succeeded");
            assert!(stderr.contains(&d), "{args:?}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "one message: {stderr}");
            if data_dir != &file {
                assert!(stderr.contains(&format!("graphsec serve --data-dir {d}")), "{args:?}: {stderr}");
            }
        }
    }
    assert!(!missing.exists(), "nothing was created");
    assert!(!backup.exists(), "nothing was created");
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0, "nothing was created");
}

/// A busy port or an address without a host is refused before the data directory is touched.
#[test]
fn serve_checks_its_address_before_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let d = data_dir.display().to_string();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().to_string();
    for (listen, says) in [(busy.as_str(), "--listen HOST:PORT"), ("9000", "--listen 127.0.0.1:9000")] {
        let output = graphsec(&["serve", "--data-dir", &d, "--listen", listen]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        assert!(stderr.contains(says), "{stderr}");
        assert!(!data_dir.exists(), "the data directory was created before the address was checked");
    }
}
