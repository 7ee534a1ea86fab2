//! `graphsec generate`, `export` and `backup`, run as the real binary against real stores.

use crate::support::*;
use graphsec::config::AuthChoice;
use reqwest::Method;
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn graphsec(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_graphsec")).args(args).output().expect("run graphsec")
}

/// Runs graphsec with `input` on its standard input.
fn graphsec_fed(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_graphsec"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run graphsec");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// The standard output of a command that must succeed.
fn succeeds(output: Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// `command` with the fixture's data directory (and database) after it.
fn on(fixture: &Fixture, command: &[&str]) -> Vec<String> {
    command.iter().map(|a| a.to_string()).chain(fixture.serve_args()).collect()
}

fn run_on(fixture: &Fixture, command: &[&str]) -> Output {
    let args = on(fixture, command);
    graphsec(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn import(fixture: &Fixture, ndjson: &str) -> String {
    let args = on(fixture, &["import"]);
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.push("-");
    succeeds(graphsec_fed(&args, ndjson.as_bytes()))
}

/// An empty store: a data directory (or schema) with the current schema and nothing in it.
fn empty_store(backend: Backend) -> Fixture {
    let fixture = Fixture::new(backend);
    succeeds(run_on(&fixture, &["migrate"]));
    fixture
}

/// Lines in export order: by tenant, then id, byte-wise.
fn sorted_by_key(ndjson: &str) -> String {
    let mut lines: Vec<(String, String, &str)> = ndjson
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            (v["azureTenantId"].as_str().unwrap().into(), v["id"].as_str().unwrap().into(), line)
        })
        .collect();
    lines.sort();
    lines.iter().map(|(_, _, line)| format!("{line}\n")).collect()
}

// The commands run on the server's data directory or database.
disk_backend_tests!(generated_profiles_import_and_export_as_generated, export_round_trips_byte_for_byte);

async fn generated_profiles_import_and_export_as_generated(backend: Backend) {
    let generate = |extra: &[&str]| {
        let mut args = vec!["generate", "--count", "300", "--tenant", TENANT_A];
        args.extend(if extra.is_empty() { &["--seed", "7"] } else { extra });
        succeeds(graphsec(&args))
    };
    let generated = generate(&[]);
    assert_eq!(generated.lines().count(), 300);
    assert_eq!(generated, generate(&[]), "the same arguments print the same bytes");
    assert_ne!(generated, generate(&["--seed", "8"]));
    assert_ne!(generated, generate(&["--seed", "7", "--now", "2025-06-01T00:00:00Z"]));
    let first = succeeds(graphsec(&["generate", "--count", "100", "--tenant", TENANT_A, "--seed", "7"]));
    assert!(generated.starts_with(&first), "a smaller count prints the first lines");
    for line in generated.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["azureTenantId"], TENANT_A);
        assert!(v["userPrincipalName"].as_str().unwrap().ends_with("@contoso.com"));
        assert!(!v["accounts"].as_array().unwrap().is_empty());
        let created = v["createdDateTime"].as_str().unwrap();
        assert!(("2025-01-01".."2026-01-01").contains(&created), "within the year before --now: {created}");
    }

    let fixture = empty_store(backend);
    assert!(import(&fixture, &generated).starts_with("300 profiles imported"));
    let exported = succeeds(run_on(&fixture, &["export"]));
    assert_eq!(exported, sorted_by_key(&generated), "each profile is stored and exported as generated");
}

/// What a server wrote, with patched profiles, dynamic properties and two tenants, exported while
/// it runs and imported into an empty store, exports as the same bytes.
async fn export_round_trips_byte_for_byte(backend: Backend) {
    let fixture = Fixture::new(backend);
    let server = TestServer::start_config(fixture.config(AuthChoice::Local)).await;
    let a = server.token(TENANT_A, READ_WRITE);
    let b = server.token(TENANT_B, READ_WRITE);
    for id in ["zeta", "alpha", "Beta", "ümlaut/ä", "10", "9"] {
        server
            .create(&a, json!({"id": id, "displayName": format!("User {id}"), "tags": ["HVA"], "level": 3, "nested": {"z": [1.5, null], "a": "x"}}))
            .await;
    }
    server.create(&a, json!({"id": "old", "createdDateTime": "2020-02-02T02:02:02Z"})).await;
    server.create(&b, json!({"id": "alpha", "accounts": [{"status": "suspended", "service": "AWS"}]})).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let patched = server
        .request(Method::PATCH, &item("old"), &a)
        .json(&json!({"riskScore": "80", "vendorInformation": {"provider": "IPC"}, "source": "patch"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);

    let exported = succeeds(run_on(&fixture, &["export"]));
    let lines: Vec<Value> = exported.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let keys: Vec<(&str, &str)> =
        lines.iter().map(|v| (v["azureTenantId"].as_str().unwrap(), v["id"].as_str().unwrap())).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "ordered by tenant, then id, byte-wise");
    assert_eq!(keys.len(), 8);
    let old = lines.iter().find(|v| v["id"] == "old").unwrap();
    assert_eq!(old["createdDateTime"], "2020-02-02T02:02:02.0000000Z");
    assert_ne!(old["lastModifiedDateTime"], old["createdDateTime"]);
    assert_eq!(old["source"], "patch");
    let served: Value = server.get_json(&item("old"), &a).await;
    let mut served = served.as_object().unwrap().clone();
    served.retain(|name, _| !name.starts_with('@'));
    assert_eq!(serde_json::to_string(&served).unwrap(), serde_json::to_string(old).unwrap(), "as the API returns it");

    let mut stores = vec![empty_store(backend)];
    if backend == Backend::Postgres {
        stores.push(empty_store(Backend::Sqlite)); // the bytes do not depend on the engine
    }
    for copy in &stores {
        import(copy, &exported);
        assert_eq!(succeeds(run_on(copy, &["export"])), exported, "export | import | export");
    }

    let only_b = succeeds(run_on(&fixture, &["export", "--tenant", TENANT_B]));
    let expected: String = exported
        .lines()
        .filter(|l| l.contains(&format!("\"azureTenantId\":\"{TENANT_B}\"")))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(only_b, expected);
    assert_eq!(only_b.lines().count(), 1);
    assert_eq!(succeeds(run_on(&fixture, &["export", "--tenant", "nobody"])), "");
    server.stop().await;
}

disk_backend_tests!(export_reads_one_snapshot_beside_a_live_server);

/// While a server runs and an import commits batches of 100 (each in one transaction), every
/// export sees whole batches only: it reads one snapshot, over several pages on PostgreSQL.
async fn export_reads_one_snapshot_beside_a_live_server(backend: Backend) {
    let fixture = Fixture::new(backend);
    let server = TestServer::start_config(fixture.config(AuthChoice::Local)).await;
    let generated = succeeds(graphsec(&["generate", "--count", "6000", "--tenant", TENANT_A, "--seed", "1"]));
    let args = on(&fixture, &["import", "--batch", "100", "-"]);
    let mut importer = Command::new(env!("CARGO_BIN_EXE_graphsec"))
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = importer.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || stdin.write_all(generated.as_bytes()));
    let mut counts = Vec::new();
    loop {
        let done = importer.try_wait().unwrap().is_some();
        let exported = succeeds(run_on(&fixture, &["export"]));
        counts.push(exported.lines().count());
        if done {
            break;
        }
    }
    feeder.join().unwrap().unwrap();
    assert!(importer.wait().unwrap().success());
    assert!(counts.iter().all(|n| n % 100 == 0), "an export saw part of a batch: {counts:?}");
    assert_eq!(counts.last(), Some(&6000));
    let served: Value = server.get_json(&format!("{COLLECTION}/$count"), &server.token(TENANT_A, READ)).await;
    assert_eq!(served, json!(6000));
    server.stop().await;
}

