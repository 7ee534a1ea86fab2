//! `graphsec serve --in-memory` and `--seed-file`, as a test suite starts them (docs/emulator.md):
//! the ready line on standard output, nothing on disk, seeds loaded before ready; and the README's
//! fixtures are the files the compatibility suite runs.

use crate::support::*;
use serde_json::{Value, json};
use std::io::BufRead;
use std::process::{Command, Stdio};

/// Starts `graphsec serve --in-memory --listen 127.0.0.1:0` in `cwd` and reads its ready line.
fn start_in_memory(cwd: &std::path::Path, args: &[&str]) -> (Running, Value, std::time::Duration) {
    let started = std::time::Instant::now();
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_graphsec"))
            .args(["serve", "--in-memory", "--listen", "127.0.0.1:0", "--log-level", "warn"])
            .args(args)
            .current_dir(cwd)
            .env_remove("GRAPHSEC_DATA_DIR")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start graphsec"),
    );
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let elapsed = started.elapsed();
    (child, serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a ready line ({e}): {line:?}")), elapsed)
}

#[tokio::test]
async fn an_in_memory_server_announces_itself_and_writes_nothing_to_disk() {
    let cwd = tempfile::tempdir().unwrap();
    let (_server, ready, elapsed) = start_in_memory(cwd.path(), &[]);
    eprintln!("--in-memory ready line after {elapsed:?} (process start included)");
    let url = ready["url"].as_str().unwrap();
    assert!(url.starts_with("http://127.0.0.1:") && url.ends_with("/beta"), "{ready}");
    assert_eq!(ready["tenant"], "00000000-0000-0000-0000-000000000001");
    let token = ready["token"].as_str().unwrap();
    let client = reqwest::Client::new();
    let collection = format!("{url}/security/userSecurityProfiles");
    let created = client.post(&collection).bearer_auth(token).json(&json!({"id": "m"})).send().await.unwrap();
    assert_eq!(created.status(), 201);
    let origin = url.trim_end_matches("/beta");
    let journal: Value = client
        .get(format!("{origin}/_graphsec/requests"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(journal["value"][0]["status"], 201, "the announced token is an admin token");
    let listed: Value = client.get(&collection).bearer_auth(token).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["value"][0]["id"], "m");
    assert_eq!(std::fs::read_dir(cwd.path()).unwrap().count(), 0, "no data directory, no key file");
}

#[tokio::test]
async fn with_auth_off_the_ready_line_has_no_token() {
    let cwd = tempfile::tempdir().unwrap();
    let (_server, ready, _) = start_in_memory(cwd.path(), &["--auth", "off"]);
    assert_eq!(ready["token"], Value::Null);
    let url = ready["url"].as_str().unwrap();
    let reset = reqwest::Client::new().post(url.replace("/beta", "/_graphsec/reset")).send().await.unwrap();
    assert_eq!(reset.status(), 200);
}

#[tokio::test]
async fn seed_files_are_loaded_before_ready_and_known_ids_are_skipped() {
    let cwd = tempfile::tempdir().unwrap();
    let first = cwd.path().join("first.ndjson");
    let second = cwd.path().join("second.ndjson");
    std::fs::write(&first, format!("{}\n{}\n", json!({"id": "a", "displayName": "first"}), json!({"id": "b"})))
        .unwrap();
    std::fs::write(
        &second,
        format!("{}\n{}\n", json!({"id": "a", "displayName": "second"}), json!({"id": "c", "azureTenantId": TENANT_B})),
    )
    .unwrap();
    let (first, second) = (first.display().to_string(), second.display().to_string());
    let (_server, ready, _) = start_in_memory(cwd.path(), &["--seed-file", &first, "--seed-file", &second]);
    let client = reqwest::Client::new();
    let url = format!("{}/security/userSecurityProfiles", ready["url"].as_str().unwrap());
    let token = ready["token"].as_str().unwrap();
    let listed: Value = client.get(&url).bearer_auth(token).send().await.unwrap().json().await.unwrap();
    let names: Vec<(&str, &str)> = listed["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["displayName"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(names, [("a", "first"), ("b", "")], "the first line with an id wins; c is tenant B's");
}

#[test]
fn an_invalid_seed_file_stops_the_server_from_starting() {
    let cwd = tempfile::tempdir().unwrap();
    let seed = cwd.path().join("seed.ndjson");
    std::fs::write(&seed, "{\"id\": \"ok\"}\n{\"id\": 7}\n").unwrap();
    let missing = cwd.path().join("missing.ndjson");
    for (file, says) in [(&seed, "line 2"), (&missing, "cannot open --seed-file")] {
        let output = Command::new(env!("CARGO_BIN_EXE_graphsec"))
            .args(["serve", "--in-memory", "--listen", "127.0.0.1:0", "--seed-file"])
            .arg(file)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{stderr}");
        assert!(output.stdout.is_empty(), "never announced ready");
    }
}

#[test]
fn in_memory_conflicts_with_a_database_url() {
    let output = Command::new(env!("CARGO_BIN_EXE_graphsec"))
        .args(["serve", "--in-memory", "--database-url", "postgres://localhost/x"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot be used with"));
}

/// The README shows the fixtures the compatibility suite runs, byte for byte.
#[test]
fn the_readme_fixtures_are_the_tested_files() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for (file, fence) in [("compat/test_emulator_fixture.py", "```python\n"), ("compat/js/fixture.test.js", "```js\n")]
    {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        assert!(readme.contains(&format!("{fence}{text}```\n")), "README.md must show {file} as it is");
    }
}
