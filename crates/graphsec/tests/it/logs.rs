//! The log as an operator reads it: `graphsec serve` with its default level, stderr to a file.
//! Every answered request has one line with its request-id, tenant, method, path, status and
//! duration; a request the server failed has its line at `warn` or `error`, saying why.

use crate::support::*;
use serde_json::{Value, json};
use std::io::BufRead;
use std::process::{Command, Stdio};

/// A server on `--in-memory` with the default log level, its stderr going to `log`; the ready
/// line's URL and token.
fn start(log: &std::fs::File, args: &[&str]) -> (Running, String, String) {
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_graphsec"))
            .args(["serve", "--in-memory", "--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("GRAPHSEC_LOG_LEVEL")
            .stdout(Stdio::piped())
            .stderr(log.try_clone().unwrap())
            .spawn()
            .expect("start graphsec"),
    );
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a ready line ({e}): {line:?}"));
    (child, ready["url"].as_str().unwrap().to_string(), ready["token"].as_str().unwrap_or_default().to_string())
}

/// Stops the server as an operator does (SIGTERM), so that it writes out the lines it holds.
fn stop(mut server: Running) {
    let terminated = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(terminated.success());
    assert!(server.wait().unwrap().success(), "graphsec exits cleanly on SIGTERM");
}

/// The request lines of a JSON log, by request-id.
fn request_lines(log: &std::path::Path) -> std::collections::HashMap<String, Value> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["fields"]["message"] == "handled")
        .map(|line| (line["fields"]["request_id"].as_str().unwrap().to_string(), line))
        .collect()
}

fn request_id(response: &reqwest::Response) -> String {
    response.headers()["request-id"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn every_answered_request_has_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("stderr.log");
    let (server, url, token) = start(&std::fs::File::create(&log_path).unwrap(), &["--log-format", "json"]);
    let client = reqwest::Client::new();
    let collection = format!("{url}/security/userSecurityProfiles");
    let mut expected = Vec::new();
    let created = client.post(&collection).bearer_auth(&token).json(&json!({"id": "a"})).send().await.unwrap();
    expected.push((request_id(&created), "POST", "/beta/security/userSecurityProfiles", 201, true));
    let read = client.get(format!("{collection}/a")).bearer_auth(&token).send().await.unwrap();
    expected.push((request_id(&read), "GET", "/beta/security/userSecurityProfiles/a", 200, true));
    let missing = client.get(format!("{collection}/nobody")).bearer_auth(&token).send().await.unwrap();
    expected.push((request_id(&missing), "GET", "/beta/security/userSecurityProfiles/nobody", 404, true));
    let bad = client.get(format!("{collection}?$filter=id eq")).bearer_auth(&token).send().await.unwrap();
    expected.push((request_id(&bad), "GET", "/beta/security/userSecurityProfiles", 400, true));
    let anonymous = client.get(&collection).send().await.unwrap();
    expected.push((request_id(&anonymous), "GET", "/beta/security/userSecurityProfiles", 401, false));
    let statuses: Vec<u16> =
        [&created, &read, &missing, &bad, &anonymous].iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses, [201, 200, 404, 400, 401]);
    stop(server);

    let lines = request_lines(&log_path);
    for (id, method, path, status, authenticated) in expected {
        let line = lines.get(&id).unwrap_or_else(|| panic!("no line for request {id} ({method} {path})"));
        let fields = &line["fields"];
        assert_eq!(line["level"], "INFO", "{line}");
        assert!(line["timestamp"].is_string(), "{line}");
        assert_eq!((fields["method"].as_str(), fields["path"].as_str()), (Some(method), Some(path)), "{line}");
        assert_eq!(fields["status"], status, "{line}");
        assert!(fields["micros"].is_u64(), "{line}");
        assert!(fields.get("error").is_none(), "{line}");
        match authenticated {
            true => assert_eq!(fields["tenant"], "00000000-0000-0000-0000-000000000001", "{line}"),
            false => assert!(fields.get("tenant").is_none(), "no caller, no tenant: {line}"),
        }
    }
}

#[tokio::test]
async fn a_request_the_server_failed_is_logged_as_a_failure_with_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let (server, url, token) = start(&log, &["--auth", "off", "--chaos-rate", "1"]);
    let client = reqwest::Client::new();
    let mut answered = Vec::new();
    // Chaos answers 429, 500, 503 or 504 at random: enough requests see a 500 and another 5xx.
    for _ in 0..40 {
        let response =
            client.get(format!("{url}/security/userSecurityProfiles")).bearer_auth(&token).send().await.unwrap();
        answered.push((request_id(&response), response.status().as_u16()));
    }
    stop(server);

    let text = std::fs::read_to_string(&log_path).unwrap();
    let line_of = |id: &str| text.lines().find(|l| l.contains(&format!("request_id={id}"))).map(str::to_string);
    let mut levels_seen = std::collections::BTreeSet::new();
    for (id, status) in answered {
        let line = line_of(&id).unwrap_or_else(|| panic!("no line for request {id}:\n{text}"));
        assert!(line.contains(&format!("status={status}")), "{line}");
        let level = match status {
            500 => "ERROR",
            503 | 504 => "WARN",
            _ => "INFO",
        };
        assert!(line.contains(level), "a {status} is logged at {level}: {line}");
        assert!(line.contains("chaos: a failure injected on purpose"), "{line}");
        levels_seen.insert(level);
    }
    assert!(levels_seen.contains("ERROR") && levels_seen.contains("WARN"), "{levels_seen:?}");
}