#[tokio::test]
async fn backup_of_a_live_server_is_a_data_directory_serve_starts_on() {
    let fixture = Fixture::new(Backend::Sqlite);
    let server = TestServer::start_config(fixture.config(AuthChoice::Local)).await;
    let token = server.token(TENANT_A, READ_WRITE);
    for n in 0..50 {
        server.create(&token, json!({"id": format!("p{n}"), "tags": ["VIP"], "extra": n})).await;
    }
    let patched =
        server.request(Method::PATCH, &item("p7"), &token).json(&json!({"riskScore": "5"})).send().await.unwrap();
    assert_eq!(patched.headers()["etag"], "W/\"2\"");

    let copy = fixture.temp.path().join("backups/monday");
    let to = copy.display().to_string();
    let data_dir = fixture.temp.path().display().to_string();
    let said = succeeds(graphsec(&["backup", "--data-dir", &data_dir, "--to", &to]));
    assert!(said.starts_with("copied 50 profiles"), "{said}");
    assert!(said.contains(&format!("graphsec serve --data-dir {to}")), "{said}");
    let mut names: Vec<String> =
        std::fs::read_dir(&copy).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["graphsec.sqlite3", "signing-key"]);
    assert_eq!(
        succeeds(graphsec(&["export", "--data-dir", &to])),
        succeeds(graphsec(&["export", "--data-dir", &data_dir])),
    );

    // Written after the backup: not in it.
    server.create(&token, json!({"id": "later"})).await;
    let port = free_port();
    let _restored = start_binary(port, &["--data-dir", &to]);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_ready(&client, &base).await;
    // A token of the original server: the copy has its key.
    let read = mint(fixture.temp.path(), TENANT_A, READ, false);
    let answer = client.get(format!("{base}{}", item("p7"))).bearer_auth(&read).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["etag"], "W/\"2\"", "versions are kept");
    let restored: Value = answer.json().await.unwrap();
    assert_eq!(restored["riskScore"], "5");
    assert_eq!(restored["extra"], 7);
    let later = client.get(format!("{base}{}", item("later"))).bearer_auth(&read).send().await.unwrap();
    assert_eq!(later.status(), 404);

    let again = graphsec(&["backup", "--data-dir", &data_dir, "--to", &to]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not empty"), "a backup overwrites nothing");
    let postgres = graphsec(&["backup", "--database-url", "postgres://db/graphsec", "--to", &format!("{to}-pg")]);
    assert!(!postgres.status.success());
    assert!(String::from_utf8_lossy(&postgres.stderr).contains("pg_dump"));
    assert!(!std::path::Path::new(&format!("{to}-pg")).exists());
    server.stop().await;
}

#[test]
fn generate_refuses_bad_arguments() {
    for args in [
        vec!["generate"],
        vec!["generate", "--count", "many"],
        vec!["generate", "--count", "-1"],
        vec!["generate", "--count", "1", "--seed", "x"],
        vec!["generate", "--count", "1", "--now", "yesterday"],
        vec!["generate", "--count", "1", "--now", "0001-06-01T00:00:00Z"],
    ] {
        let output = graphsec(&args);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(output.stdout.is_empty(), "{args:?} printed profiles");
        assert!(!output.stderr.is_empty());
    }
    assert_eq!(succeeds(graphsec(&["generate", "--count", "0"])), "");
    // A reader that stops early is not an error.
    let mut head = Command::new(env!("CARGO_BIN_EXE_graphsec"))
        .args(["generate", "--count", "1000000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 100];
    std::io::Read::read_exact(head.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(head.stdout.take());
    let output = head.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}
